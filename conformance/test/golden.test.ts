/**
 * PyTorch golden vectors (conformance/golden/cases.json, written by golden/generate.py with Debian's
 * torch) on every available backend: forward values, gradients, result dtypes and rejected calls.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { Matrix, check, forEachBackend, expectClose, logical } from '../src/index.js';
import { type Case, decode, errorCall, forward, gradFn, values } from '../src/golden.js';

const FILE = new URL('../golden/cases.json', import.meta.url);
const golden = JSON.parse(readFileSync(FILE, 'utf8')) as { torch: string; seed: number; cases: Case[] };
const matrix = new Matrix();
afterAll(() => matrix.writePart('golden'));

/** PyTorch computes float32 in float32; the gaps are a few ulps, more through exp/pow and long sums. */
const TOL: Partial<Record<tsr.DType, { rtol: number; atol: number }>> = {
  float32: { rtol: 2e-5, atol: 1e-5 }, float64: { rtol: 1e-10, atol: 1e-10 }, float16: { rtol: 2e-3, atol: 1e-3 },
};
const tol = (d: tsr.DType) => TOL[d] ?? { rtol: 0, atol: 0 };

const dtypeOf = (c: Case): string => c.inputs?.[0]?.dtype ?? c.a?.dtype ?? 'any';

it(`has at least 1,000 cases from torch ${golden.torch}`, () => expect(golden.cases.length).toBeGreaterThanOrEqual(1000));

await forEachBackend(matrix, new Set(golden.cases.map((k) => k.op)), 'golden', (c, device) => {
  const byKind = (k: Case['kind']) => golden.cases.map((g, i) => [g, i] as const).filter(([g]) => g.kind === k);

  describe(`${c.name}: PyTorch golden vectors`, () => {
    for (const kind of ['forward', 'reduce', 'routine'] as const) {
      it.each(byKind(kind).map(([g, i]) => [`${g.op} #${i} ${dtypeOf(g)}`, g]))(`${kind} %s`, (_, g) => check(matrix, g.op, c.name, `${dtypeOf(g)} golden`, async () => {
        const out = forward(g, g.inputs!.map((p) => decode(p, device)));
        expect(out.dtype).toBe(g.out!.dtype);
        expect(out.shape).toEqual(g.out!.shape);
        const want = values(g.out!);
        if (out.dtype === 'int64' && c.int64Bits === 32 && want.some((v) => Math.abs(v) >= 2 ** 31)) {
          throw new tsr.DTypeError(g.op, 'golden int64 values beyond 32 bits; this backend holds int64 in 32 bits');
        }
        expectClose(g.op, await logical(out), want, tol(out.dtype), out.dtype, { golden: g.op, case: _ });
      }));
    }

    it.each(byKind('grad').map(([g, i]) => [`${g.op} #${i}`, g]))('gradient %s', (_, g) => check(matrix, g.op, c.name, 'float64 grad golden', async () => {
      const ins = g.inputs!.map((p) => decode(p, device));
      const leaves = ins.filter((t) => t.dtype === 'float64').map((t) => t.requiresGrad_());
      const out = gradFn(g)(...ins);
      const grads = tsr.grad(out, leaves, { gradOutputs: decode(g.gradOutput!, device), allowUnused: true });
      for (const [k, p] of g.grads!.filter((q) => q !== null).entries()) {
        expectClose(`${g.op} grad ${k}`, await logical(grads[k] ?? leaves[k]!.mul(0)), values(p!), tol('float64'), 'float64', { golden: g.op, input: k });
      }
    }));

    it.each(byKind('promotion').map(([g, i]) => [`${g.op} #${i}`, g]))('result dtype %s', (_, g) => check(matrix, 'promotion', c.name, g.a!.dtype, () => {
      const a = tsr.ones(g.a!.ndim ? [2] : [], { dtype: g.a!.dtype, device });
      const b = 'scalar' in g.b! ? g.b.scalar : tsr.ones(g.b!.ndim ? [2] : [], { dtype: g.b!.dtype, device });
      expect(tsr.elementwise(tsr.ops.ELEMENTWISE[g.op]!, [a, b]).dtype, JSON.stringify(g)).toBe(g.dtype);
    }));

    it.each(byKind('error').map(([g, i]) => [`${g.op} #${i}`, g]))('rejects %s', (_, g) => check(matrix, g.op, c.name, 'error golden', async () => {
      const ctor = (tsr as unknown as Record<string, new () => Error>)[g.error!]!;
      // A device that runs kernels asynchronously reports what only a kernel can see (an index out
      // of range) at the next read, as CUDA does; the call or that read must raise the error.
      let thrown: unknown;
      try {
        const r = errorCall(g, device)();
        if (r instanceof tsr.Tensor) await r.data();
      } catch (e) { thrown = e; }
      expect(thrown).toBeInstanceOf(ctor);
    }));
  });
});

/**
 * Where two decoded JSON values differ, or undefined when they agree: exactly, but for numbers within
 * 1e-5 of max(1, |a|, |b|). Torch's own float32 kernels (matmul, conv, their gradients) dispatch on
 * the CPU's vector width, so the same generator gives results an ulp or so apart on an AVX2 and an
 * AVX-512 machine; inputs, shapes, dtypes and rejected calls must still match exactly.
 */
function difference(a: unknown, b: unknown, at = ''): string | undefined {
  if (typeof a === 'number' && typeof b === 'number') {
    return Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a), Math.abs(b)) ? undefined : `${at}: ${a} vs ${b}`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${at}: length ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) { const d = difference(a[i], b[i], `${at}[${i}]`); if (d) return d; }
    return undefined;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    if (ka.join() !== kb.join()) return `${at}: keys ${ka.join()} vs ${kb.join()}`;
    for (const k of ka) { const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`); if (d) return d; }
    return undefined;
  }
  return a === b ? undefined : `${at}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

// The committed file must be what the committed generator produces (when PyTorch is here to run it).
const hasTorch = (() => { try { execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }); return true; } catch { return false; } })();
it.skipIf(!hasTorch)('golden/cases.json is up to date with golden/generate.py', () => {
  const fresh = execFileSync('/usr/bin/python3', [new URL('../golden/generate.py', import.meta.url).pathname], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  expect(difference(JSON.parse(fresh), golden), 'regenerate with: npx nx run conformance:golden').toBeUndefined();
}, 120_000);

it('the freshness check tells a value an ulp off from a changed one', () => {
  expect(difference({ x: [1, 'nan', 2.5] }, { x: [1 + 1e-7, 'nan', 2.5] })).toBeUndefined();
  expect(difference({ x: [1, 'nan'] }, { x: [1.001, 'nan'] })).toBe('.x[0]: 1 vs 1.001');
  expect(difference({ x: [1] }, { x: [1, 2] })).toBe('.x: length 1 vs 2');
  expect(difference({ x: 'inf' }, { x: '-inf' })).toBe('.x: "inf" vs "-inf"');
  expect(difference({ x: 1 }, { y: 1 })).toBe(': keys x vs y');
});
