/**
 * tsr.compile(fn): runs fn with every launch deferred into one program, then schedules the program
 * into few fused kernels (graph/) and runs it. Like tidy(), what fn creates and neither returns nor
 * hands to an owner (a parameter, a .grad, optimizer state) is not kept: such intermediates are never
 * written to memory at all when they only feed later elementwise ops. JS code in fn runs on every
 * call, so its side effects (a .grad assigned, a step counter) happen as eagerly; a value read inside
 * fn (item(), data()) runs what is pending there: a graph break, which explain() reports.
 */
import { ArgumentError, describe } from '@tessera/ops';
import { type Break, deferring, runPending, withDeferred } from './graph/program.js';
import { type PlanSource, onProgramRun } from './graph/schedule.js';
import { tidy } from './scope.js';

/** Runs fn(...args) as one deferred program (or more, where fn reads a value). */
function runCompiled<A extends unknown[], R>(fn: (...args: A) => R, args: A, breaks?: (b: Break) => void): R {
  const result = tidy(() => withDeferred(() => fn(...args), breaks));
  // The program runs once tidy has dropped what fn made for itself: their results need no memory.
  if (!deferring()) runPending();
  return result;
}

/** What compile takes besides a function: a module (anything with a forward method), as torch.compile(model). */
interface HasForward { forward(...args: never[]): unknown }

/**
 * A function with fn's signature and results whose calls run as fused programs; or, given a module,
 * the module with its forward compiled (torch.compile(model)): the same object seen through a proxy,
 * so its parameters, train()/eval() and state dict are the module's own, and its other methods
 * (generate, say) call the compiled forward. Only the forward is captured there: a backward() called
 * after it runs eagerly; compile the whole step (forward, backward, optimizer) to fuse it all.
 */
export function compile<M extends HasForward>(module: M): M;
export function compile<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
export function compile(target: unknown): unknown {
  if (typeof target === 'object' && target !== null && typeof (target as HasForward).forward === 'function') {
    const module = target as { forward(...args: unknown[]): unknown };
    const forward = compile((...args: unknown[]) => module.forward(...args));
    return new Proxy(module, { get: (t, k, receiver) => (k === 'forward' ? forward : Reflect.get(t, k, receiver)) });
  }
  if (typeof target !== 'function') throw new ArgumentError('compile', `expected a function or a module, got ${describe(target)}`);
  const fn = target as (...args: unknown[]) => unknown;
  return (...args: unknown[]) => runCompiled(fn, args);
}

/** One program explain() saw run: how many launches it fused into how many kernels. */
export interface ProgramReport {
  /** Launches the program was recorded as (eager execution would have made this many). */
  readonly steps: number;
  /** Kernels it ran as. */
  readonly kernels: number;
  /** Where its plan came from: scheduled now, or a program of its structure ran before, in this process ('memory') or another ('disk'). */
  readonly plan: PlanSource;
}

/** What explain() returns: the call's result, its programs, and the graph breaks between them. */
export interface Explanation<R> {
  /** What fn returned. */
  readonly result: R;
  /** Each program the call ran, in order: more than one means graph breaks. */
  readonly programs: readonly ProgramReport[];
  /** Why each program before the last could not wait for the end of the call. */
  readonly breaks: readonly Break[];
}

/** Runs fn(...args) compiled and reports its programs and graph breaks, as torch._dynamo.explain. */
export function explain<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Explanation<R> {
  const programs: ProgramReport[] = [], breaks: Break[] = [];
  const stop = onProgramRun((r) => programs.push({ steps: r.steps, kernels: r.kernels, plan: r.plan }));
  try {
    const result = runCompiled(fn, args, (b) => breaks.push(b));
    return { result, programs, breaks };
  } finally {
    stop();
  }
}
