/**
 * Horizontal fusion: launches of one elementwise kernel that do not depend on one another (an
 * optimizer's update of each parameter, the same fused expression over tensors of different shapes)
 * become one launch where the backend runs groups (`Backend.elementwiseGroup`, as PyTorch's foreach
 * kernels and apex's multi-tensor apply). A kernel joins an earlier kernel's group when it can move
 * up to it: nothing between them writes what it reads, or reads or writes what it writes, and it
 * shares no written storage with the group's members. Storages are compared whole, so two views of
 * one buffer never run in the same group unless neither writes it.
 */
import type { Storage } from '../storage.js';
import { reads, writes } from './execute.js';
import type { Kernel } from './schedule.js';

type Elementwise = Extract<Kernel, { kind: 'elementwise' }>;

/** Whether running `b` before `a` could change what either computes. */
export function conflict(a: Kernel, b: Kernel): boolean {
  const wa = writes(a), wb = writes(b);
  const meets = (xs: readonly Storage[], ys: readonly Storage[]) => xs.some((x) => ys.includes(x));
  return meets(wa, wb) || meets(wa, reads(b)) || meets(wb, reads(a));
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
    if (same) return e;
  }
  return undefined;
}
