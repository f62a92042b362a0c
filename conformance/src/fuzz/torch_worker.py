"""The PyTorch side of the differential fuzzer (conformance/fuzz): a long-lived child process.

Reads one JSON array of calls per line on stdin and writes one JSON array of outcomes per line on
stdout. Each call describes its tensors (shape, dtype, values, a chain of views, which earlier tensor
it views) and one invocation in torch's own terms; the outcome is what torch returned, encoded, or the
exception it raised. Run as /usr/bin/python3 (Debian's python3-torch).
"""
import json
import math
import sys
import warnings

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
warnings.filterwarnings("ignore")

DT = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "int32": torch.int32,
      "int64": torch.int64, "uint8": torch.uint8, "bool": torch.bool}
NAME = {v: k for k, v in DT.items()}
SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0": -0.0}


def dec(v, ts):
    """A value of the call description as a Python value (tensor references resolved)."""
    if isinstance(v, list):
        return [dec(x, ts) for x in v]
    if isinstance(v, dict):
        if "$t" in v:
            return ts[v["$t"]]
        if "$f" in v:
            return SPECIAL[v["$f"]]
        if "$i" in v:
            return int(v["$i"])
        if "$u" in v:
            return None
        if "$dtype" in v:
            return DT.get(v["$dtype"], v["$dtype"])
        if "$tuple" in v:
            return tuple(dec(x, ts) for x in v["$tuple"])
        if "$slice" in v:
            return slice(*[dec(x, ts) for x in v["$slice"]])
        return {k: dec(x, ts) for k, x in v.items()}
    return v


def enc_num(x):
    if isinstance(x, bool):
        return x
    if isinstance(x, int):
        return x if abs(x) <= 2 ** 53 else {"$i": str(x)}
    if math.isnan(x):
        return {"$f": "nan"}
    if math.isinf(x):
        return {"$f": "inf" if x > 0 else "-inf"}
    if x == 0 and math.copysign(1, x) < 0:
        return {"$f": "-0"}
    return x


def enc(r):
    if isinstance(r, torch.Tensor):
        t = r.detach()
        if t.dtype == torch.float16:
            vals = t.float().reshape(-1).tolist()
        elif t.dtype == torch.bool:
            vals = t.to(torch.uint8).reshape(-1).tolist()
        else:
            vals = t.reshape(-1).tolist()
        return {"$T": {"shape": list(t.shape), "dtype": NAME.get(t.dtype, str(t.dtype)), "data": [enc_num(v) for v in vals]}}
    if isinstance(r, (bool, int, float)):
        return enc_num(r)
    if isinstance(r, (list, tuple)):
        return [enc(x) for x in r]
    if r is None:
        return None
    if isinstance(r, torch.Size):
        return list(r)
    return {"$o": type(r).__name__}


def apply_view(t, v):
    kind, args = v[0], v[1:]
    if kind == "permute":
        return t.permute(*args[0])
    if kind == "transpose":
        return t.transpose(args[0], args[1])
    if kind == "slice":
        dim, start, end, step = args
        idx = [slice(None)] * t.dim()
        idx[dim] = slice(start, end, step)
        return t[tuple(idx)]
    if kind == "expand":
        return t.expand(*args[0])
    if kind == "flip":  # a copy in torch, a view in Tessera: the reference value is the same
        return t.flip(args[0])
    if kind == "select":
        return t.select(args[0], args[1])
    if kind == "unsqueeze":
        return t.unsqueeze(args[0])
    if kind == "narrow":
        return t.narrow(args[0], args[1], args[2])
    if kind == "t":
        return t.t()
    raise ValueError("unknown view " + kind)


def build(descs, unalias=False):
    ts = []
    for d in descs:
        if d.get("from") is not None:
            t = ts[d["from"]]
        else:
            data = [SPECIAL[x["$f"]] if isinstance(x, dict) else x for x in d["data"]]
            t = torch.tensor(data, dtype=torch.float64 if d["dtype"] not in ("int64", "int32", "uint8", "bool") else torch.int64)
            t = t.to(DT[d["dtype"]]).reshape(d["shape"])
            if d.get("grad"):
                t.requires_grad_(True)
        for v in d.get("views", []):
            t = apply_view(t, v)
        if unalias and d.get("from") is not None:
            t = t.detach().clone()
        ts.append(t)
    return ts


def invoke(inv, ts):
    kind, name = inv["kind"], inv["name"]
    args = dec(inv.get("args", []), ts)
    kwargs = dec(inv.get("kwargs", {}), ts)
    if kind == "method":
        return getattr(ts[inv["self"]], name)(*args, **kwargs)
    if kind == "torch":
        return getattr(torch, name)(*args, **kwargs)
    if kind == "F":
        return getattr(F, name)(*args, **kwargs)
    if kind == "index":
        return ts[inv["self"]][dec(inv["index"], ts)]
    if kind == "module":
        m = getattr(torch.nn, name)(*dec(inv.get("ctor", []), ts), **dec(inv.get("ctorKwargs", {}), ts))
        for pname, ref in inv.get("weights", {}).items():
            with torch.no_grad():
                getattr(m, pname).copy_(ts[ref])
        if inv.get("eval"):
            m.eval()
        return m(*args, **kwargs)
    if kind == "backward":
        # sum(f(x)).backward(), then x.grad: what a gradient call returns
        out = invoke(inv["of"], ts)
        out.sum().backward()
        return ts[inv["self"]].grad
    raise ValueError("unknown invocation kind " + kind)


def run(call):
    try:
        ts = build(call["tensors"])
    except Exception as e:  # the description itself is not realisable in torch (e.g. a bad view)
        return {"setup": type(e).__name__, "msg": str(e)[:200]}
    try:
        r = invoke(call["pt"], ts)
        out = {"ok": enc(r)}
        if call.get("inplace") is not None:
            out["after"] = enc(ts[call["inplace"]])
            if any(d.get("from") is not None for d in call["tensors"]):
                # torch reads an aliased input while writing (its result depends on its loop order);
                # Tessera reads it as it was before the write: this call with the aliases cloned first.
                try:
                    us = build(call["tensors"], unalias=True)
                    invoke(call["pt"], us)
                    out["unaliased"] = enc(us[call["inplace"]])
                except Exception:
                    pass
        return out
    except Exception as e:
        out = {"raises": type(e).__name__, "msg": str(e).split("\n")[0][:300]}
        if "refer to a single memory location" in out["msg"] and "input tensor and the written-to tensor" in out["msg"]:
            # torch refuses a partial overlap; Tessera reads the input as it was before the write,
            # which is this call with the aliased inputs cloned first.
            try:
                us = build(call["tensors"], unalias=True)
                invoke(call["pt"], us)
                out["unaliased"] = enc(us[call["inplace"]]) if call.get("inplace") is not None else None
            except Exception as e2:
                out["unaliasedError"] = str(e2).split("\n")[0][:200]
        return out


def main():
    for line in sys.stdin:
        calls = json.loads(line)
        sys.stdout.write(json.dumps([run(c) for c in calls]) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
