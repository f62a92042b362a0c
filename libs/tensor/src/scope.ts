/**
 * tidy(): tensors created inside a scope are disposed when it ends, except those it returns (or
 * that are passed to keep()). Scopes nest.
 */
import { ArgumentError, describe } from '@tessera/ops';

/**
 * What scopes hold; `kept` marks what keep() exempted (a field, not a WeakSet: a training step keeps every new .grad).
 */
interface Disposable { dispose(): void; readonly isDisposed: boolean; kept: boolean }

const scopes: Set<Disposable>[] = [];

export function track(t: Disposable): void {
  scopes[scopes.length - 1]?.add(t);
}

/**
 * Runs fn with the tensors it creates collected into `into` instead of the enclosing scope: how the
 * autograd engine finds its own temporaries. Ones it does not dispose go back with handBack().
 */
export function collecting<T>(into: Set<Disposable>, fn: () => T): T {
  scopes.push(into);
  try {
    return fn();
  } finally {
    scopes.pop();
  }
}

/** Hands a collected tensor to the enclosing scope, as tidy() does with what it returns. */
export function handBack(t: Disposable): void {
  scopes[scopes.length - 1]?.add(t);
}

/**
 * Exempts t from every scope, now and when it ends: what the caller owns beyond the scope
 * (parameters, buffers, optimizer state, a leaf's .grad) is kept this way.
 */
export function keep<T extends Disposable>(t: T): T {
  t.kept = true;
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, into: Set<unknown>): void {
  if (value && typeof value === 'object') {
    if ('dispose' in value) into.add(value);
    else if (Array.isArray(value)) value.forEach((v) => collect(v, into));
    else if (Object.getPrototypeOf(value) === Object.prototype) Object.values(value).forEach((v) => collect(v, into));
  }
}

/** An `async` function (or one returning a promise): a scope cannot follow it past its first await. */
const isAsync = (fn: unknown): boolean => typeof fn === 'function' && fn.constructor?.name === 'AsyncFunction';
const isThenable = (v: unknown): boolean => typeof (v as { then?: unknown } | null)?.then === 'function';

/**
 * Runs `fn` and disposes every tensor it made except those it returns or keep() marked (tf.tidy); `fn` must be
 * synchronous.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ArgumentError('tidy', `expected a function, got ${describe(fn)}`);
  if (isAsync(fn)) throw new ArgumentError('tidy', 'takes a synchronous function: tensors made after an await would escape the scope; tidy each synchronous part instead');
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    for (const t of scope) if (!t.kept && !t.isDisposed) t.dispose();
    throw e;
  } finally {
    scopes.pop();
  }
  if (isThenable(result)) {
    // Whatever the pending work still needs must survive: nothing is disposed, all goes to the parent.
    for (const t of scope) scopes[scopes.length - 1]?.add(t);
    throw new ArgumentError('tidy', 'the function returned a promise; tidy takes a synchronous function (tidy each synchronous part instead)');
  }
  const survivors = new Set<unknown>();
  collect(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t) || t.kept) parent?.add(t);
    else if (!t.isDisposed) t.dispose();
  }
  return result;
}
