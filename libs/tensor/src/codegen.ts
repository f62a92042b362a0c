/**
 * Kernel source for inspection: each backend with an emitter registers it here, and
 * `npx tessera codegen --backend B --op OP --dtype D` prints what the specs produce for it.
 */
import { ArgumentError, type DType, ELEMENTWISE, REDUCTIONS, reduceTypes } from '@tessera/ops';
import type { ElementwiseKernel, ReduceKernel } from './backend.js';
import { planFor, reduceKernel } from './dispatch.js';
import { Tensor } from './tensor.js';
import { getBackend } from './backend.js';

export interface Emitter {
  elementwise(kernel: ElementwiseKernel, rank: number): string;
  reduce(kernel: ReduceKernel, outerRank: number, innerRank: number): string;
}

const emitters = new Map<string, Emitter>();
export const registerEmitter = (backend: string, e: Emitter): void => { emitters.set(backend, e); };
export const emitterNames = (): string[] => [...emitters.keys()];

export interface CodegenRequest { backend: string; op: string; dtype: DType; rank?: number; innerRank?: number }

/** The kernel source a backend compiles for an elementwise or reduction spec on operands of `dtype`. */
export function codegen(r: CodegenRequest): string {
  const e = emitters.get(r.backend);
  if (!e) throw new ArgumentError('codegen', `no emitter for backend '${r.backend}' (have: ${emitterNames().join(', ')})`);
  const ew = ELEMENTWISE[r.op], rd = REDUCTIONS[r.op];
  if (ew) {
    const operands = Array.from({ length: ew.arity }, (_, i) => Tensor.empty(getBackend('cpu'), [1], ew.condition && i === 0 ? 'bool' : r.dtype));
    return e.elementwise(planFor(ew, operands, undefined).kernel, r.rank ?? 1);
  }
  if (rd?.combine || rd?.better) {
    const { compute, out } = reduceTypes(rd, r.dtype);
    return e.reduce(reduceKernel(rd, r.dtype, compute, out, rd.name === 'cumsum'), r.rank ?? 1, r.innerRank ?? 1);
  }
  const known = [...Object.keys(ELEMENTWISE), ...Object.keys(REDUCTIONS).filter((n) => REDUCTIONS[n]!.combine || REDUCTIONS[n]!.better)];
  throw new ArgumentError('codegen', `'${r.op}' has no generated kernel (routines and composites are hand-written or built from other ops); generated ops: ${known.join(', ')}`);
}
