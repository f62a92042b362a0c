/**
 * Horizontal fusion: launches of one elementwise kernel that do not depend on one another (an
 * optimizer's update of each parameter, the same fused expression over tensors of different shapes)
 * become one launch where the backend runs groups (`Backend.elementwiseGroup`, as PyTorch's foreach
 * kernels and apex's multi-tensor apply). A kernel joins an earlier kernel's group when it can move
 * up to it: nothing between them writes what it reads, or reads or writes what it writes, and it
 * writes nothing a member touches. Elementwise kernels are compared by the span of elements each view
 * covers, so updates of disjoint slices of one buffer (an optimizer's state kept in one buffer per
 * kind, Optimizer.zerosState) group; routines and reductions by whole storages. A group is one kernel, so its
 * members together bind at most the backend's maxKernelBuffers storages (WGSL's storage buffers per
 * stage); a kernel that would pass that starts a new group.
 */
import type { Storage } from '../storage.js';
import type { StorageView } from './program.js';
import { reads, writes } from './execute.js';
import type { Kernel } from './schedule.js';

type Elementwise = Extract<Kernel, { kind: 'elementwise' }>;

/**
 * A span of a storage's elements, [lo, hi], that a kernel reads or writes; where the view is a dense
 * block of `block` elements repeated at multiples of `period` (a column block of a matrix's rows:
 * one third of a packed q/k/v, say), also where the block starts within the period (`at`).
 */
interface Span { readonly storage: Storage; readonly lo: number; readonly hi: number; readonly rows?: { readonly block: number; readonly period: number; readonly at: number } }

/** The elements view `v` covers over `shape` (a bounding span: strided views count their gaps). */
function span(v: StorageView, shape: readonly number[]): Span | undefined {
  if (shape.some((n) => n === 0)) return undefined;
  let lo = v.offset, hi = v.offset;
  shape.forEach((n, d) => { const reach = v.strides[d]! * (n - 1); if (reach < 0) lo += reach; else hi += reach; });
  const rows = rowBlocks(v, shape);
  return { storage: v.storage, lo, hi, ...(rows ? { rows } : {}) };
}
const whole = (s: Storage): Span => ({ storage: s, lo: 0, hi: Infinity });

/**
 * View v over `shape` as a dense block repeated at multiples of a period: its dims of positive
 * stride, by stride, first make a dense block (strides 1, n0, n0 n1, ...), and every later stride is
 * a multiple of the least of them, the period, which the block does not exceed. Then each element's
 * distance from v's offset, modulo the period, lies in [0, block). Undefined for any other layout.
 */
function rowBlocks(v: StorageView, shape: readonly number[]): Span['rows'] {
  const dims = shape.map((n, d) => [n, v.strides[d]!] as const).filter(([n]) => n > 1).sort((a, b) => a[1] - b[1]);
  if (dims.some(([, st]) => st <= 0)) return undefined;
  let block = 1, i = 0;
  while (i < dims.length && dims[i]![1] === block) block *= dims[i++]![0];
  if (i === dims.length) return undefined; // one dense block: the bounding span is exact
  const period = dims[i]![1];
  if (period < block || dims.slice(i).some(([, st]) => st % period !== 0)) return undefined;
  return { block, period, at: ((v.offset % period) + period) % period };
}

/** Whether two spans of one storage share an element. */
function meet(x: Span, y: Span): boolean {
  if (x.storage !== y.storage || x.hi < y.lo || y.hi < x.lo) return false;
  // Blocks of one period: elements shared only where the blocks overlap modulo the period.
  if (x.rows && y.rows && x.rows.period === y.rows.period) {
    const d = (((y.rows.at - x.rows.at) % x.rows.period) + x.rows.period) % x.rows.period;
    return d < x.rows.block || d > x.rows.period - y.rows.block;
  }
  return true;
}

/**
 * What kernel k writes (`write`) or reads: its views' spans for elementwise kernels (a routine's
 * epilogue included: the thirds of a packed q/k/v gradient that three products' epilogues write do
 * not meet), whole storages otherwise.
 */
function spans(k: Kernel, write: boolean): Span[] {
  if (k.kind === 'routine' && k.epilogue) return [...(write ? k.step.writes : k.step.reads).map(whole), ...spans(k.epilogue, write)];
  if (k.kind !== 'elementwise') return (write ? writes(k) : reads(k)).map(whole);
  return (write ? [k.out, ...k.outs] : k.inputs).map((v) => span(v, k.shape)).filter((x) => x !== undefined);
}

/**
 * A kernel's write and read spans, worked out once per kernel object: a scheduled kernel is never
 * changed (attaching an epilogue makes a new one), and the scans that call conflict() meet each
 * kernel once per later kernel, which made them most of the time to schedule a program.
 */
const known = new WeakMap<Kernel, readonly [Span[], Span[]]>();
function spansOf(k: Kernel): readonly [Span[], Span[]] {
  let s = known.get(k);
  if (!s) known.set(k, (s = [spans(k, true), spans(k, false)]));
  return s;
}

const meets = (xs: readonly Span[], ys: readonly Span[]): boolean => {
  for (const x of xs) for (const y of ys) if (meet(x, y)) return true;
  return false;
};

/** Whether running `b` before `a` could change what either computes. */
export function conflict(a: Kernel, b: Kernel): boolean {
  const [wa, ra] = spansOf(a), [wb, rb] = spansOf(b);
  return meets(wa, wb) || meets(wa, rb) || meets(wb, ra);
}

/** `kernels` with groupable launches moved together; each group's first kernel says how many run with it (`group`). */
export function groupLaunches(kernels: readonly Kernel[]): Kernel[] {
  const entries: Kernel[][] = [];
  for (const k of kernels) {
    if (k.kind === 'elementwise' && k.backend.groupable?.(k.kernel)) {
      const home = groupFor(entries, k);
      if (home) { home.push(k); continue; }
    }
    entries.push([k]);
  }
  return entries.flatMap((e) => (e.length === 1 ? e : [{ ...(e[0] as Elementwise), group: e.length }, ...e.slice(1)]));
}

/** The earlier group `k` can join, scanning back over the entries it can move above. */
function groupFor(entries: readonly Kernel[][], k: Elementwise): Kernel[] | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const lead = e[0]!;
    const same = lead.kind === 'elementwise' && lead.kernel.id === k.kernel.id && lead.backend === k.backend;
    if (e.some((m) => conflict(m, k))) return undefined;
    if (same) return fits(e, k) ? e : undefined;
  }
  return undefined;
}

/** Whether `k` joining group `e` keeps the group's distinct storages within its backend's buffer budget. */
function fits(e: readonly Kernel[], k: Elementwise): boolean {
  const budget = k.backend.maxKernelBuffers;
  if (budget === undefined) return true;
  const storages = new Set<Storage>();
  for (const m of [...e, k]) for (const s of [...writes(m), ...reads(m)]) storages.add(s);
  return storages.size <= budget;
}
