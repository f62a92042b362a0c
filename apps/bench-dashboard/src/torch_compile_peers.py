"""PyTorch side of the compile benchmark (compile-bench.ts): the same workloads as the Tessera cases,
timed with torch_train_step's timer. Cases:
  block  bias + tanh-GELU + residual + layerNorm on [16, 512, 256] float32, forward and backward
  gpt    one small-GPT training step (2 layers, 4 heads, width 64, context 64, batch 16; AdamW)
  cnn    one digits-CNN training step (torch_train_step's cnn, batch 32; AdamW)
PyTorch 1.13 (Debian's) has no torch.compile; its eager mode is the peer. Usage:
torch_compile_peers.py [--seconds S] CASE... Prints {"torch", "threads", "blas", "cases": {...}}.
Exits 3 when torch cannot be imported.
"""
import json
import math
import sys

try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError as e:
    print(f"torch not importable: {e}", file=sys.stderr)
    sys.exit(3)

from torch_train_step import cnn, loaded_blas, time_fn, use_all_cores


def block_case():
    torch.manual_seed(0)
    n, t, d = 16, 512, 256
    x = torch.randn(n, t, d, requires_grad=True)
    bias = torch.zeros(d, requires_grad=True)
    ln = nn.LayerNorm(d)
    g = torch.randn(n, t, d)

    def step():
        for p in (x, bias, ln.weight, ln.bias):
            p.grad = None
        y = ln(x + F.gelu(x + bias, approximate="tanh"))
        y.backward(g)
        return y

    return step, {"params": d * 3}


class Block(nn.Module):
    """examples/src/gpt-model.ts Block: pre-norm causal self-attention and a GELU MLP."""

    def __init__(self, dim, heads, context):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 4 * dim)
        self.proj = nn.Linear(4 * dim, dim)
        self.register_buffer("mask", torch.ones(context, context, dtype=torch.bool).triu(1))

    def forward(self, x):
        t = x.shape[1]
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, attn_mask=self.mask[:t, :t], need_weights=False)
        h = x + a
        return h + self.proj(F.gelu(self.fc(self.ln2(h))))


class Gpt(nn.Module):
    def __init__(self, vocab=65, context=64, dim=64, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(context, dim)
        self.blocks = nn.ModuleList([Block(dim, heads, context) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids):
        h = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))
        for b in self.blocks:
            h = b(h)
        return self.head(self.ln_f(h))


def gpt_case():
    torch.manual_seed(0)
    model = Gpt()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, 65, (16, 64))
    target = torch.randint(0, 65, (16 * 64,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(ids).reshape(-1, 65), target)
        loss.backward()
        opt.step()
        return loss

    return step, {"params": sum(p.numel() for p in model.parameters())}


def cnn_case():
    torch.manual_seed(0)
    model, opt, x, y = cnn()
    model.train()

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, {"params": sum(p.numel() for p in model.parameters())}


CASES = {"block": block_case, "gpt": gpt_case, "cnn": cnn_case}


def main(argv):
    seconds = 2.0
    if "--seconds" in argv:
        i = argv.index("--seconds")
        seconds = float(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    unknown = [n for n in argv if n not in CASES]
    if not argv or unknown:
        print(f"unknown or missing case(s) {unknown}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    use_all_cores()
    cases = {}
    for name in argv:
        step, info = CASES[name]()
        first = step()
        if not bool(torch.isfinite(first).all()):
            raise RuntimeError(f"{name}: non-finite result")
        cases[name] = {**time_fn(step, seconds), **info}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": loaded_blas(), "cases": cases}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
