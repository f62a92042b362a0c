/**
 * Elementwise fusion: a kernel is one IR expression over strided leaf views. Inlining a producer
 * into a consumer substitutes the producer's expression for the consumer's input that read the
 * producer's output, with the producer's leaves re-viewed in the consumer's index space (views.ts)
 * and its parameters renamed. The result is an ordinary ElementwiseKernel, so every backend's
 * emitter renders and caches it as it does a single op.
 */
import { type DType, type Expr, ir, topoSort } from '@tessera/ops';
import type { Backend, ElementwiseKernel } from '../backend.js';
import type { ElementwiseStep, StorageView } from './program.js';
import { composeView, mapDims, sameElements } from './views.js';

/**
 * An elementwise kernel being built: its expression reads `leaves[i]` as input(i) and params p0,
 * p1, ...; `extra` are further results it stores (producers fused in whose values are still needed
 * in memory), each over the same shape.
 */
export interface FusedKernel {
  readonly backend: Backend;
  /** The launch shape; refine() may split its dims (the same elements, walked the same way). */
  shape: readonly number[];
  out: StorageView;
  expr: Expr;
  readonly extra: { out: StorageView; expr: Expr }[];
  readonly leaves: StorageView[];
  readonly params: number[];
  /** Where each param comes from: [step, index of its params] (a cached schedule takes them from a later program's steps). */
  readonly paramRefs: (readonly [number, number])[];
}

/** Rebuilds `root` with input and param nodes replaced (shared subtrees stay shared, across calls given one `memo`). */
function substitute(root: Expr, input: (i: number, dtype: DType) => Expr, param: (name: string, dtype: DType) => Expr, memo = new Map<Expr, Expr>()): Expr {
  const walk = (e: Expr): Expr => {
    let r = memo.get(e);
    if (r) return r;
    if (e.kind === 'input') r = input(e.index, e.dtype);
    else if (e.kind === 'param') r = param(e.name, e.dtype);
    else if (e.kind === 'const') r = e;
    else {
      const args = e.args.map(walk);
      r = args.every((a, i) => a === e.args[i]) ? e : { ...e, args };
    }
    memo.set(e, r);
    return r;
  };
  return walk(root);
}

/** Recorded step `at` as a kernel to grow: its params renamed to positions. */
export function fromStep(s: ElementwiseStep, at: number): FusedKernel {
  const names = s.kernel.params;
  const expr = substitute(s.kernel.expr, (i, d) => ir.input(i, d), (name, d) => ir.param(`p${names.indexOf(name)}`, d));
  return { backend: s.backend, shape: s.shape, out: s.out, expr, extra: [], leaves: s.inputs.slice(), params: s.params.slice(), paramRefs: s.params.map((_, j) => [at, j] as const) };
}

const sameView = (shape: readonly number[], a: StorageView, b: StorageView): boolean => a.storage === b.storage && sameElements(shape, a, b);

/** Adds a leaf (or finds the same one) and returns its input index. */
function leafIndex(k: FusedKernel, v: StorageView): number {
  const i = k.leaves.findIndex((l) => sameView(k.shape, l, v));
  if (i >= 0) return i;
  k.leaves.push(v);
  return k.leaves.length - 1;
}

/**
 * The producer's leaves as the consumer would read them through its leaf `at` (a view of the
 * producer's output), or undefined when a view does not compose (the output must then be stored).
 * A consumer that reads the output whole through a reshape (a transposed head copied contiguous,
 * then viewed with its dims merged) is first refined to the finer of the two shapes.
 */
export function readThrough(producer: FusedKernel, consumer: FusedKernel, at: number): StorageView[] | undefined {
  let map = mapDims(producer.shape, consumer.shape, consumer.leaves[at]!);
  if (!map && readsWhole(consumer.shape, consumer.leaves[at]!)) {
    const finer = refinement(producer.shape, consumer.shape);
    if (finer) {
      refine(consumer, finer);
      map = mapDims(producer.shape, consumer.shape, consumer.leaves[at]!);
    }
  }
  if (!map) return undefined;
  return producer.leaves.map((l) => ({ ...l, shape: consumer.shape, ...composeView(map, l) }));
}

/** Whether a view over `shape` reads a contiguous array from its start in order (a reshape of it). */
function readsWhole(shape: readonly number[], v: StorageView): boolean {
  if (v.offset !== 0) return false;
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    if (v.strides[d] !== expect) return false;
    expect *= shape[d]!;
  }
  return true;
}

/**
 * The coarsest shape whose dims split both `a` and `b` (row-major, size-1 dims dropped): [16, 64, 4, 16]
 * for [16, 64, 4, 16] and [16, 64, 64]. Undefined when the two do not nest ([6, 4] and [4, 6]).
 */
export function refinement(a: readonly number[], b: readonly number[]): number[] | undefined {
  const x = a.filter((d) => d !== 1), y = b.filter((d) => d !== 1);
  const out: number[] = [];
  let i = x.length - 1, j = y.length - 1;
  while (i >= 0 && j >= 0) {
    const p = x[i]!, q = y[j]!;
    if (p === q) { out.push(p); i--; j--; } else if (q % p === 0) { out.push(p); y[j] = q / p; i--; } else if (p % q === 0) { out.push(q); x[i] = p / q; j--; } else return undefined;
  }
  return i < 0 && j < 0 ? out.reverse() : undefined;
}

/** A view over `shape` as a view over `finer` (which splits shape's dims): each dim's stride spread over its parts. */
function split(v: StorageView, shape: readonly number[], finer: readonly number[]): StorageView {
  const strides: number[] = [];
  let f = finer.length - 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    let step = v.strides[d]!, left = shape[d]!;
    while (left > 1) {
      strides.push(step);
      step *= finer[f]!;
      left /= finer[f--]!;
    }
  }
  return { ...v, shape: finer, strides: strides.reverse() };
}

/** Walks kernel k over `finer` instead of its shape: every view it writes and reads split to match. */
function refine(k: FusedKernel, finer: readonly number[]): void {
  const shape = k.shape;
  k.out = split(k.out, shape, finer);
  for (const e of k.extra) e.out = split(e.out, shape, finer);
  k.leaves.forEach((l, i) => { k.leaves[i] = split(l, shape, finer); });
  k.shape = finer;
}

/**
 * Inlines `producer` into every input of `consumer` that reads its output (`reads`: input -> the
 * producer's leaves re-viewed, from readThrough). With `store`, the producer's result is also stored
 * by the consumer's pass (a further output): the reads must then see it unmoved (the same view).
 */
export function inline(producer: FusedKernel, consumer: FusedKernel, reads: ReadonlyMap<number, StorageView[]>, store = false): void {
  const old = consumer.leaves.slice();
  consumer.leaves.length = 0;
  // The consumer's reads of what the producer stores (its further results, and its result when
  // stored), which it moves into this pass: in program order they see the producer's values, which
  // this pass holds in registers, while memory there is not yet written. (The scheduler lets a pass
  // read a storage it writes only where it writes it, so each is the very element stored.)
  const stored = [...producer.extra.map((e) => e.out), ...(store ? [producer.out] : [])];
  const fromProducer = old.map((v, i) => (reads.has(i) ? -1 : stored.findIndex((w) => sameView(consumer.shape, w, v))));
  const ownIndex = old.map((v, i) => (reads.has(i) || fromProducer[i]! >= 0 ? -1 : leafIndex(consumer, v)));
  const base = consumer.params.length;
  consumer.params.push(...producer.params);
  consumer.paramRefs.push(...producer.paramRefs);
  // The producer's leaves as they are: read so only where its results are stored (the same index space).
  const idx = store || producer.extra.length ? producer.leaves.map((v) => leafIndex(consumer, v)) : [];
  // The producer's results renamed into the consumer's inputs and params, with one memo so what they share stays shared.
  const pm = new Map<Expr, Expr>();
  const rename = (e: Expr) => substitute(e, (i, d) => ir.input(idx[i]!, d), (name, d) => ir.param(`p${base + Number(name.slice(1))}`, d), pm);
  const renamed = rename(producer.expr);
  const inlined = new Map<number, Expr>();
  for (const [at, views] of reads) {
    if (store) { inlined.set(at, renamed); continue; }
    const vi = views.map((v) => leafIndex(consumer, v));
    inlined.set(at, substitute(producer.expr, (i, d) => ir.input(vi[i]!, d), (name, d) => ir.param(`p${base + Number(name.slice(1))}`, d)));
  }
  // The producer's own further results come along, renamed as its result is.
  const carried = producer.extra.map((e) => ({ out: e.out, expr: rename(e.expr) }));
  const storedValues = [...carried.map((e) => e.expr), ...(store ? [renamed] : [])];
  fromProducer.forEach((j, at) => { if (j >= 0) inlined.set(at, storedValues[j]!); });
  // Substitution does not walk into what it inserts: the producer's renumbered inputs stay as they are.
  // One memo across the consumer's results keeps what they share shared.
  const memo = new Map<Expr, Expr>();
  const rewrite = (e: Expr) => substitute(e, (i, d) => inlined.get(i) ?? ir.input(ownIndex[i]!, d), (name, d) => ir.param(name, d), memo);
  consumer.expr = rewrite(consumer.expr);
  for (const e of consumer.extra) e.expr = rewrite(e.expr);
  // A store the consumer's own result or further results write over (the same elements, later) is dropped.
  const overwritten = (v: StorageView) => [consumer.out, ...consumer.extra.map((e) => e.out)].some((w) => sameView(consumer.shape, w, v));
  consumer.extra.unshift(...[...carried, ...(store ? [{ out: producer.out, expr: renamed }] : [])].filter((e) => !overwritten(e.out)));
}

/** A canonical name of an expression's (or several results') structure: equal names mean the same kernel code. */
export function exprKey(roots: Expr | readonly Expr[]): string {
  const ids = new Map<Expr, number>();
  const parts: string[] = [];
  for (const e of topoSort(roots)) {
    ids.set(e, ids.size);
    if (e.kind === 'const') parts.push(`c${Object.is(e.value, -0) ? '-0' : e.value}${e.dtype}`);
    else if (e.kind === 'input') parts.push(`i${e.index}${e.dtype}`);
    else if (e.kind === 'param') parts.push(`${e.name}${e.dtype}`);
    else parts.push(`${e.op}(${e.args.map((a) => ids.get(a)).join(',')})${e.dtype}`);
  }
  const roots_ = Array.isArray(roots) ? (roots as readonly Expr[]) : [roots as Expr];
  return roots_.length > 1 ? `${parts.join(';')}=>${roots_.map((r) => ids.get(r)).join(',')}` : parts.join(';');
}

/** Nodes that compute something: how big a kernel's expression is. */
export const opCount = (e: Expr | readonly Expr[]): number => topoSort(e).filter((n) => n.kind === 'op').length;

/** The backend kernel of a fused expression (its id is its structure, so compiled code is shared across calls). */
export function toKernel(k: FusedKernel): ElementwiseKernel {
  const roots = [k.expr, ...k.extra.map((e) => e.expr)];
  return {
    id: `fused:${exprKey(roots)}`,
    expr: k.expr,
    inputs: k.leaves.map((l) => l.dtype),
    out: k.out.dtype,
    params: k.params.map((_, i) => `p${i}`),
    ...(k.extra.length ? { outputs: k.extra.map((e) => ({ expr: e.expr, dtype: e.out.dtype })) } : {}),
  };
}
