"""Writes golden test vectors from real PyTorch (Debian's python3-torch, run as /usr/bin/python3).

    /usr/bin/python3 conformance/golden/generate.py > conformance/golden/cases.json

Every case is computed by torch: forward values, gradients of sum(out * v), result dtypes under type
promotion, and which calls torch rejects. Cases torch itself cannot run (e.g. a dtype it has no CPU
kernel for) are left out, not invented. Deterministic: a fixed seed, so a rerun reproduces the file.
"""
import json
import math
import os
import sys

# Matmul and convolution results depend on the BLAS torch loads, and installing OpenBLAS (the
# benchmarks do) makes it the system's default libblas.so.3 and liblapack.so.3: pin Debian's reference
# BLAS and LAPACK, re-executing with them first on the library path (the loader reads LD_LIBRARY_PATH
# only at start), so the file does not depend on what else is installed.
REFERENCE = ["/usr/lib/x86_64-linux-gnu/blas", "/usr/lib/x86_64-linux-gnu/lapack"]
current = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
if all(os.path.isdir(d) for d in REFERENCE) and current[:2] != REFERENCE:
    path = ":".join(REFERENCE + current)
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "LD_LIBRARY_PATH": path})

import torch
import torch.nn.functional as F

torch.manual_seed(20261123)
gen = torch.Generator().manual_seed(20261123)
DT = {"float32": torch.float32, "float64": torch.float64, "int32": torch.int32, "int64": torch.int64,
      "uint8": torch.uint8, "bool": torch.bool, "float16": torch.float16}
NAME = {v: k for k, v in DT.items()}
SPECIALS = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e-40]


def enc(x):
    if isinstance(x, bool):
        return x
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x == 0 and math.copysign(1, x) < 0:
            return "-0"
    return x


def pack(t):
    t = t.detach()
    vals = t.reshape(-1).tolist()
    return {"dtype": NAME[t.dtype], "shape": list(t.shape), "data": [enc(float(v)) if t.dtype.is_floating_point else (bool(v) if t.dtype == torch.bool else int(v)) for v in vals]}


def rand(shape, dtype, lo=-3.0, hi=3.0, specials=False):
    if dtype == "bool":
        return torch.rand(shape, generator=gen) > 0.5
    if dtype in ("int32", "int64", "uint8"):
        lo_i = 0 if dtype == "uint8" else int(math.ceil(lo))
        return torch.randint(lo_i, int(math.floor(hi)) + 1, shape, generator=gen).to(DT[dtype])
    x = torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo
    if specials and x.numel() >= 4:
        flat = x.reshape(-1)
        idx = torch.randperm(flat.numel(), generator=gen)[: max(1, flat.numel() // 4)]
        for k, i in enumerate(idx.tolist()):
            flat[i] = SPECIALS[k % len(SPECIALS)]
    return x.to(DT[dtype])


cases = []


def add(kind, op, **kw):
    cases.append({"kind": kind, "op": op, **kw})


UNARY = {
    "neg": (torch.neg, (-3, 3)), "abs": (torch.abs, (-3, 3)), "exp": (torch.exp, (-10, 10)), "log": (torch.log, (0.01, 10)),
    "log1p": (torch.log1p, (-0.9, 10)), "expm1": (torch.expm1, (-5, 5)), "sqrt": (torch.sqrt, (0, 10)), "rsqrt": (torch.rsqrt, (0.01, 10)),
    "sin": (torch.sin, (-10, 10)), "cos": (torch.cos, (-10, 10)), "tanh": (torch.tanh, (-5, 5)), "sigmoid": (torch.sigmoid, (-20, 20)),
    "relu": (torch.relu, (-3, 3)), "gelu": (F.gelu, (-5, 5)), "geluTanh": (lambda x: F.gelu(x, approximate="tanh"), (-5, 5)),
    "silu": (F.silu, (-10, 10)), "erf": (torch.erf, (-3, 3)), "floor": (torch.floor, (-5, 5)), "ceil": (torch.ceil, (-5, 5)),
    "round": (torch.round, (-5, 5)), "trunc": (torch.trunc, (-5, 5)), "sign": (torch.sign, (-3, 3)), "reciprocal": (torch.reciprocal, (0.1, 5)),
    "square": (torch.square, (-5, 5)), "isnan": (torch.isnan, (-3, 3)), "logicalNot": (torch.logical_not, (-2, 2)),
}
BINARY = {
    "add": (lambda a, b: torch.add(a, b, alpha=2), {"alpha": 2}, (-3, 3), (-3, 3)),
    "sub": (torch.sub, {}, (-3, 3), (-3, 3)), "mul": (torch.mul, {}, (-3, 3), (-3, 3)),
    "div": (torch.div, {}, (-3, 3), (0.5, 3)), "pow": (torch.pow, {}, (0.1, 3), (0, 3)),
    "maximum": (torch.maximum, {}, (-3, 3), (-3, 3)), "minimum": (torch.minimum, {}, (-3, 3), (-3, 3)),
    "atan2": (torch.atan2, {}, (-3, 3), (-3, 3)), "remainder": (torch.remainder, {}, (-20, 20), (1, 5)), "fmod": (torch.fmod, {}, (-20, 20), (1, 5)),
    "lt": (torch.lt, {}, (-2, 2), (-2, 2)), "le": (torch.le, {}, (-2, 2), (-2, 2)), "gt": (torch.gt, {}, (-2, 2), (-2, 2)),
    "ge": (torch.ge, {}, (-2, 2), (-2, 2)), "eq": (torch.eq, {}, (-2, 2), (-2, 2)), "ne": (torch.ne, {}, (-2, 2), (-2, 2)),
    "logicalAnd": (torch.logical_and, {}, (-1, 1), (-1, 1)), "logicalOr": (torch.logical_or, {}, (-1, 1), (-1, 1)), "logicalXor": (torch.logical_xor, {}, (-1, 1), (-1, 1)),
}
SHAPES = [([5], [5]), ([2, 3], [3]), ([3, 1, 2], [4, 1]), ([], [2, 2])]


def run(fn, *args):
    try:
        return fn(*args)
    except (RuntimeError, TypeError):
        return None


# ---------------------------------------------------------------- elementwise forward
for op, (fn, (lo, hi)) in UNARY.items():
    for dt in ["float32", "float64", "int32"]:
        for shape in ([7], [2, 3, 2]):
            x = rand(shape, dt, lo, hi, specials=dt != "int32" and op not in ("log", "sqrt", "rsqrt", "log1p"))
            y = run(fn, x)
            if y is not None:
                add("forward", op, inputs=[pack(x)], out=pack(y))
for op, (fn, params, ra, rb) in BINARY.items():
    for dt in ["float32", "float64", "int32"]:
        for sa, sb in SHAPES:
            a, b = rand(sa, dt, *ra, specials=dt != "int32"), rand(sb, dt, *rb)
            if dt == "int32" and op in ("pow",):
                b = b.abs()
            y = run(fn, a, b)
            if y is not None:
                add("forward", op, inputs=[pack(a), pack(b)], params=params, out=pack(y))
for dt in ["float32", "int64"]:
    c, a, b = rand([3, 4], "bool"), rand([3, 4], dt), rand([4], dt)
    add("forward", "where", inputs=[pack(c), pack(a), pack(b)], out=pack(torch.where(c, a, b)))

# ---------------------------------------------------------------- reductions
RED = {
    "sum": lambda x, d, k: torch.sum(x, d, keepdim=k) if d is not None else torch.sum(x),
    "mean": lambda x, d, k: torch.mean(x, d, keepdim=k) if d is not None else torch.mean(x),
    "prod": lambda x, d, k: torch.prod(x, d[0], keepdim=k) if d is not None else torch.prod(x),
    "amax": lambda x, d, k: torch.amax(x, d if d is not None else list(range(x.dim())), keepdim=k),
    "amin": lambda x, d, k: torch.amin(x, d if d is not None else list(range(x.dim())), keepdim=k),
    "argmax": lambda x, d, k: torch.argmax(x, d[0], keepdim=k) if d is not None else torch.argmax(x),
    "argmin": lambda x, d, k: torch.argmin(x, d[0], keepdim=k) if d is not None else torch.argmin(x),
    "var": lambda x, d, k: torch.var(x, d, unbiased=True, keepdim=k) if d is not None else torch.var(x),
    "std": lambda x, d, k: torch.std(x, d, unbiased=False, keepdim=k) if d is not None else torch.std(x, unbiased=False),
    "logsumexp": lambda x, d, k: torch.logsumexp(x, d if d is not None else list(range(x.dim())), keepdim=k),
    "norm": lambda x, d, k: torch.linalg.vector_norm(x, 2, d, keepdim=k),
    "cumsum": lambda x, d, k: torch.cumsum(x, d[0] if d is not None else 0),
}
RED_PARAMS = {"var": {"correction": 1}, "std": {"correction": 0}, "norm": {"p": 2}}
for op, fn in RED.items():
    for dt in ["float32", "float64", "int32"]:
        for shape, dims, keep in [([2, 3, 4], [1], False), ([2, 3, 4], [0, 2], True), ([5, 3], None, False), ([3, 4], [-1], True), ([4], [0], False)]:
            if op in ("prod", "argmax", "argmin", "cumsum") and dims is not None and len(dims) > 1:
                dims = dims[:1]
            x = rand(shape, dt, -2, 2)
            y = run(fn, x, dims, keep)
            if y is not None:
                add("reduce", op, inputs=[pack(x)], dims=dims, keepdim=keep, params=RED_PARAMS.get(op, {}), out=pack(y))

# ---------------------------------------------------------------- routines
for sa, sb in [([3, 4], [4, 5]), ([4], [4, 2]), ([3, 4], [4]), ([4], [4]), ([2, 3, 4], [4, 2]), ([2, 1, 3, 4], [5, 4, 2])]:
    for dt in ["float32", "float64"]:
        a, b = rand(sa, dt), rand(sb, dt)
        add("routine", "matmul", inputs=[pack(a), pack(b)], out=pack(torch.matmul(a, b)))
for shape, dim in [([3, 5], 1), ([2, 3, 4], 0), ([2, 3, 4], -1), ([6], 0)]:
    x = rand(shape, "float32", -20, 20)
    add("routine", "softmax", inputs=[pack(x)], dim=dim, out=pack(torch.softmax(x, dim)))
    add("routine", "logSoftmax", inputs=[pack(x)], dim=dim, out=pack(torch.log_softmax(x, dim)))
for shape, norm in [([4, 6], [6]), ([2, 3, 4], [3, 4])]:
    x, w, b = rand(shape, "float32"), rand(norm, "float32"), rand(norm, "float32")
    add("routine", "layerNorm", inputs=[pack(x), pack(w), pack(b)], normalizedShape=norm, out=pack(F.layer_norm(x, norm, w, b)))
    add("routine", "layerNorm", inputs=[pack(x)], normalizedShape=norm, out=pack(F.layer_norm(x, norm)))
for dim in [0, 1]:
    x = rand([4, 5], "float32")
    idx = torch.randint(0, x.shape[dim], [3, 5] if dim == 0 else [4, 2], generator=gen)
    add("routine", "gather", inputs=[pack(x), pack(idx)], dim=dim, out=pack(torch.gather(x, dim, idx)))
    src = rand(list(idx.shape), "float32")
    add("routine", "scatterAdd", inputs=[pack(x), pack(idx), pack(src)], dim=dim, out=pack(torch.scatter_add(x, dim, idx, src)))
    sel = torch.randint(0, x.shape[dim], [6], generator=gen)
    add("routine", "indexSelect", inputs=[pack(x), pack(sel)], dim=dim, out=pack(torch.index_select(x, dim, sel)))
w = rand([7, 3], "float32")
ids = torch.randint(0, 7, [2, 4], generator=gen)
add("routine", "embedding", inputs=[pack(ids), pack(w)], out=pack(F.embedding(ids, w)))
for n, c, h, wd, o, k, stride, pad, dil, groups, bias in [
    (2, 3, 6, 5, 4, 3, 1, 1, 1, 1, True), (1, 4, 7, 7, 6, 3, 2, 0, 1, 2, False), (2, 2, 8, 8, 2, 2, 2, 1, 2, 1, True), (1, 1, 5, 5, 3, 5, 1, 2, 1, 1, True)]:
    x, wt = rand([n, c, h, wd], "float32"), rand([o, c // groups, k, k], "float32")
    bb = rand([o], "float32") if bias else None
    opts = {"stride": stride, "padding": pad, "dilation": dil, "groups": groups}
    add("routine", "conv2d", inputs=[pack(x), pack(wt)] + ([pack(bb)] if bias else []), options=opts,
        out=pack(F.conv2d(x, wt, bb, stride, pad, dil, groups)))
for k, s, p, ceil, incl in [(2, 2, 0, False, True), (3, 2, 1, True, True), (3, 1, 1, False, False), (2, 3, 1, True, False)]:
    x = rand([2, 3, 7, 6], "float32")
    opt = {"kernelSize": k, "stride": s, "padding": p, "ceilMode": ceil}
    add("routine", "maxPool2d", inputs=[pack(x)], options=opt, out=pack(F.max_pool2d(x, k, s, p, ceil_mode=ceil)))
    add("routine", "avgPool2d", inputs=[pack(x)], options={**opt, "countIncludePad": incl}, out=pack(F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=incl)))

# ---------------------------------------------------------------- gradients: d/dinputs of sum(out * v)
def grad_case(op, fn, inputs, **extra):
    ins = [t.detach().clone().requires_grad_(t.dtype.is_floating_point) for t in inputs]
    out = fn(*ins)
    v = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    (out * v).sum().backward()
    add("grad", op, inputs=[pack(t) for t in inputs], gradOutput=pack(v), grads=[pack(t.grad) if t.grad is not None else None for t in ins], **extra)


for op, (fn, (lo, hi)) in UNARY.items():
    if op in ("isnan", "logicalNot"):
        continue
    grad_case(op, fn, [rand([2, 3], "float64", lo, hi)])
for op, (fn, params, ra, rb) in BINARY.items():
    if op in ("lt", "le", "gt", "ge", "eq", "ne", "logicalAnd", "logicalOr", "logicalXor"):
        continue
    grad_case(op, fn, [rand([2, 3], "float64", *ra), rand([3], "float64", *rb)], params=params)
for op in ["sum", "mean", "prod", "amax", "logsumexp", "var", "std", "norm", "cumsum"]:
    grad_case(op, lambda x, op=op: RED[op](x, [1], False), [rand([3, 4], "float64", 0.5, 2)], dims=[1], keepdim=False, params=RED_PARAMS.get(op, {}))
grad_case("matmul", torch.matmul, [rand([3, 4], "float64"), rand([2, 4, 5], "float64")])
grad_case("softmax", lambda x: torch.softmax(x, 1), [rand([3, 4], "float64")], dim=1)
grad_case("logSoftmax", lambda x: torch.log_softmax(x, 0), [rand([3, 4], "float64")], dim=0)
grad_case("layerNorm", lambda x, w, b: F.layer_norm(x, [4], w, b), [rand([3, 4], "float64"), rand([4], "float64"), rand([4], "float64")], normalizedShape=[4])
grad_case("conv2d", lambda x, w, b: F.conv2d(x, w, b, 2, 1, 1, 1), [rand([1, 2, 5, 5], "float64"), rand([3, 2, 3, 3], "float64"), rand([3], "float64")],
          options={"stride": 2, "padding": 1, "dilation": 1, "groups": 1})
grad_case("maxPool2d", lambda x: F.max_pool2d(x, 2, 1, 1), [rand([1, 2, 4, 4], "float64")], options={"kernelSize": 2, "stride": 1, "padding": 1, "ceilMode": False})
grad_case("avgPool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), [rand([1, 1, 5, 5], "float64")], options={"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True, "countIncludePad": True})
gi = torch.tensor([[0, 2], [1, 1], [2, 0]])
grad_case("gather", lambda x: torch.gather(x, 1, gi), [rand([3, 3], "float64")], dim=1, index=pack(gi))

# ---------------------------------------------------------------- type promotion
ORDER = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]
for op, fn in [("add", torch.add), ("div", torch.div), ("lt", torch.lt), ("maximum", torch.maximum)]:
    for da in ORDER:
        for db in ORDER:
            for zero in (False, True):
                a = torch.ones([2], dtype=DT[da])
                b = torch.ones([] if zero else [2], dtype=DT[db])
                y = run(fn, a, b)
                if y is not None:
                    add("promotion", op, a={"dtype": da, "ndim": 1}, b={"dtype": db, "ndim": 0 if zero else 1}, dtype=NAME[y.dtype])
        for scalar in (2, 2.5, True):
            y = run(fn, torch.ones([2], dtype=DT[da]), scalar)
            if y is not None:
                add("promotion", op, a={"dtype": da, "ndim": 1}, b={"scalar": scalar}, dtype=NAME[y.dtype])

# ---------------------------------------------------------------- errors torch rejects; the expected Tessera error class
def error_case(op, error, fn, desc):
    try:
        fn()
    except Exception:  # noqa: BLE001 - any torch error confirms the call is invalid
        add("error", op, error=error, call=desc)
        return
    raise SystemExit(f"torch accepted an error case: {op} {desc}")


error_case("add", "ShapeError", lambda: torch.ones(2, 3) + torch.ones(4), {"shapes": [[2, 3], [4]]})
error_case("mul", "ShapeError", lambda: torch.ones(3, 1, 2) * torch.ones(4, 3), {"shapes": [[3, 1, 2], [4, 3]]})
error_case("matmul", "ShapeError", lambda: torch.ones(2, 3) @ torch.ones(4, 5), {"shapes": [[2, 3], [4, 5]]})
error_case("matmul", "ShapeError", lambda: torch.ones(3) @ torch.ones(4), {"shapes": [[3], [4]]})
error_case("reshape", "ShapeError", lambda: torch.ones(6).reshape(4), {"shape": [6], "target": [4]})
error_case("sum", "IndexError", lambda: torch.ones(2, 3).sum(2), {"shape": [2, 3], "dim": 2})
error_case("softmax", "IndexError", lambda: torch.ones(2, 3).softmax(-3), {"shape": [2, 3], "dim": -3})
error_case("gather", "IndexError", lambda: torch.ones(2, 3).gather(1, torch.tensor([[3]])), {"shape": [2, 3], "dim": 1, "index": [[3]]})
error_case("indexSelect", "IndexError", lambda: torch.ones(2, 3).index_select(0, torch.tensor([2])), {"shape": [2, 3], "dim": 0, "index": [2]})
error_case("cat", "ShapeError", lambda: torch.cat([torch.ones(2, 3), torch.ones(2, 4)], 0), {"shapes": [[2, 3], [2, 4]], "dim": 0})
error_case("neg", "DTypeError", lambda: torch.neg(torch.ones(2, dtype=torch.bool)), {"dtype": "bool"})
error_case("conv2d", "ShapeError", lambda: F.conv2d(torch.ones(1, 3, 5, 5), torch.ones(2, 4, 3, 3)), {"shapes": [[1, 3, 5, 5], [2, 4, 3, 3]]})

json.dump({"torch": torch.__version__, "seed": 20261123, "cases": cases}, sys.stdout, separators=(",", ":"))
print(f"{len(cases)} cases", file=sys.stderr)
