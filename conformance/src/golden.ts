/** Decoding PyTorch golden cases (conformance/golden/cases.json) and running them through Tessera. */
import * as tsr from 'tessera';

export interface Packed { dtype: tsr.DType; shape: number[]; data: (number | string | boolean)[] }
export interface Case {
  kind: 'forward' | 'reduce' | 'routine' | 'grad' | 'promotion' | 'error';
  op: string;
  inputs?: Packed[];
  out?: Packed;
  params?: Record<string, number>;
  dims?: number[] | null;
  keepdim?: boolean;
  dim?: number;
  normalizedShape?: number[];
  options?: Record<string, unknown>;
  gradOutput?: Packed;
  grads?: (Packed | null)[];
  index?: Packed;
  a?: { dtype: tsr.DType; ndim: number };
  b?: { dtype: tsr.DType; ndim: number } | { scalar: number | boolean };
  dtype?: tsr.DType;
  error?: string;
  call?: Record<string, unknown>;
}

const num = (v: number | string | boolean): number =>
  typeof v === 'boolean' ? +v : v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === '-0' ? -0 : (v as number);

export const values = (p: Packed): number[] => p.data.map(num);

export function decode(p: Packed, device: tsr.DeviceKind): tsr.Tensor {
  const vals = values(p);
  const data = p.dtype === 'bool' ? vals.map((v) => v !== 0) : p.dtype === 'int64' ? vals.map((v) => BigInt(v)) : vals;
  return tsr.tensor(data, { dtype: p.dtype, shape: p.shape, device });
}

type Ts = tsr.Tensor[];
/** Tessera calls for every op a golden case names (the PyTorch call is in golden/generate.py). */
const ROUTINE: Record<string, (x: Ts, c: Case) => tsr.Tensor> = {
  matmul: ([a, b]) => a!.matmul(b!),
  softmax: ([x], c) => x!.softmax(c.dim!),
  logSoftmax: ([x], c) => x!.logSoftmax(c.dim!),
  layerNorm: ([x, w, b], c) => tsr.layerNorm(x!, c.normalizedShape!, w, b),
  gather: ([x, i], c) => x!.gather(c.dim!, i!),
  scatterAdd: ([x, i, s], c) => x!.scatterAdd(c.dim!, i!, s!),
  indexSelect: ([x, i], c) => x!.indexSelect(c.dim!, i!),
  embedding: ([i, w]) => tsr.embedding(i!, w!),
  conv2d: ([x, w, b], c) => x!.conv2d(w!, b, c.options as tsr.Conv2dOptions),
  maxPool2d: ([x], c) => x!.maxPool2d(c.options as unknown as tsr.Pool2dOptions),
  avgPool2d: ([x], c) => x!.avgPool2d(c.options as unknown as tsr.Pool2dOptions),
  gatherFixed: ([x], c) => x!.gather(c.dim!, decode(c.index!, x!.device)),
};

function reduce(x: tsr.Tensor, c: Case): tsr.Tensor {
  const dims = c.dims ?? undefined, keepdim = c.keepdim ?? false;
  switch (c.op) {
    case 'argmax': case 'argmin': return x[c.op](dims?.[0], { keepdim });
    case 'prod': return x.prod(dims?.[0], { keepdim });
    case 'var': case 'std': return x[c.op](dims, { keepdim, correction: c.params!['correction']! });
    case 'norm': return x.norm(c.params!['p']!, dims, { keepdim });
    case 'cumsum': return x.cumsum(dims?.[0] ?? 0);
    default: return (x[c.op as 'sum'] as (d?: number[], o?: { keepdim: boolean }) => tsr.Tensor)(dims, { keepdim });
  }
}

/** The Tessera result of a forward, reduce or routine case. */
export function forward(c: Case, inputs: Ts): tsr.Tensor {
  if (c.kind === 'reduce') return reduce(inputs[0]!, c);
  if (c.kind === 'routine') return ROUTINE[c.op]!(inputs, c);
  return tsr.elementwise(tsr.ops.ELEMENTWISE[c.op]!, inputs, { params: c.params });
}

/** The function whose gradient a grad case checks. */
export function gradFn(c: Case): (...x: Ts) => tsr.Tensor {
  if (c.op === 'gather') return (...x) => ROUTINE['gatherFixed']!(x, c);
  if (c.kind === 'grad' && c.dims) return (x) => reduce(x!, { ...c, kind: 'reduce' });
  if (ROUTINE[c.op]) return (...x) => ROUTINE[c.op]!(x, c);
  if (['sum', 'mean', 'prod', 'amax', 'logsumexp', 'var', 'std', 'norm', 'cumsum'].includes(c.op)) return (x) => reduce(x!, { ...c, kind: 'reduce' });
  return (...x) => tsr.elementwise(tsr.ops.ELEMENTWISE[c.op]!, x, { params: c.params });
}

/** The arguments of an invalid call, as generate.py describes them. */
interface ErrorCall { shapes: [number[], number[]]; shape: number[]; target: number[]; dim: number; index: number[] | number[][]; dtype: tsr.DType }

/** Runs an error case's call; it must throw. */
export function errorCall(c: Case, device: tsr.DeviceKind): () => unknown {
  const k = c.call as unknown as ErrorCall;
  const ones = (s: number[]) => tsr.ones(s, { device });
  const idx = (v: number[] | number[][]) => tsr.tensor(v as never, { dtype: 'int64', device });
  switch (c.op) {
    case 'add': return () => tsr.add(ones(k.shapes[0]), ones(k.shapes[1]));
    case 'mul': return () => tsr.mul(ones(k.shapes[0]), ones(k.shapes[1]));
    case 'matmul': return () => tsr.matmul(ones(k.shapes[0]), ones(k.shapes[1]));
    case 'reshape': return () => ones(k.shape).reshape(k.target);
    case 'sum': return () => ones(k.shape).sum(k.dim);
    case 'softmax': return () => ones(k.shape).softmax(k.dim);
    case 'gather': return () => ones(k.shape).gather(k.dim, idx(k.index));
    case 'indexSelect': return () => ones(k.shape).indexSelect(k.dim, idx(k.index));
    case 'cat': return () => tsr.cat([ones(k.shapes[0]), ones(k.shapes[1])], k.dim);
    case 'neg': return () => tsr.ones([2], { dtype: k.dtype, device }).neg();
    case 'conv2d': return () => tsr.conv2d(ones(k.shapes[0]), ones(k.shapes[1]));
    default: throw new Error(`no Tessera call for error case ${c.op}`);
  }
}
