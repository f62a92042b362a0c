"""The PyTorch peer of run.ts's benchmarks on the same GPU, in the same run: prints one JSON line."""
import json, sys, time
import torch
import torch.nn as nn

def timed(fn):
    fn(); fn(); torch.cuda.synchronize()
    iters = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(iters): fn()
        torch.cuda.synchronize()
        s = time.perf_counter() - t0
        if s > 0.5 or iters >= 1 << 14: return s / iters
        iters *= 4

dev = 'cuda'
out = {'version': torch.__version__}
for dt, name in ((torch.float32, 'float32'), (torch.float16, 'float16')):
    a = torch.randn(4096, 4096, device=dev, dtype=dt); b = torch.randn(4096, 4096, device=dev, dtype=dt)
    out[f'matmul 4096 {name} TFLOP/s'] = 2 * 4096 ** 3 / timed(lambda: a @ b) / 1e12
x = torch.randn(1 << 26, device=dev); y = torch.randn(1 << 26, device=dev); z = torch.empty_like(x)
out['add 64M float32 GB/s'] = 3 * 4 * 2 ** 26 / timed(lambda: x + y) / 1e9
out['copy 64M float32 GB/s'] = 2 * 4 * 2 ** 26 / timed(lambda: z.copy_(x)) / 1e9

c = json.loads(sys.argv[1])
class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.ln1 = nn.LayerNorm(c['dim']); s.attn = nn.MultiheadAttention(c['dim'], c['heads'], batch_first=True)
        s.ln2 = nn.LayerNorm(c['dim']); s.fc = nn.Linear(c['dim'], 4 * c['dim']); s.proj = nn.Linear(4 * c['dim'], c['dim'])
    def forward(s, x, mask):
        h = s.ln1(x)
        x = x + s.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + s.proj(torch.nn.functional.gelu(s.fc(s.ln2(x))))
class Gpt(nn.Module):
    def __init__(s):
        super().__init__()
        s.tok = nn.Embedding(c['vocab'], c['dim']); s.pos = nn.Embedding(c['context'], c['dim'])
        s.blocks = nn.ModuleList([Block() for _ in range(c['layers'])]); s.lnF = nn.LayerNorm(c['dim']); s.head = nn.Linear(c['dim'], c['vocab'])
    def forward(s, ids):
        t = ids.shape[1]
        mask = torch.triu(torch.full((t, t), float('-inf'), device=ids.device), 1)
        h = s.tok(ids) + s.pos(torch.arange(t, device=ids.device))
        for b in s.blocks: h = b(h, mask)
        return s.head(s.lnF(h))
torch.manual_seed(0)
model = Gpt().to(dev); opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
ids = torch.randint(0, c['vocab'], (32, c['context']), device=dev); target = torch.randint(0, c['vocab'], (32 * c['context'],), device=dev)
def step():
    loss = nn.functional.cross_entropy(model(ids).reshape(-1, c['vocab']), target)
    opt.zero_grad(); loss.backward(); opt.step()
out['gpt step ms'] = 1000 * timed(step)
print(json.dumps(out))
