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

/** A span of a storage's elements, [lo, hi], that a kernel reads or writes. */
interface Span { readonly storage: Storage; readonly lo: number; readonly hi: number }

/** The elements view `v` covers over `shape` (a bounding span: strided views count their gaps). */
function span(v: StorageView, shape: readonly number[]): Span | undefined {
  if (shape.some((n) => n === 0)) return undefined;
  let lo = v.offset, hi = v.offset;
  shape.forEach((n, d) => { const reach = v.strides[d]! * (n - 1); if (reach < 0) lo += reach; else hi += reach; });
  return { storage: v.storage, lo, hi };
}
const whole = (s: Storage): Span => ({ storage: s, lo: 0, hi: Infinity });

/** What kernel k writes (`write`) or reads: its views' spans for elementwise kernels, whole storages otherwise. */
function spans(k: Kernel, write: boolean): Span[] {
  if (k.kind !== 'elementwise') return (write ? writes(k) : reads(k)).map(whole);
  return (write ? [k.out, ...k.outs] : k.inputs).map((v) => span(v, k.shape)).filter((x) => x !== undefined);
}

/** Whether running `b` before `a` could change what either computes. */
export function conflict(a: Kernel, b: Kernel): boolean {
  const wa = spans(a, true), wb = spans(b, true);
  const meets = (xs: readonly Span[], ys: readonly Span[]) =>
    xs.some((x) => ys.some((y) => x.storage === y.storage && x.lo <= y.hi && y.lo <= x.hi));
  return meets(wa, wb) || meets(wa, spans(b, false)) || meets(wb, spans(a, false));
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
