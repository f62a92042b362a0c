/**
 * Launch counting: every kernel a backend is asked to run (eager or from a compiled program) counts
 * one, under its name (an op spec's, a routine's, or "fused" for compile's elementwise kernels), so
 * `profile(fn)` says how many launches a step costs and of what, and compile's gain can be asserted.
 */
let launches = 0;
const byName = new Map<string, number>();

export const countLaunch = (name: string): void => {
  launches++;
  byName.set(name, (byName.get(name) ?? 0) + 1);
};

/** Kernel launches since the process started. */
export const launchCount = (): number => launches;

/** What profile() reports about one call of fn. */
export interface Profile<T> {
  /** What fn returned. */
  readonly result: T;
  /** Kernel launches made during the call (eager ops and compiled programs alike). */
  readonly launches: number;
  /** Launches per kernel name, most first. */
  readonly kernels: Readonly<Record<string, number>>;
  /** Wall-clock time of the call in milliseconds; launches on asynchronous devices may still be running. */
  readonly ms: number;
}

/** Runs fn and reports the launches it made (a compiled call's program runs before it returns). */
export function profile<T>(fn: () => T): Profile<T> {
  const before = launches, names = new Map(byName), t0 = performance.now();
  const result = fn();
  const ms = performance.now() - t0;
  const kernels = [...byName].map(([k, n]) => [k, n - (names.get(k) ?? 0)] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return { result, launches: launches - before, kernels: Object.fromEntries(kernels), ms };
}
