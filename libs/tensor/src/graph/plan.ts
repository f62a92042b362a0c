/**
 * Cached schedules. A compiled training step records the same program every call: the same steps
 * over storages that play the same parts, with only scalar values (a learning rate, Adam's bias
 * corrections) and the storages themselves changing. Scheduling (liveness, fusion, building each
 * fused kernel's expression) is the costly part of running a program from JS, so it is done once per
 * structure: the program's key (its guard) names every step's kernel, shapes and views, with
 * storages numbered in order of first use and marked by how they are held (created by the program
 * or not, live at its end or not), and a plan is the schedule with storages and scalars left as
 * references into the program. A program with the key of an earlier one runs that plan on its own
 * storages and scalars.
 */
import type { Backend, ElementwiseKernel } from '../backend.js';
import type { Storage } from '../storage.js';
import { type Program, type StorageView, readsOf, writesOf } from './program.js';
import type { Kernel } from './schedule.js';

/** A view with its storage as a number (its order of first use in the program). */
interface PlannedView { readonly storage: number; readonly view: Omit<StorageView, 'storage'> }

type Planned =
  | { readonly kind: 'elementwise'; readonly at: number; readonly kernel: ElementwiseKernel; readonly shape: readonly number[]; readonly out: PlannedView; readonly outs: readonly PlannedView[]; readonly inputs: readonly PlannedView[]; readonly paramRefs: readonly (readonly [number, number])[] }
  | { readonly kind: 'step'; readonly at: number };

export interface Plan { readonly kernels: readonly Planned[] }

/** The program's key and its storages in order of first use (the key refers to them by position). */
export function programKey(p: Program): { key: string; storages: Storage[] } {
  const index = new Map<Storage, number>();
  const storages: Storage[] = [];
  const id = (s: Storage): number => {
    let i = index.get(s);
    if (i === undefined) { index.set(s, (i = storages.length)); storages.push(s); }
    return i;
  };
  const view = (v: StorageView): string => `${id(v.storage)}@${v.offset}:${v.strides.join(',')}`;
  const parts: string[] = [];
  for (const s of p.steps) {
    if (s.kind === 'elementwise') parts.push(`E${s.backend.name}|${s.kernel.id}|${s.shape.join(',')}|${view(s.out)}|${s.inputs.map(view).join('|')}`);
    else if (s.kind === 'reduce') parts.push(`R${s.backend.name}|${s.kernel.id}|${s.outer.join(',')}|${s.inner.join(',')}|${view(s.input)}|${view(s.out)}`);
    else parts.push(`U${s.backend.name}|${s.name}|${readsOf(s).map(id).join(',')}|${writesOf(s).map(id).join(',')}`);
  }
  // How each storage is held decides what must be computed and what may stay out of memory.
  parts.push(storages.map((s) => `${p.created.has(s) ? 'c' : 'e'}${s.live ? 'L' : ''}${s.dtype}:${s.size}`).join(';'));
  return { key: parts.join('\n'), storages };
}

/** The schedule `kernels` of a program whose storages are `storages`, as a plan. */
export function planOf(kernels: readonly Kernel[], storages: readonly Storage[]): Plan {
  const index = new Map(storages.map((s, i) => [s, i]));
  const planned = ({ storage, ...view }: StorageView): PlannedView => ({ storage: index.get(storage)!, view });
  return {
    kernels: kernels.map((k): Planned => (k.kind === 'elementwise'
      ? { kind: 'elementwise', at: k.at, kernel: k.kernel, shape: k.shape, out: planned(k.out), outs: k.outs.map(planned), inputs: k.inputs.map(planned), paramRefs: k.paramRefs }
      : { kind: 'step', at: k.at })),
  };
}

/** The plan's kernels over program `p` (whose key is the plan's) and its storages. */
export function instantiate(plan: Plan, p: Program, storages: readonly Storage[]): Kernel[] {
  const bound = (v: PlannedView): StorageView => ({ storage: storages[v.storage]!, ...v.view });
  return plan.kernels.map((k): Kernel => {
    if (k.kind === 'elementwise') {
      const params = k.paramRefs.map(([step, j]) => (p.steps[step] as { params: readonly number[] }).params[j]!);
      // The backend of this program's step (the key names it, but two backends may share a name).
      const backend = (p.steps[k.at] as { backend: Backend }).backend;
      return { kind: 'elementwise', at: k.at, backend, kernel: k.kernel, shape: k.shape, out: bound(k.out), outs: k.outs.map(bound), inputs: k.inputs.map(bound), params, paramRefs: k.paramRefs };
    }
    const s = p.steps[k.at]!;
    if (s.kind === 'routine') return { kind: 'routine', at: k.at, step: s };
    if (s.kind === 'reduce') return { ...s, at: k.at };
    throw new Error(`compile: plan step ${k.at} is not a reduction or routine (an internal error)`);
  });
}
