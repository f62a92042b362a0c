/**
 * Kernel source for inspection: each backend with an emitter registers it here, and
 * `npx tessera codegen --backend B --op OP --dtype D` prints what the specs produce for it.
 */
import { ArgumentError, type DType, ELEMENTWISE, REDUCTIONS, reduceTypes } from '@tessera/ops';
import type { ElementwiseKernel, ReduceKernel } from './backend.js';
import { planFor, reduceKernel } from './dispatch.js';
import { Tensor } from './tensor.js';
import { getBackend } from './backend.js';
import { compile } from './compile.js';
import { type Kernel, onProgramRun } from './graph/schedule.js';
import { opCount } from './graph/fuse.js';

/** A backend's code generator: the source of an elementwise or a reduction kernel for given ranks. */
export interface Emitter {
  /** Source of `kernel` specialised to a launch of `rank` dims. */
  elementwise(kernel: ElementwiseKernel, rank: number): string;
  /** Source of a reduction with `outerRank` kept and `innerRank` reduced dims. */
  reduce(kernel: ReduceKernel, outerRank: number, innerRank: number): string;
}

const emitters = new Map<string, Emitter>();
/** Registers (or replaces) the emitter codegen() uses for `backend`. */
export const registerEmitter = (backend: string, e: Emitter): void => { emitters.set(backend, e); };
/** The backends that have an emitter registered. */
export const emitterNames = (): string[] => [...emitters.keys()];

/** What codegen() emits: which backend's source, for which spec, operand dtype and ranks. */
export interface CodegenRequest {
  /** Name of a registered emitter (see emitterNames()). */
  backend: string;
  /** An elementwise op or a generated reduction's name, as in the op specs ('add', 'sum', ...). */
  op: string;
  /** dtype of the operands (a where's condition is bool regardless). */
  dtype: DType;
  /** Launch rank; for reductions, the kept dims. Default 1. */
  rank?: number;
  /** Reductions only: the reduced dims. Default 1. */
  innerRank?: number;
}

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

/**
 * One kernel of a compiled function: a fused elementwise kernel with its source per emitter, or a reduction or routine
 * by name.
 */
export interface CompiledKernel {
  /** Which of the three kernel families it is. */
  readonly kind: 'elementwise' | 'reduce' | 'routine';
  /** The routine or reduction's kernel id; for elementwise, its kernel id or 'fused' for a fusion of several ops. */
  readonly name: string;
  /** The elementwise kernel a routine runs over its result in the same launch (epilogue fusion). */
  readonly epilogue?: CompiledKernel;
  /** The launch shape (elementwise, after merging dims). */
  readonly shape?: readonly number[];
  /** Ops the kernel computes in one pass (elementwise). */
  readonly ops?: number;
  /** Source per emitter (elementwise): what each backend compiles for it. */
  readonly source?: Readonly<Record<string, string>>;
}

/**
 * The kernels `fn(...args)` runs as when compiled, program by program (more than one means graph
 * breaks), with each fused kernel's source from every registered emitter: what
 * `tessera codegen --compile module:export` prints. Runs fn once, compiled.
 */
export function compiledKernels<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): CompiledKernel[][] {
  const programs: CompiledKernel[][] = [];
  const stop = onProgramRun((r) => {
    const elementwise = (k: Extract<Kernel, { kind: 'elementwise' }>): CompiledKernel => {
      const source = Object.fromEntries([...emitters].map(([name, e]) => {
        try { return [name, e.elementwise(k.kernel, k.shape.length)]; } catch (err) { return [name, `// not emitted: ${(err as Error).message}`]; }
      }));
      return { kind: 'elementwise', name: k.kernel.id.startsWith('fused:') ? 'fused' : k.kernel.id, shape: k.shape, ops: opCount([k.kernel.expr, ...(k.kernel.outputs ?? []).map((o) => o.expr)]), source };
    };
    programs.push(r.schedule.map((k): CompiledKernel => {
      if (k.kind === 'routine') return { kind: 'routine', name: k.step.name, ...(k.epilogue ? { epilogue: elementwise(k.epilogue) } : {}) };
      if (k.kind === 'reduce') return { kind: 'reduce', name: k.kernel.id };
      return elementwise(k);
    }));
  });
  try {
    compile(fn)(...args);
  } finally {
    stop();
  }
  return programs;
}
