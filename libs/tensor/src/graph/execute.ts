/**
 * Runs a scheduled program: gives each deferred storage that is live or read by a later kernel its
 * buffer just before the first kernel that touches it, launches the kernels in order, and gives back
 * the temporaries (computed only for later kernels) right after their last reader. Which storage is
 * allocated and freed around which kernel depends only on the plan (the key says which storages the
 * program creates and which stay live), so it is worked out once per plan (memoryPlan).
 */
import { allocChecked } from '../typed.js';
import type { Storage } from '../storage.js';
import type { ElementwiseLaunch, View } from '../backend.js';
import { type Program, bind } from './program.js';
import type { Plan, PlannedView } from './plan.js';
import { countLaunch } from './profile.js';
import type { Kernel } from './schedule.js';

/** The storages a kernel writes and reads. */
export const writes = (k: Kernel): readonly Storage[] =>
  (k.kind === 'routine' ? (k.epilogue ? [...k.step.writes, ...writes(k.epilogue)] : k.step.writes) : k.kind === 'reduce' ? [k.out.storage] : [k.out.storage, ...k.outs.map((v) => v.storage)]);
export const reads = (k: Kernel): readonly Storage[] =>
  (k.kind === 'routine' ? (k.epilogue ? [...k.step.reads, ...reads(k.epilogue)] : k.step.reads) : k.kind === 'reduce' ? [k.input.storage] : k.inputs.map((v) => v.storage));

/** The launch counter's name of a kernel (an op's, a routine's, or "fused"). */
const launchName = (k: Kernel): string =>
  (k.kind === 'routine' ? k.step.name : k.kind === 'elementwise' && k.kernel.id.startsWith('fused:') ? 'fused' : k.kernel.id.split(':')[0]!);

/** Around each kernel of a plan: the storages (by position in the program) given memory before it and given back after it. */
export interface MemoryPlan {
  readonly names: readonly string[];
  readonly alloc: readonly (readonly number[])[];
  readonly free: readonly (readonly number[])[];
}

/** The memory plan of `kernels` over the program's storages, of which `created` are the program's own. */
export function memoryPlan(kernels: readonly Kernel[], storages: readonly Storage[], created: ReadonlySet<Storage>): MemoryPlan {
  const at = new Map(storages.map((s, i) => [s, i]));
  const first = new Map<Storage, number>(), last = new Map<Storage, number>();
  kernels.forEach((k, i) => {
    // Written first, then read: a read before any write is of uninitialised memory, as the eager op's empty() was.
    for (const s of [...writes(k), ...reads(k)]) {
      if (!created.has(s)) continue;
      if (!first.has(s)) first.set(s, i);
      last.set(s, i);
    }
  });
  const alloc = kernels.map((): number[] => []), free = kernels.map((): number[] => []);
  for (const [s, i] of first) alloc[i]!.push(at.get(s)!);
  for (const [s, i] of last) if (!s.live) free[i]!.push(at.get(s)!);
  return { names: kernels.map(launchName), alloc, free };
}

function allocate(s: Storage): void {
  if (!s.deferred) return;
  s.materialize(allocChecked('compile', s.dtype, [s.size], () => s.backend.alloc(s.dtype, s.size)));
}

/**
 * Runs a plan over program `p` (whose signature is the plan's) and its `storages`, allocating and
 * freeing as `m` says; the program's created storages still live at the end get memory even when no
 * kernel wrote them (an empty() result). Launches are built straight from the plan: views as numbers
 * bound to this program's buffers, params taken from its steps.
 */
export function execute(plan: Plan, p: Program, storages: readonly Storage[], m: MemoryPlan): void {
  const view = (v: PlannedView): View => { const w = v.view; return { buffer: storages[v.storage]!.buffer, dtype: w.dtype, shape: w.shape, strides: w.strides, offset: w.offset }; };
  const kernels = plan.kernels;
  const launch = (k: Extract<Plan['kernels'][number], { kind: 'elementwise' }>): ElementwiseLaunch => {
    const params = k.paramRefs.map(([at, j]) => (p.steps[at] as { params: readonly number[] }).params[j]!);
    return { shape: k.shape, out: view(k.out), inputs: k.inputs.map(view), params, ...(k.outs.length ? { outs: k.outs.map(view) } : {}) };
  };
  for (let i = 0; i < kernels.length; i++) {
    const k = kernels[i]!;
    const step = p.steps[k.at]!;
    if (k.kind === 'elementwise' && k.group) {
      // A horizontal group (group.ts): its members follow it; one launch runs them all.
      const members = kernels.slice(i, i + k.group) as (typeof k)[];
      for (let j = i; j < i + k.group; j++) for (const s of m.alloc[j]!) allocate(storages[s]!);
      countLaunch(m.names[i]!);
      step.backend.elementwiseGroup!(k.kernel, members.map(launch));
      for (let j = i; j < i + k.group; j++) for (const s of m.free[j]!) storages[s]!.freeTemporary();
      i += k.group - 1;
      continue;
    }
    for (const s of m.alloc[i]!) allocate(storages[s]!);
    countLaunch(m.names[i]!);
    if (k.kind === 'elementwise') {
      step.backend.elementwise(k.kernel, launch(k));
    } else if (step.kind === 'reduce') {
      step.backend.reduce(step.kernel, { outer: step.outer, inner: step.inner, input: bind(step.input), out: bind(step.out), params: step.params });
    } else if (step.kind === 'routine') step.run(k.kind === 'step' && k.epilogue ? { kernel: k.epilogue.kernel, launch: launch(k.epilogue) } : undefined);
    for (const s of m.free[i]!) storages[s]!.freeTemporary();
  }
  for (const s of p.created) if (s.live) allocate(s);
}
