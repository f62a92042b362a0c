/**
 * Grad mode: whether ops record onto the tape (torch.no_grad / enable_grad).
 *
 * A synchronous scope flips one flag and restores it, which is all the hot path pays for. An async
 * function outlives its call: after its first await the caller's code runs, then the function
 * resumes. Its mode therefore lives in an AsyncLocalStorage frame that follows it through awaits
 * (and does not leak into the caller's code in between); synchronous scopes nested inside it set
 * that frame's flag instead of the global one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ArgumentError, describe } from '@tessera/ops';

interface Frame { enabled: boolean }

let enabled = true;
/** Async scopes still running: while none is, the frame is never looked up. */
let asyncScopes = 0;
const frames = new AsyncLocalStorage<Frame>();

const frame = (): Frame | undefined => (asyncScopes > 0 ? frames.getStore() : undefined);

/** Whether ops are being recorded for autograd here (torch.is_grad_enabled), honouring async scopes. */
export const isGradEnabled = (): boolean => frame()?.enabled ?? enabled;

const isAsyncFunction = (fn: unknown): boolean => typeof fn === 'function' && fn.constructor?.name === 'AsyncFunction';
const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === 'function';

function withMode<T>(op: string, mode: boolean, fn: () => T): T {
  if (typeof fn !== 'function') throw new ArgumentError(op, `expected a function, got ${describe(fn)}`);
  if (isAsyncFunction(fn)) {
    asyncScopes++;
    const done = () => { asyncScopes--; };
    const p = frames.run({ enabled: mode }, fn) as unknown as Promise<unknown>;
    return p.then((v) => { done(); return v; }, (e: unknown) => { done(); throw e; }) as T;
  }
  const f = frame();
  const prev = f ? f.enabled : enabled;
  if (f) f.enabled = mode;
  else enabled = mode;
  let result: T;
  try {
    result = fn();
  } finally {
    if (f) f.enabled = prev;
    else enabled = prev;
  }
  if (isThenable(result)) {
    throw new ArgumentError(op, 'a function that is not declared async returned a promise: its code after an await would run with the wrong grad mode; declare it async');
  }
  return result;
}

/** Runs fn without recording gradients (inference, optimizer updates); an async fn keeps the mode across its awaits. */
export const noGrad = <T>(fn: () => T): T => withMode('noGrad', false, fn);
/** Runs fn with recording on, e.g. inside a noGrad region. */
export const enableGrad = <T>(fn: () => T): T => withMode('enableGrad', true, fn);
