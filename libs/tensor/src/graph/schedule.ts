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
import { type MemoryPlan, execute, memoryPlan } from './execute.js';
import { type FusedKernel, fromStep, inline, opCount, readThrough, toKernel } from './fuse.js';
import { sameElements } from './views.js';
import { type ElementwiseStep, type Program, type ReduceStep, type RoutineStep, type StorageView, readsOf, setRunner, writesOf } from './program.js';
import { type Plan, Signature, type SignatureNumbers, instantiate, planOf, sameSignature } from './plan.js';
import { loadPlan, storePlan } from './disk-cache.js';
import { groupLaunches } from './group.js';
import { attachEpilogues } from './epilogue.js';

/** A kernel to run; `at` is the program step it comes from (for a fused kernel, the last one it computes). */
export type Kernel =
  | {
    readonly kind: 'elementwise'; readonly at: number; readonly backend: Backend; readonly kernel: ElementwiseKernel; readonly shape: readonly number[]; readonly out: StorageView; readonly outs: readonly StorageView[]; readonly inputs: readonly StorageView[]; readonly params: readonly number[]; readonly paramRefs: readonly (readonly [number, number])[];
    /** On the first kernel of a horizontal group (group.ts): how many kernels, it and those after it, run as its one launch. */
    readonly group?: number;
  }
  | { readonly kind: 'reduce'; readonly at: number; readonly backend: Backend; readonly kernel: ReduceKernel; readonly outer: readonly number[]; readonly inner: readonly number[]; readonly input: StorageView; readonly out: StorageView; readonly params: readonly number[] }
  | {
    readonly kind: 'routine'; readonly at: number; readonly step: RoutineStep;
    /** An elementwise kernel the routine runs over its result in its launch (epilogue.ts). */
    readonly epilogue?: Extract<Kernel, { kind: 'elementwise' }>;
  };

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

/** Storages up to this size are checked for fills that later writes cover (a bitmap of them at schedule time). */
const MAX_COVER = 1 << 22;

/**
 * Drops fills nobody sees: a step of no inputs that writes its whole storage (zeros for a gradient
 * assembled piece by piece) whose every element needed elementwise steps overwrite before any step
 * reads the storage. Checked element by element, once per plan.
 */
function dropDeadFills(p: Program, run: boolean[]): void {
  p.steps.forEach((s, i) => {
    if (!run[i] || s.kind !== 'elementwise' || s.inputs.length || !isContiguousWrite(s)) return;
    const target = s.out.storage;
    if (target.size > MAX_COVER) return;
    const seen = new Uint8Array(target.size);
    let covered = 0;
    for (let j = i + 1; j < p.steps.length && covered < target.size; j++) {
      const w = p.steps[j]!;
      if (!run[j]) continue;
      if (readsOf(w).includes(target)) return;
      if (!writesOf(w).includes(target)) continue;
      if (w.kind !== 'elementwise') return; // where a routine or reduction writes is not known here
      covered += mark(seen, w.shape, w.out.strides, w.out.offset);
    }
    if (covered === target.size) run[i] = false;
  });
}

/**
 * Marks in `seen` the storage elements a view of `shape` covers; returns how many were unmarked.
 * Dims are merged first, so a run of consecutive elements (a slice of rows) is one plain loop.
 */
function mark(seen: Uint8Array, shape: readonly number[], strides: readonly number[], offset: number): number {
  const lay = coalesce(shape, [strides]);
  const dims = lay.shape, st = lay.strides[0]!, r = dims.length;
  if (dims.includes(0)) return 0;
  const inner = r ? dims[r - 1]! : 1, step = r ? st[r - 1]! : 0;
  const idx = new Array<number>(r).fill(0);
  let base = offset, fresh = 0;
  for (let row = numel(dims) / inner; row > 0; row--) {
    for (let k = 0, o = base; k < inner; k++, o += step) if (!seen[o]) { seen[o] = 1; fresh++; }
    for (let d = r - 2; d >= 0; d--) {
      if (++idx[d]! < dims[d]!) { base += st[d]!; break; }
      base -= (dims[d]! - 1) * st[d]!;
      idx[d] = 0;
    }
  }
  return fresh;
}

const asKernel = (s: ReduceStep | RoutineStep, at: number): Kernel => (s.kind === 'routine' ? { kind: 'routine', at, step: s } : { ...s, at });

/** A producer with more consumers than this is inlined into each only while its expression is this small. */
const RECOMPUTE_OPS = 12;
const MAX_INPUTS = 16;

const sameShape = (a: FusedKernel, b: FusedKernel): boolean => a.shape.length === b.shape.length && a.shape.every((d, j) => d === b.shape[j]);

/** The views a consumer writes once a producer is fused in (and stored, with `store`). */
const written = (consumer: FusedKernel, producer: FusedKernel, store: boolean): StorageView[] =>
  [consumer.out, ...consumer.extra.map((e) => e.out), ...producer.extra.map((e) => e.out), ...(store ? [producer.out] : [])];

/**
 * Whether one elementwise pass over `shape` may read `reads` while writing `writes`: element by
 * element, each read of a written storage must be of the element being written there, and two
 * writes to one storage must address the same elements.
 */
const onePass = (shape: readonly number[], writes: readonly StorageView[], reads: readonly StorageView[]): boolean =>
  [...reads, ...writes].every((r) => writes.every((w) => w.storage !== r.storage || sameElements(shape, r, w)));

const isContiguousWrite = (s: ElementwiseStep): boolean => {
  const c = contiguousStrides(s.shape);
  return s.out.offset === 0 && s.out.strides.every((v, i) => v === c[i] || s.shape[i] === 1) && numel(s.shape) === s.out.storage.size;
};

/** The kernels of a program, in order: the needed steps, with elementwise chains fused. */
export function schedule(p: Program): Kernel[] {
  const run = neededSteps(p);
  dropDeadFills(p, run);
  const steps = p.steps;
  const writers = new Map<Storage, number[]>(), readers = new Map<Storage, number[]>();
  steps.forEach((s, i) => {
    if (!run[i]) return;
    for (const w of writesOf(s)) (writers.get(w) ?? writers.set(w, []).get(w)!).push(i);
    for (const r of readsOf(s)) (readers.get(r) ?? readers.set(r, []).get(r)!).push(i);
  });
  const writtenBetween = (st: Storage, from: number, to: number): boolean => (writers.get(st) ?? []).some((w) => w > from && w < to);
  const readBetween = (st: Storage, from: number, to: number): boolean => (readers.get(st) ?? []).some((r) => r > from && r < to);
  /**
   * Whether kernel k (so far at step i) may run at step c instead: nothing in between writes what it
   * reads, and nothing in between reads or writes what it stores besides its result (its further
   * results, which move with it).
   */
  const movable = (k: FusedKernel, i: number, c: number): boolean =>
    !k.leaves.some((l) => writtenBetween(l.storage, i, c)) && !k.extra.some((e) => writtenBetween(e.out.storage, i, c) || readBetween(e.out.storage, i, c));
  const fused: (FusedKernel | undefined)[] = [];
  const kernelOf = (i: number): FusedKernel => (fused[i] ??= fromStep(steps[i] as ElementwiseStep, i));
  const removed = new Set<number>();

  /** Whether kernel k's backend takes a kernel of `leaves` inputs storing `results` results. */
  const fits = (k: FusedKernel, leaves: number, results: number): boolean =>
    leaves <= (k.backend.maxKernelInputs ?? MAX_INPUTS) && leaves + results <= (k.backend.maxKernelBuffers ?? Infinity) && results <= (k.backend.maxKernelOutputs ?? Infinity);
  steps.forEach((s, i) => {
    if (!run[i] || s.kind !== 'elementwise') return;
    if (!inlineProducer(i, s)) storeProducer(i, s);
  });

  /**
   * Inlines step i into every consumer when its value is needed nowhere else: nobody keeps it and
   * this one step computes it whole, so it can live in registers instead of memory.
   */
  function inlineProducer(i: number, s: ElementwiseStep): boolean {
    const out = s.out.storage;
    if (!p.created.has(out) || out.live || writers.get(out)!.length !== 1 || !isContiguousWrite(s)) return false;
    const consumers = [...new Set(readers.get(out) ?? [])];
    if (!consumers.length || consumers.some((c) => c <= i || steps[c]!.kind !== 'elementwise')) return false;
    const k = kernelOf(i);
    // Recomputed in each consumer only while small, and never with results of its own to store.
    if (consumers.length > 1 && (opCount(k.expr) > RECOMPUTE_OPS || k.extra.length)) return false;
    const plans: [FusedKernel, Map<number, StorageView[]>][] = [];
    for (const c of consumers) {
      const kc = kernelOf(c);
      const reads = new Map<number, StorageView[]>();
      for (let at = 0; at < kc.leaves.length; at++) {
        if (kc.leaves[at]!.storage !== out) continue;
        // Further results the producer carries are stored in its own index space: only where the
        // consumer's is the same and it reads the value where it was written.
        if (k.extra.length && !(sameShape(k, kc) && sameElements(k.shape, kc.leaves[at]!, k.out))) return false;
        const shape = kc.shape;
        const views = readThrough(k, kc, at);
        if (!views) return false;
        // readThrough refined the consumer's shape: the views found for earlier inputs are over the old one.
        if (kc.shape !== shape && reads.size) { reads.clear(); at = -1; continue; }
        reads.set(at, views);
      }
      // The producer moves to the consumer.
      if (!movable(k, i, c)) return false;
      if (!onePass(kc.shape, written(kc, k, false), [...kc.leaves.filter((_, at) => !reads.has(at)), ...[...reads.values()].flat()])) return false;
      if (!fits(kc, kc.leaves.length - reads.size + k.leaves.length * reads.size, 1 + kc.extra.length + k.extra.length)) return false;
      plans.push([kc, reads]);
    }
    for (const [kc, reads] of plans) inline(k, kc, reads);
    removed.add(i);
    return true;
  }

  /**
   * Fuses step i into its first reader c when the value must still reach memory (it is kept, or
   * read again later): c's pass computes it where it reads it and also stores it, so the value is
   * never read back. Only on backends whose kernels store several results (multiOutput), where c
   * reads the value exactly where step i writes it, and nothing between them writes what step i
   * reads or writes, or reads what it writes.
   */
  function storeProducer(i: number, s: ElementwiseStep): void {
    const out = s.out.storage;
    const c = (readers.get(out) ?? []).find((r) => r > i);
    if (c === undefined || steps[c]!.kind !== 'elementwise' || !s.backend.multiOutput) return;
    const k = kernelOf(i), kc = kernelOf(c);
    if (kc.backend !== k.backend || !sameShape(k, kc)) return;
    const reads = new Map<number, StorageView[]>();
    for (let at = 0; at < kc.leaves.length; at++) {
      const l = kc.leaves[at]!;
      if (l.storage !== out) continue;
      if (!sameElements(k.shape, l, k.out)) return;
      reads.set(at, k.leaves);
    }
    if (writtenBetween(out, i, c) || !movable(k, i, c)) return;
    // Written again by c itself (an in-place chain): the value is then c's input only, not stored.
    const overwritten = kc.out.storage === out;
    if (overwritten && !sameElements(k.shape, kc.out, k.out)) return;
    if (!onePass(kc.shape, written(kc, k, !overwritten), [...kc.leaves.filter((_, at) => !reads.has(at)), ...k.leaves])) return;
    if (!fits(kc, kc.leaves.length - reads.size + k.leaves.length, 1 + kc.extra.length + k.extra.length + (overwritten ? 0 : 1))) return;
    inline(k, kc, reads, !overwritten);
    removed.add(i);
  }
  const kernels: Kernel[] = [];
  steps.forEach((s, i) => {
    if (!run[i] || removed.has(i)) return;
    if (s.kind !== 'elementwise') { kernels.push(asKernel(s, i)); return; }
    const k = fused[i] ?? fromStep(s, i);
    // Dims every view walks contiguously merge into one (as the eager dispatcher's launches), so the kernel's loop nest is shallow.
    const lay = coalesce(k.shape, [k.out.strides, ...k.extra.map((e) => e.out.strides), ...k.leaves.map((l) => l.strides)]);
    const at = (v: StorageView, j: number): StorageView => ({ ...v, shape: lay.shape, strides: lay.strides[j]! });
    const n = 1 + k.extra.length;
    kernels.push({
      kind: 'elementwise', at: i, backend: k.backend, kernel: toKernel(k), shape: lay.shape, out: at(k.out, 0), outs: k.extra.map((e, j) => at(e.out, j + 1)),
      inputs: k.leaves.map((l, j) => at(l, j + n)), params: k.params, paramRefs: k.paramRefs,
    });
  });
  return kernels;
}

/** Where a program's plan came from: scheduled now, or a program of its structure ran before (in this process or, from disk, in another). */
export type PlanSource = 'scheduled' | 'memory' | 'disk';
/** What onProgramRun reports of each program: its size, its launches (`kernels`; a horizontal group is one), the kernels it runs and where its plan came from. */
export interface ProgramRun { readonly steps: number; readonly kernels: number; readonly schedule: readonly Kernel[]; readonly plan: PlanSource }
const listeners = new Set<(r: ProgramRun) => void>();
/** Calls fn with each program as it runs (explain, codegen); returns the function that stops it. */
export function onProgramRun(fn: (r: ProgramRun) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Schedules of programs seen before, by signature hash (plan.ts), with their memory plans: most recent last. */
interface Cached { readonly sig: SignatureNumbers; readonly plan: Plan; readonly memory: MemoryPlan }
const plans = new Map<number, Cached[]>();
let cachedPlans = 0;
const MAX_PLANS = 64;

function remember(c: Cached): void {
  if (cachedPlans >= MAX_PLANS) {
    // The least recently used: the first entry of the map's first hash.
    const [hash, list] = plans.entries().next().value!;
    list.shift();
    if (!list.length) plans.delete(hash);
    cachedPlans--;
  }
  plans.set(c.sig.hash, [...(plans.get(c.sig.hash) ?? []), c]);
  cachedPlans++;
}

/** The cached plan of a program with signature `sig`, taken out of the cache (put back as most recent by remember). */
function recall(sig: SignatureNumbers): Cached | undefined {
  const list = plans.get(sig.hash);
  const at = list?.findIndex((c) => sameSignature(c.sig, sig)) ?? -1;
  if (at < 0) return undefined;
  const [c] = list!.splice(at, 1);
  if (!list!.length) plans.delete(sig.hash);
  cachedPlans--;
  return c;
}

/**
 * Runs a program: schedules it, or, when a program of the same structure ran before (the same
 * step of a training loop), takes that schedule with this program's storages and scalars: from
 * memory, or from disk when another process ran it (disk-cache.ts).
 */
export function runProgram(p: Program): void {
  const sig = new Signature(p);
  const { storages } = sig;
  let cached = recall(sig.numbers());
  let source: PlanSource = 'memory';
  let kernels: Kernel[] | undefined;
  if (!cached) {
    const key = sig.text();
    let plan = loadPlan(key, p, storages.length);
    if (plan) {
      source = 'disk';
      kernels = instantiate(plan, p, storages);
    } else {
      source = 'scheduled';
      kernels = groupLaunches(attachEpilogues(schedule(p)));
      plan = planOf(kernels, storages);
      storePlan(key, p, plan);
    }
    cached = { sig: sig.numbers(), plan, memory: memoryPlan(kernels, storages, p.created) };
  }
  remember(cached);
  if (listeners.size) {
    const ks = kernels ?? instantiate(cached.plan, p, storages);
    // Launches: a horizontal group's members run in its first kernel's launch.
    const launches = ks.reduce((n, k) => n - (k.kind === 'elementwise' && k.group ? k.group - 1 : 0), ks.length);
    for (const l of listeners) l({ steps: p.steps.length, kernels: launches, schedule: ks, plan: source });
  }
  execute(cached.plan, p, storages, cached.memory);
}

setRunner(runProgram);
