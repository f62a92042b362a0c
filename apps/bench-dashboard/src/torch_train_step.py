"""PyTorch side of the train-step suite: the same models, batches and optimizers as the Tessera cases
in suites.ts, one step = zero_grad, forward, loss, backward, optimizer step.

Run with Debian's /usr/bin/python3 (python3-torch). Usage: torch_train_step.py [--quick | --seconds S] CASE...
Prints one JSON object: {"torch", "threads", "blas", "cases": {CASE: {"meanUs", "rme", "samples",
"params", "loss", "otherCpu"}}}. Exits 3 when torch cannot be imported, so the caller can report a skip.
"""
import json
import math
import os
import sys
import time

try:
    import torch
    from torch import nn
except ImportError as e:
    print(f"torch not importable: {e}", file=sys.stderr)
    sys.exit(3)


def mlp():
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, torch.randn(64, 784), torch.randint(0, 10, (64,))


def cnn():
    # examples/src/train-digits.ts makeModel(), layer for layer.
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    return model, opt, torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))


CASES = {"mlp-784-128-10-b64": mlp, "cnn-digits-b32": cnn}

# Two-sided 95% Student t critical values by degrees of freedom, as benchmark.js uses for its rme.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
       2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042]


def cpu_ticks():
    """(CPU ticks all processes spent busy, ticks this process spent), from /proc."""
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    with open("/proc/self/stat") as f:
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        own = f.read().rsplit(")", 1)[1].split()
    return user + nice + system + irq + softirq + steal, int(own[11]) + int(own[12])


def time_fn(step, seconds, warmup=3):
    """Mean seconds per call of `step` over about `seconds`, as {"meanUs", "rme", "samples", "otherCpu"}."""
    # Warm-up: allocator, optimizer state, BLAS thread pool. The calls after those, once caches are
    # warm, estimate the call time.
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    warm = 0
    while warm < 1 or time.perf_counter() - t0 < 0.1 * seconds:
        step()
        warm += 1
    per_step = (time.perf_counter() - t0) / warm

    # About 30 samples of k calls each, like benchmark.js's cycles, so rme comes from sample means.
    k = max(1, round(seconds / 30 / per_step))
    means = []
    busy0, own0 = cpu_ticks()
    start = time.perf_counter()
    end = start + seconds
    while len(means) < 5 or time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(k):
            step()
        means.append((time.perf_counter() - t) / k)
    busy1, own1 = cpu_ticks()
    wall = time.perf_counter() - start
    n = len(means)
    mean = sum(means) / n
    sd = math.sqrt(sum((m - mean) ** 2 for m in means) / (n - 1))
    crit = T95[n - 2] if n - 1 <= len(T95) else 1.96
    return {
        "meanUs": mean * 1e6,
        "rme": crit * sd / math.sqrt(n) / mean * 100,
        "samples": n,
        # Cores' worth of CPU other processes used meanwhile: with two torch threads on two cores,
        # a busy neighbour stalls every parallel region, so the caller flags the figure.
        "otherCpu": max(0, busy1 - busy0 - (own1 - own0)) / os.sysconf("SC_CLK_TCK") / wall,
    }


def time_case(build, seconds):
    torch.manual_seed(0)
    model, opt, x, y = build()
    model.train()
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    # The untimed first step catches a broken model before timing.
    first = step().item()
    if not math.isfinite(first):
        raise RuntimeError(f"non-finite loss {first}")
    stats = time_fn(step, seconds)
    return {**stats, "params": sum(p.numel() for p in model.parameters()), "loss": step().item()}


def use_all_cores():
    """torch's intra-op threads: one per core this process may run on (its best configuration)."""
    torch.set_num_threads(len(os.sched_getaffinity(0)))


def loaded_blas():
    """The BLAS and LAPACK libraries this process actually mapped, so the caller can check the BLAS it asked for."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if any(k in line for k in ("/libblas.so", "/liblapack.so", "/libopenblas"))}
    return sorted(paths)


def main(argv):
    quick = "--quick" in argv
    seconds = 0.3 if quick else 2.0
    if "--seconds" in argv:
        i = argv.index("--seconds")
        seconds = float(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    names = [a for a in argv if a != "--quick"]
    unknown = [n for n in names if n not in CASES]
    if not names or unknown:
        print(f"unknown or missing case(s) {unknown}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    use_all_cores()
    cases = {n: time_case(CASES[n], seconds) for n in names}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": loaded_blas(), "cases": cases}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
