"""The torch side of the nanoGPT port's equivalence test (examples/test/ports.test.ts).

A GPT with nanoGPT's model.py structure and parameter names, written for torch 1.13 (Debian's
python3-torch): its slow attention path (no F.scaled_dot_product_attention there), the port's
weights read from a safetensors file (parsed here: the format is a JSON header and raw bytes), and
train.py's inner loop: AdamW with decay/no-decay groups, warmup + cosine learning rate, gradient
accumulation and clipping. Prints the loss of every step as JSON.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from safetensors_reader import read_safetensors  # noqa: E402


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
        self.n_head, self.n_embd = c["n_head"], c["n_embd"]
        self.register_buffer("mask", torch.tril(torch.ones(c["block_size"], c["block_size"])).view(1, 1, c["block_size"], c["block_size"]), persistent=False)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = LayerNorm(c["n_embd"], c["bias"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = LayerNorm(c["n_embd"], c["bias"])
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"]), c_proj=nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab_size"], c["n_embd"]), wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]), ln_f=LayerNorm(c["n_embd"], c["bias"])))
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx, targets=None):
        t = idx.size(1)
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(0, t, dtype=torch.long))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature, top_k):
        # model.py's sampling loop: crop to the block, last position's logits over the temperature,
        # everything below the k-th largest to -inf, a draw from the softmax.
        for _ in range(max_new_tokens):
            logits = self(idx[:, -self.transformer.wpe.num_embeddings:])[:, -1, :] / temperature
            v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
            logits[logits < v[:, [-1]]] = -float("inf")
            idx = torch.cat((idx, torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)), dim=1)
        return idx


cfg = json.load(open(sys.argv[1]))
torch.manual_seed(0)
model = GPT(cfg["model"])
weights = read_safetensors(cfg["weights"])
missing, unexpected = model.load_state_dict(weights, strict=False)
assert not unexpected and not [k for k in missing if not k.endswith("mask")], (missing, unexpected)
params = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW([
    {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg["weight_decay"]},
    {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
], lr=cfg["learning_rate"], betas=tuple(cfg["betas"]))


def get_lr(it):
    if it < cfg["warmup_iters"]:
        return cfg["learning_rate"] * (it + 1) / (cfg["warmup_iters"] + 1)
    if it > cfg["lr_decay_iters"]:
        return cfg["min_lr"]
    ratio = (it - cfg["warmup_iters"]) / (cfg["lr_decay_iters"] - cfg["warmup_iters"])
    return cfg["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg["learning_rate"] - cfg["min_lr"])


data = torch.tensor(cfg["data"], dtype=torch.long)
# Top-1 sampling from the initial weights (varied logits, unlike a barely trained model's).
greedy = model.generate(torch.tensor([cfg["prompt"]], dtype=torch.long), cfg["new_tokens"], 0.8, 1)
bs, accum = cfg["model"]["block_size"], cfg["gradient_accumulation_steps"]
losses = []
for it, micro_offsets in enumerate(cfg["offsets"]):
    for group in optimizer.param_groups:
        group["lr"] = get_lr(it)
    total = 0.0
    for offsets in micro_offsets:
        X = torch.stack([data[i:i + bs] for i in offsets])
        Y = torch.stack([data[i + 1:i + 1 + bs] for i in offsets])
        loss = model(X, Y) / accum
        loss.backward()
        total += loss.item()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    losses.append(total)
print(json.dumps({"losses": losses, "greedy": greedy[0].tolist()}))
