/**
 * The Tessera side of the differential fuzzer: builds a call's tensors on the device under test, runs
 * the invocation, and encodes what came back (a result, or the error and whether it is typed). When
 * the call raises, every tensor of the call is read again: one whose contents changed was half-written.
 */
import * as tsr from 'tessera';
import { type Call, type Encoded, type Num, type Outcome, type TensorDesc, type TsInvocation, decodeNum, encodeNum } from './call.js';

type Tensor = tsr.Tensor;

/** A call value as Tessera takes it: tensor references resolved, markers decoded (an {$i} is a bigint). */
function decode(v: unknown, ts: readonly Tensor[]): unknown {
  if (Array.isArray(v)) return v.map((x) => decode(x, ts));
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('$t' in o) return ts[o['$t'] as number];
    if ('$f' in o) return decodeNum(o as Num);
    if ('$i' in o) return BigInt(o['$i'] as string);
    if ('$u' in o) return undefined;
    if ('$dtype' in o) return o['$dtype'];
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decode(x, ts)]));
  }
  return v;
}

function view(t: Tensor, [kind, ...a]: readonly unknown[]): Tensor {
  const n = a as number[];
  switch (kind) {
    case 'permute': return t.permute(a[0] as number[]);
    case 'transpose': return t.transpose(n[0]!, n[1]!);
    case 'slice': return t.slice(n[0]!, n[1]!, n[2]!, n[3]!);
    case 'expand': return t.expand(a[0] as number[]);
    case 'flip': return t.flip(a[0] as number[]);
    case 'select': return t.select(n[0]!, n[1]!);
    case 'unsqueeze': return t.unsqueeze(n[0]!);
    case 'narrow': return t.narrow(n[0]!, n[1]!, n[2]!);
    case 't': return t.t();
    default: throw new Error(`unknown view ${String(kind)}`);
  }
}

export function buildTensors(descs: readonly TensorDesc[], device: tsr.DeviceKind): Tensor[] {
  const ts: Tensor[] = [];
  for (const d of descs) {
    let t: Tensor;
    if (d.from !== undefined) t = ts[d.from]!;
    else {
      const values = d.data!.map(decodeNum);
      t = d.dtype === 'int64'
        ? tsr.tensor(BigInt64Array.from(values, (v) => BigInt(v)), { shape: d.shape, device })
        : tsr.tensor(values, { dtype: d.dtype, shape: d.shape, device });
      if (d.grad) t.requiresGrad_();
    }
    for (const v of d.views ?? []) t = view(t, v);
    ts.push(t);
  }
  return ts;
}

function invoke(inv: TsInvocation, ts: readonly Tensor[]): unknown {
  const args = (inv.args ?? []).map((a) => decode(a, ts));
  switch (inv.kind) {
    case 'method': {
      const self = ts[inv.self!]! as unknown as Record<string, (...a: unknown[]) => unknown>;
      if (typeof self[inv.name] !== 'function') throw new Error(`no method ${inv.name}`);
      return self[inv.name]!(...args);
    }
    case 'fn': return (tsr as unknown as Record<string, (...a: unknown[]) => unknown>)[inv.name]!(...args);
    case 'nn': return (tsr.nn as unknown as Record<string, (...a: unknown[]) => unknown>)[inv.name]!(...args);
    case 'module': {
      const Ctor = (tsr.nn as unknown as Record<string, new (...a: unknown[]) => tsr.nn.Module>)[inv.name]!;
      const m = new Ctor(...(inv.ctor ?? []).map((a) => decode(a, ts)));
      tsr.noGrad(() => {
        for (const [name, i] of Object.entries(inv.weights ?? {})) (m as unknown as Record<string, Tensor>)[name]!.copy_(ts[i]!);
      });
      if (inv.eval) m.eval();
      return m.forward(...(args as Tensor[]));
    }
    case 'backward': {
      const out = invoke(inv.of!, ts) as Tensor;
      out.sum().backward();
      return ts[inv.self!]!.grad;
    }
  }
}

async function encode(v: unknown): Promise<Encoded> {
  if (v instanceof tsr.Tensor) {
    const raw = await v.data();
    const data = raw instanceof BigInt64Array
      ? Array.from(raw, (x) => (x >= -(2n ** 53n) && x <= 2n ** 53n ? Number(x) : { $i: String(x) }))
      : Array.from(raw as ArrayLike<number>, (x) => encodeNum(v.dtype === 'bool' ? (x ? 1 : 0) : x));
    return { $T: { shape: v.shape.slice(), dtype: v.dtype, data } };
  }
  if (typeof v === 'number') return encodeNum(v);
  if (typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return { $i: String(v) };
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return Promise.all(v.map(encode));
  return { $o: (v as object).constructor?.name ?? 'Object' };
}

/** Each tensor's contents (null where it cannot be read, e.g. after an asynchronous device error). */
async function snapshot(ts: readonly Tensor[]): Promise<(string | null)[]> {
  return Promise.all(ts.map(async (t) => {
    try { return JSON.stringify(await encode(t)); } catch { return null; }
  }));
}

/** Runs one call on `device`; never throws. */
export async function runCall(call: Call, device: tsr.DeviceKind): Promise<Outcome> {
  let ts: Tensor[];
  try {
    ts = buildTensors(call.tensors, device);
  } catch (e) {
    return { setup: `${(e as Error).name}: ${(e as Error).message}`.slice(0, 200) };
  }
  const before = await snapshot(ts);
  try {
    const r = invoke(call.ts, ts);
    const ok = await encode(r);
    const after = call.inplace !== undefined ? await encode(ts[call.inplace]!) : undefined;
    return after === undefined ? { ok } : { ok, after };
  } catch (e) {
    const typed = e instanceof tsr.TesseraError;
    const err = e as Error;
    const outcome: Outcome = { raises: err?.constructor?.name ?? typeof e, msg: String(err?.message ?? e).slice(0, 300), typed };
    const now = await snapshot(ts);
    const changed = now.findIndex((s, i) => s !== null && before[i] !== null && s !== before[i]);
    return changed >= 0 ? { ...outcome, halfWrite: `tensor ${changed} changed although the call raised` } : outcome;
  }
}
