/**
 * The scheduler: turns a recorded program into the kernels that run it. It keeps only the steps whose
 * results are needed (a live tensor holds them, a later needed step reads them, or they write memory
 * that existed before the program), and fuses chains of elementwise steps into one kernel each
 * (fuse.ts), so a value that only flows from one elementwise op to the next never goes to memory.
 */
import { contiguousStrides, numel } from '@tessera/ops';
import { coalesce } from '../layout.js';
import type { Backend, ElementwiseKernel, ReduceKernel } from '../backend.js';
import type { Storage } from '../storage.js';
import { execute } from './execute.js';
import { type FusedKernel, fromStep, inline, opCount, readThrough, toKernel } from './fuse.js';
import { type ElementwiseStep, type Program, type ReduceStep, type RoutineStep, type StorageView, readsOf, setRunner, writesOf } from './program.js';
import { type Plan, instantiate, planOf, programKey } from './plan.js';

/** A kernel to run; `at` is the program step it comes from (for a fused kernel, the last one it computes). */
export type Kernel =
  | { readonly kind: 'elementwise'; readonly at: number; readonly backend: Backend; readonly kernel: ElementwiseKernel; readonly shape: readonly number[]; readonly out: StorageView; readonly inputs: readonly StorageView[]; readonly params: readonly number[]; readonly paramRefs: readonly (readonly [number, number])[] }
  | { readonly kind: 'reduce'; readonly at: number; readonly backend: Backend; readonly kernel: ReduceKernel; readonly outer: readonly number[]; readonly inner: readonly number[]; readonly input: StorageView; readonly out: StorageView; readonly params: readonly number[] }
  | { readonly kind: 'routine'; readonly at: number; readonly step: RoutineStep };

/**
 * Which steps matter, from the end backwards: a step is needed when it writes a storage that existed
 * before the program (an effect), one a live tensor holds, or one a needed later step reads.
 */
export function neededSteps(p: Program): boolean[] {
  const needed = new Set<Storage>();
  const run = new Array<boolean>(p.steps.length).fill(false);
  for (let i = p.steps.length - 1; i >= 0; i--) {
    const s = p.steps[i]!;
    if (!writesOf(s).some((w) => !p.created.has(w) || w.live || needed.has(w))) continue;
    run[i] = true;
    for (const r of readsOf(s)) if (p.created.has(r)) needed.add(r);
  }
  return run;
}

const asKernel = (s: ReduceStep | RoutineStep, at: number): Kernel => (s.kind === 'routine' ? { kind: 'routine', at, step: s } : { ...s, at });

/** A producer with more consumers than this is inlined into each only while its expression is this small. */
const RECOMPUTE_OPS = 12;
const MAX_INPUTS = 16;

const isContiguousWrite = (s: ElementwiseStep): boolean => {
  const c = contiguousStrides(s.shape);
  return s.out.offset === 0 && s.out.strides.every((v, i) => v === c[i] || s.shape[i] === 1) && numel(s.shape) === s.out.storage.size;
};

/** The kernels of a program, in order: the needed steps, with elementwise chains fused. */
export function schedule(p: Program): Kernel[] {
  const run = neededSteps(p);
  const steps = p.steps;
  const writers = new Map<Storage, number[]>(), readers = new Map<Storage, number[]>();
  steps.forEach((s, i) => {
    if (!run[i]) return;
    for (const w of writesOf(s)) (writers.get(w) ?? writers.set(w, []).get(w)!).push(i);
    for (const r of readsOf(s)) (readers.get(r) ?? readers.set(r, []).get(r)!).push(i);
  });
  const writtenBetween = (st: Storage, from: number, to: number): boolean => (writers.get(st) ?? []).some((w) => w > from && w < to);
  const fused: (FusedKernel | undefined)[] = [];
  const kernelOf = (i: number): FusedKernel => (fused[i] ??= fromStep(steps[i] as ElementwiseStep, i));
  const removed = new Set<number>();

  steps.forEach((s, i) => {
    if (!run[i] || s.kind !== 'elementwise') return;
    const out = s.out.storage;
    // Only a value nobody keeps, computed whole by this one step, can live in registers instead of memory.
    if (!p.created.has(out) || out.live || writers.get(out)!.length !== 1 || !isContiguousWrite(s)) return;
    const consumers = [...new Set(readers.get(out) ?? [])];
    if (!consumers.length || consumers.some((c) => c <= i || steps[c]!.kind !== 'elementwise')) return;
    const k = kernelOf(i);
    if (consumers.length > 1 && opCount(k.expr) > RECOMPUTE_OPS) return;
    const plans: [FusedKernel, Map<number, StorageView[]>][] = [];
    for (const c of consumers) {
      const kc = kernelOf(c);
      const reads = new Map<number, StorageView[]>();
      for (let at = 0; at < kc.leaves.length; at++) {
        if (kc.leaves[at]!.storage !== out) continue;
        const views = readThrough(k, kc, at);
        if (!views) return;
        reads.set(at, views);
      }
      // The producer's reads move to the consumer: nothing may write what it reads in between, and
      // an in-place consumer may read its own output only at the very place it writes.
      if (k.leaves.some((l) => writtenBetween(l.storage, i, c))) return;
      if ([...reads.values()].flat().some((v) => v.storage === kc.out.storage && (v.offset !== kc.out.offset || v.strides.some((st, d) => st !== kc.out.strides[d])))) return;
      if (kc.leaves.length - reads.size + k.leaves.length * reads.size > (kc.backend.maxKernelInputs ?? MAX_INPUTS)) return;
      plans.push([kc, reads]);
    }
    for (const [kc, reads] of plans) inline(k, kc, reads);
    removed.add(i);
  });

  const kernels: Kernel[] = [];
  steps.forEach((s, i) => {
    if (!run[i] || removed.has(i)) return;
    if (s.kind !== 'elementwise') { kernels.push(asKernel(s, i)); return; }
    const k = fused[i] ?? fromStep(s, i);
    // Dims every view walks contiguously merge into one (as the eager dispatcher's launches), so the kernel's loop nest is shallow.
    const lay = coalesce(k.shape, [k.out.strides, ...k.leaves.map((l) => l.strides)]);
    const at = (v: StorageView, j: number): StorageView => ({ ...v, shape: lay.shape, strides: lay.strides[j]! });
    kernels.push({ kind: 'elementwise', at: i, backend: k.backend, kernel: toKernel(k), shape: lay.shape, out: at(k.out, 0), inputs: k.leaves.map((l, j) => at(l, j + 1)), params: k.params, paramRefs: k.paramRefs });
  });
  return kernels;
}

/** What onProgramRun reports of each program: its size and the kernels it runs. */
export interface ProgramRun { readonly steps: number; readonly kernels: number; readonly schedule: readonly Kernel[] }
const listeners = new Set<(r: ProgramRun) => void>();
/** Calls fn with each program as it runs (explain, codegen); returns the function that stops it. */
export function onProgramRun(fn: (r: ProgramRun) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Schedules of programs seen before, by their structure (plan.ts): most recent last. */
const plans = new Map<string, Plan>();
const MAX_PLANS = 64;

/**
 * Runs a program: schedules it, or, when a program of the same structure ran before (the same
 * step of a training loop), takes that schedule with this program's storages and scalars.
 */
export function runProgram(p: Program): void {
  const { key, storages } = programKey(p);
  let plan = plans.get(key);
  let kernels: Kernel[];
  if (plan) {
    plans.delete(key);
    kernels = instantiate(plan, p, storages);
  } else {
    kernels = schedule(p);
    plan = planOf(kernels, storages);
    if (plans.size >= MAX_PLANS) plans.delete(plans.keys().next().value!);
  }
  plans.set(key, plan);
  for (const l of listeners) l({ steps: p.steps.length, kernels: kernels.length, schedule: kernels });
  execute(kernels, p.created);
}

setRunner(runProgram);
