"""PyTorch side of the matmul, elementwise and ops suites: the same ops and shapes as suites.ts on
random float32 inputs, each call allocating its result (as every impl there does).

Run with Debian's /usr/bin/python3 (python3-torch). Usage: torch_ops.py [--quick] CASE...
where CASE is matmul-f32-N (N x N x N); add-f32-N, mul-f32-N, exp-f32-N, sum-f32-N (N elements);
softmax-f32-N (N rows of 1024); conv2d-f32-N (batch N of 3x32x32, 16 3x3 filters, padding 1).
Prints one JSON object: {"torch", "threads", "blas", "cases": {CASE: {"meanUs", "rme", "samples",
"otherCpu"}}}. Exits 3 when torch cannot be imported, so the caller can report a skip.
"""
import json
import math
import re
import sys

# The timing loop is shared with the train-step script (which also exits 3 without torch).
sys.dont_write_bytecode = True
from torch_train_step import loaded_blas, time_fn, torch, use_all_cores  # noqa: E402

# op: (operand shapes for size n, function)
OPS = {
    "matmul": (lambda n: [(n, n), (n, n)], torch.mm),
    "add": (lambda n: [(n,), (n,)], torch.add),
    "mul": (lambda n: [(n,), (n,)], torch.mul),
    "exp": (lambda n: [(n,)], torch.exp),
    "sum": (lambda n: [(n,)], torch.sum),
    "softmax": (lambda n: [(n, 1024)], lambda x: torch.softmax(x, -1)),
    "conv2d": (lambda n: [(n, 3, 32, 32), (16, 3, 3, 3)], lambda x, w: torch.nn.functional.conv2d(x, w, padding=1)),
}
CASE = re.compile(r"^(" + "|".join(OPS) + r")-f32-(\d+)$")


def time_case(name, seconds):
    op, n = CASE.match(name).groups()
    shapes, fn = OPS[op]
    torch.manual_seed(0)
    xs = [torch.rand(*s, dtype=torch.float32) for s in shapes(int(n))]
    # Untimed check that the op runs and gives finite values.
    if not math.isfinite(fn(*xs).sum().item()):
        raise RuntimeError(f"{name}: non-finite result")
    # One warm-up call: a reference-BLAS matmul at 1024 takes seconds.
    return time_fn(lambda: fn(*xs), seconds, warmup=1)


def main(argv):
    quick = "--quick" in argv
    names = [a for a in argv if a != "--quick"]
    unknown = [n for n in names if not CASE.match(n)]
    if not names or unknown:
        print(f"unknown or missing case(s) {unknown}; known: {', '.join(f'{op}-f32-N' for op in OPS)}", file=sys.stderr)
        return 2
    use_all_cores()
    cases = {n: time_case(n, 0.3 if quick else 2.0) for n in names}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": loaded_blas(), "cases": cases}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
