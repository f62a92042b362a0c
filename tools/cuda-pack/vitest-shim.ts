/**
 * Just enough of vitest's API for the conformance test files to run in a plain Node bundle on a
 * bare GPU machine (no node_modules there): describe/it (each, skip, skipIf), beforeAll/afterAll,
 * and the expect matchers those files use. Tests are collected, then run() runs them in order.
 */
import { isDeepStrictEqual } from 'node:util';

type Fn = () => unknown;
interface Suite { name: string; tests: { name: string; fn: Fn; skip: boolean }[]; before: Fn[]; after: Fn[]; children: Suite[] }
const root: Suite = { name: '', tests: [], before: [], after: [], children: [] };
let current = root;

export function describe(name: string, fn: () => void): void {
  const s: Suite = { name, tests: [], before: [], after: [], children: [] };
  current.children.push(s);
  const parent = current;
  current = s;
  try { fn(); } finally { current = parent; }
}
describe.skipIf = (cond: boolean) => (name: string, fn: () => void) => (cond ? undefined : describe(name, fn));

function test(name: string, fn: Fn): void { current.tests.push({ name, fn, skip: false }); }
test.skip = (name: string, fn: Fn) => { current.tests.push({ name, fn, skip: true }); };
test.skipIf = (cond: boolean) => (name: string, fn: Fn) => (cond ? test.skip(name, fn) : test(name, fn));
test.each = <T extends unknown[]>(rows: readonly T[]) => (name: string, fn: (...args: T) => unknown) => {
  for (const row of rows) test(name.replace('%s', String(row[0])), () => fn(...row));
};
export const it = test;
export const beforeAll = (fn: Fn): void => { current.before.push(fn); };
export const afterAll = (fn: Fn): void => { current.after.push(fn); };

class AssertionError extends Error {}
function matchers(actual: unknown, negate: boolean, label?: string) {
  const assert = (ok: boolean, what: string) => {
    if (ok === negate) throw new AssertionError(`${label ? `${label}: ` : ''}expected ${String(actual)}${negate ? ' not' : ''} ${what}`);
  };
  return {
    toBe: (v: unknown) => assert(Object.is(actual, v), `to be ${String(v)}`),
    toEqual: (v: unknown) => assert(isDeepStrictEqual(actual, v), `to equal ${JSON.stringify(v)}`),
    toBeGreaterThan: (v: number) => assert((actual as number) > v, `to be > ${v}`),
    toBeGreaterThanOrEqual: (v: number) => assert((actual as number) >= v, `to be >= ${v}`),
    toContain: (v: unknown) => assert((actual as string | unknown[]).includes(v as never), `to contain ${String(v)}`),
    toMatch: (re: RegExp) => assert(re.test(String(actual)), `to match ${re}`),
    toBeInstanceOf: (c: new (...a: never[]) => unknown) => assert(actual instanceof c, `to be a ${c.name}`),
    toThrow: (c?: new (...a: never[]) => unknown) => {
      let threw: unknown;
      try { (actual as Fn)(); } catch (e) { threw = e ?? new Error('undefined thrown'); }
      assert(threw !== undefined && (!c || threw instanceof c), `to throw${c ? ` a ${c.name}` : ''}`);
    },
  };
}
export function expect(actual: unknown, label?: string) {
  const rejects = {
    toThrow: async (c?: new (...a: never[]) => unknown): Promise<void> => {
      let threw: unknown;
      try { await actual; } catch (e) { threw = e ?? new Error('undefined thrown'); }
      if (threw === undefined || (c && !(threw instanceof c))) throw new AssertionError(`${label ? `${label}: ` : ''}expected the promise to reject${c ? ` with a ${c.name}` : ''}`);
    },
  };
  return { ...matchers(actual, false, label), not: matchers(actual, true, label), rejects };
}

/** Runs every collected test; returns the counts and the failures. */
export async function run(log: (line: string) => void): Promise<{ passed: number; failed: number; skipped: number }> {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const visit = async (s: Suite, path: string[]): Promise<void> => {
    for (const f of s.before) await f();
    for (const t of s.tests) {
      const name = [...path, t.name].filter(Boolean).join(' > ');
      if (t.skip) { counts.skipped++; continue; }
      try {
        await t.fn();
        counts.passed++;
      } catch (e) {
        counts.failed++;
        log(`FAIL ${name}\n  ${String((e as Error)?.message ?? e).slice(0, 800)}`);
      }
    }
    for (const c of s.children) await visit(c, [...path, c.name]);
    for (const f of s.after) await f();
  };
  await visit(root, []);
  return counts;
}
