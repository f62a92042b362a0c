/**
 * tidy(): tensors created inside a scope are disposed when it ends, except those it returns (or
 * that are passed to keep()). Scopes nest.
 */
interface Disposable { dispose(): void; readonly isDisposed: boolean }

const scopes: Set<Disposable>[] = [];
const kept = new WeakSet<Disposable>();

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

export function keep<T extends Disposable>(t: T): T {
  kept.add(t);
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

export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    for (const t of scope) if (!kept.has(t) && !t.isDisposed) t.dispose();
    throw e;
  } finally {
    scopes.pop();
  }
  const survivors = new Set<unknown>();
  collect(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t) || kept.has(t)) parent?.add(t);
    else if (!t.isDisposed) t.dispose();
  }
  return result;
}
