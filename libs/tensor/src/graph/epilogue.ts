/**
 * Epilogue fusion: an elementwise kernel that reads a routine's result where the routine writes it
 * (a matmul's bias add and activation, a residual add) runs inside the routine's launch, over each
 * block of the result as the routine completes it, while the block is still in cache: one launch
 * and one pass over memory fewer. The routine must take epilogues (RoutineStep.takesEpilogue: it
 * writes its first storage whole, row-major from element 0) and its backend must fuse this kernel
 * (Backend.fusesEpilogue). The kernel moves up to the routine, so nothing between them may write
 * what it reads or touch what it writes, and the routine may not read what the kernel writes (the
 * routine's later blocks would see it).
 */
import { numel } from '@tessera/ops';
import type { Storage } from '../storage.js';
import { conflict } from './group.js';
import type { StorageView } from './program.js';
import { sameElements } from './views.js';
import type { Kernel } from './schedule.js';

type Elementwise = Extract<Kernel, { kind: 'elementwise' }>;
type Routine = Extract<Kernel, { kind: 'routine' }>;

/**
 * Whether view v reads storage `s` block by block over `shape`: index j of the outermost dim
 * touches exactly elements [j u, (j + 1) u) of s (u: the elements under one index), in any order
 * within (its inner dims a permutation of a dense layout: heads transposed back, say). The routine
 * can then run the epilogue over any range of outer indices once it has written their blocks.
 */
function blockwise(v: StorageView, shape: readonly number[], s: Storage): boolean {
  if (v.storage !== s || v.offset !== 0 || !shape.length || numel(shape) !== s.size) return false;
  const unit = numel(shape.slice(1));
  if (shape[0]! > 1 && v.strides[0] !== unit) return false;
  const inner = shape.slice(1).map((n, d) => [n, v.strides[d + 1]!] as const).filter(([n]) => n > 1).sort((a, b) => a[1] - b[1]);
  let dense = 1;
  for (const [n, stride] of inner) {
    if (stride !== dense) return false;
    dense *= n;
  }
  return true;
}

/** Whether elementwise kernel `k` can be routine `r`'s epilogue (not yet asking whether anything between them conflicts). */
function fits(r: Routine, k: Elementwise): boolean {
  const s = r.step;
  if (!s.takesEpilogue || !s.writes.length || s.backend !== k.backend) return false;
  const [result, ...later] = s.writes as [Storage, ...Storage[]];
  const views = [...k.inputs, k.out, ...k.outs];
  // What the routine writes only at its end is not there yet while it runs the epilogue.
  if (views.some((v) => later.includes(v.storage))) return false;
  // It reads the result (else it has no business here) block by block, through one view: each
  // element it reads or writes there is the one it computes, so a backend that runs it per element
  // as the routine stores that element (WGSL) never reads one another thread has yet to store.
  const onResult = views.filter((v) => v.storage === result);
  if (!k.inputs.some((v) => v.storage === result) || !onResult.every((v) => blockwise(v, k.shape, result))) return false;
  if (onResult.some((v) => !sameElements(k.shape, v, onResult[0]!))) return false;
  // The routine's later blocks must not see what the kernel writes (its result in place excepted).
  if ([k.out, ...k.outs].some((v) => v.storage !== result && s.reads.includes(v.storage))) return false;
  return k.backend.fusesEpilogue?.(s.name, result.dtype, k.kernel) ?? false;
}

/** `kernels` with each elementwise kernel that can be a routine's epilogue moved into that routine's launch. */
export function attachEpilogues(kernels: readonly Kernel[]): Kernel[] {
  const out: Kernel[] = [];
  for (const k of kernels) {
    if (k.kind === 'elementwise' && !k.group) {
      const at = routineFor(out, k);
      if (at !== undefined) {
        out[at] = { ...(out[at] as Routine), epilogue: k };
        continue;
      }
    }
    out.push(k);
  }
  return out;
}

/** Where in `done` the routine is whose epilogue `k` can be: scanning back over the kernels it can move above. */
function routineFor(done: readonly Kernel[], k: Elementwise): number | undefined {
  for (let i = done.length - 1; i >= 0; i--) {
    const d = done[i]!;
    if (d.kind === 'routine' && !d.epilogue && fits(d, k)) return i;
    if (conflict(d, k)) return undefined;
  }
  return undefined;
}
