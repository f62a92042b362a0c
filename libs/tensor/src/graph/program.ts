/**
 * Deferred execution: while a program is being recorded (compile, `deferred()`), the dispatcher
 * records each launch as a step over storages instead of running it; outputs are deferred storages
 * with no buffer yet. The program runs when a buffer is first needed (a read, a routine outside the
 * program), or when the compiled call ends: then the scheduler (schedule.ts) fuses the steps into
 * few kernels, computes what is live, and runs them. Eager execution is a program of one step.
 */
import type { DType } from '@tessera/ops';
import type { Backend, ElementwiseKernel, Epilogue, ReduceKernel, View } from '../backend.js';
import { Storage, setRealizer } from '../storage.js';

/** A strided window of a storage, as a step reads or writes it: a View whose buffer is bound when it runs. */
export interface StorageView extends Omit<View, 'buffer'> {
  readonly storage: Storage;
}

export interface ElementwiseStep {
  readonly kind: 'elementwise';
  readonly backend: Backend;
  readonly kernel: ElementwiseKernel;
  readonly shape: readonly number[];
  readonly out: StorageView;
  readonly inputs: readonly StorageView[];
  readonly params: readonly number[];
}

export interface ReduceStep {
  readonly kind: 'reduce';
  readonly backend: Backend;
  readonly kernel: ReduceKernel;
  readonly outer: readonly number[];
  readonly inner: readonly number[];
  readonly input: StorageView;
  readonly out: StorageView;
  readonly params: readonly number[];
}

/** A routine (matmul, conv2d, ...): an opaque kernel over the storages it reads and writes. */
export interface RoutineStep {
  readonly kind: 'routine';
  readonly backend: Backend;
  readonly name: string;
  readonly reads: readonly Storage[];
  readonly writes: readonly Storage[];
  /**
   * Runs the routine; with `epilogue`, only where `takesEpilogue`: the routine writes its first
   * storage (`writes[0]`) whole, row-major from element 0, and runs the epilogue over it as it goes
   * (its other writes, such as layerNorm's weight and bias gradients, are done only at its end).
   */
  readonly run: (epilogue?: Epilogue) => void;
  readonly takesEpilogue?: boolean;
}

export type Step = ElementwiseStep | ReduceStep | RoutineStep;

/** What a program reads and writes at each step, in order. */
export const writesOf = (s: Step): readonly Storage[] => (s.kind === 'routine' ? s.writes : [s.out.storage]);
export const readsOf = (s: Step): readonly Storage[] => (s.kind === 'routine' ? s.reads : s.kind === 'reduce' ? [s.input.storage] : s.inputs.map((v) => v.storage));

/** The steps recorded since the last run, and the storages they created (deferred). */
export class Program {
  readonly steps: Step[] = [];
  readonly created = new Set<Storage>();
}

/** Why a program ran before its compiled call ended: what explain() reports as graph breaks. */
export interface Break { readonly reason: string; readonly stack?: string }

// TESSERA_DEFER_ALL=1 defers every launch until a value is read (a test mode of the deferred machinery).
let recording = process.env['TESSERA_DEFER_ALL'] === '1' ? 1 : 0;
let pending: Program | undefined;
let runner: ((p: Program) => void) | undefined;
let onBreak: ((b: Break) => void) | undefined;

/** Whether launches are recorded rather than run. */
export const deferring = (): boolean => recording > 0;

/** The program steps go to (created on first use). */
export function program(): Program {
  return (pending ??= new Program());
}

/** A new deferred storage for a step's output. */
export function deferredStorage(backend: Backend, dtype: DType, size: number): Storage {
  const s = new Storage(backend, undefined, dtype, size);
  s.deferred = true;
  program().created.add(s);
  return s;
}

/** Takes (`take`) or lets go of a step's holds on what it reads and writes; allocates nothing, as every step of every compiled call passes here twice. */
function holds(step: Step, take: boolean): void {
  const touch = take ? holdFor : releaseFrom;
  if (step.kind === 'routine') {
    for (const s of step.reads) touch(s, false);
    for (const s of step.writes) touch(s, true);
    return;
  }
  if (step.kind === 'reduce') touch(step.input.storage, false);
  else for (const v of step.inputs) touch(v.storage, false);
  touch(step.out.storage, true);
}
const holdFor = (s: Storage, writes: boolean): void => s.holdForStep(writes);
const releaseFrom = (s: Storage, writes: boolean): void => s.releaseFromStep(writes);

/** Records a step; it holds the storages it reads and writes until the program has run. */
export function recordStep(step: Step): void {
  holds(step, true);
  program().steps.push(step);
}

/** Lets go of the steps' holds once the program has run (a storage nobody else holds is freed then). */
export function releaseSteps(p: Program): void {
  for (const step of p.steps) holds(step, false);
}

/** Installs the function that runs a program (the scheduler; kept apart to keep imports one-way). */
export function setRunner(fn: (p: Program) => void): void { runner = fn; }

/** Runs what is pending now; `reason` says why it could not wait for the end of the compiled call. */
export function runPending(reason?: string): void {
  const p = pending;
  if (!p) return;
  pending = undefined;
  if (reason && recording > 0 && onBreak) onBreak({ reason, stack: new Error().stack });
  // Steps run eagerly: what a routine computes internally is not recorded into another program.
  const saved = recording;
  recording = 0;
  try {
    runner!(p);
  } finally {
    recording = saved;
    releaseSteps(p);
  }
}

/** Runs fn with launches deferred; what is pending when it returns runs then (unless a caller defers too). */
export function withDeferred<T>(fn: () => T, breaks?: (b: Break) => void): T {
  const savedBreak = onBreak;
  if (breaks) onBreak = breaks;
  recording++;
  try {
    return fn();
  } finally {
    recording--;
    onBreak = savedBreak;
  }
}

// A deferred storage's buffer is asked for: run everything pending (a read in the middle of a compiled call is a break).
setRealizer(() => runPending('a value was read (data, item, a synchronous read) or a buffer was needed outside the program'));

/** A storage view as a launch takes it: the storage's buffer, which must exist by then. */
export function bind(v: StorageView): View {
  return { buffer: v.storage.buffer, dtype: v.dtype, shape: v.shape, strides: v.strides, offset: v.offset };
}
