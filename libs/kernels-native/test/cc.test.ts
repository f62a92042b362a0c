/**
 * Fused kernels compiled to C (src/cc.ts) compute what the interpreter computes, bit for bit: random
 * expressions over every opcode, float32, float64 and bool operands, contiguous, broadcast and
 * strided views, rows shorter and longer than a chunk, NaN, infinities and signed zeros, run on a
 * backend that interprets and one that compiles (the compiler in the foreground).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { type ElementwiseKernel, type View, jsBackend } from '@tessera/tensor';
import { type Expr, ir, topoSort } from '@tessera/ops';
import { createNativeBackend } from '../src/index.js';
import { encode } from '../src/interp.js';

const interpreted = createNativeBackend({ minElements: 0, cc: 'off' });
const compiled = createNativeBackend({ minElements: 0, cc: 'wait' });
// The compiler tests skip only where no C compiler runs and the run does not require its backends;
// CI sets TESSERA_REQUIRE_BACKENDS, so there a missing compiler fails them instead.
const hasCompiler = spawnSync(process.env['CC'] || 'cc', ['--version']).status === 0 || !!process.env['TESSERA_REQUIRE_BACKENDS'];
const RUNS = Number(process.env['TESSERA_RUNS'] ?? 150);

type D = 'float32' | 'float64' | 'bool';
const FLOAT_UNARY = ['neg', 'abs', 'exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'erf', 'floor', 'ceil', 'rint', 'trunc', 'recip', 'isnan'] as const;
const FLOAT_BINARY = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'atan2', 'fmod', 'lt', 'le', 'gt', 'ge', 'eq', 'ne'] as const;
const BOOL_OPS = ['and', 'or', 'not', 'eq', 'ne', 'max', 'min', 'abs'] as const;
const VALUES = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, 2.5, -3.75, 1e-30, 100, -100, 88.7, 1e30, 0.3, 5];

/** A random expression of dtype `want` over `inputs`, at most `depth` deep, drawn by `pick`. */
function expr(pick: (n: number) => number, inputs: readonly D[], want: D, depth: number): Expr {
  const leaf = (): Expr => {
    const i = pick(inputs.length + 1);
    if (i === inputs.length) return want === 'bool' ? ir.constant(pick(2), 'bool') : pick(2) ? ir.param('p0', want) : ir.constant(VALUES[pick(VALUES.length)]!, want);
    return ir.cast(ir.input(i, inputs[i]!), want);
  };
  if (depth === 0 || pick(4) === 0) return leaf();
  const sub = (d: D) => expr(pick, inputs, d, depth - 1);
  if (want === 'bool') {
    const k = pick(4);
    if (k === 0) { const f: D = pick(2) ? 'float32' : 'float64'; const cmp = FLOAT_BINARY[9 + pick(6)]!; return (ir[cmp] as (a: Expr, b: Expr) => Expr)(sub(f), sub(f)); }
    if (k === 1) return ir.cast(sub(pick(2) ? 'float32' : 'float64'), 'bool');
    const op = BOOL_OPS[pick(BOOL_OPS.length)]!;
    return op === 'not' || op === 'abs' ? ir[op](sub('bool')) : (ir[op] as (a: Expr, b: Expr) => Expr)(sub('bool'), sub('bool'));
  }
  const k = pick(6);
  if (k === 0) return ir.where(sub('bool'), sub(want), sub(want));
  if (k === 1) return ir.cast(sub(want === 'float32' ? 'float64' : 'float32'), want);
  if (k === 2) return ir.cast(sub('bool'), want);
  if (k === 3) {
    const op = FLOAT_UNARY[pick(FLOAT_UNARY.length)]!;
    const e = ir[op](sub(want));
    return e.dtype === want ? e : ir.cast(e, want);
  }
  const op = FLOAT_BINARY[pick(FLOAT_BINARY.length)]!;
  const e = (ir[op] as (a: Expr, b: Expr) => Expr)(sub(want), sub(want));
  return e.dtype === want ? e : ir.cast(e, want);
}

const ARRAYS = { float32: Float32Array, float64: Float64Array, bool: Uint8Array } as const;

/** A view of `shape` [r, c] in one of four layouts, over a fresh buffer filled by `pick`. */
function view(pick: (n: number) => number, dtype: D, r: number, c: number, output: boolean): View {
  const layout = output ? pick(2) * 3 : pick(4); // outputs: contiguous or transposed
  const offset = pick(3);
  const [len, strides] = layout === 0 ? [r * c, [c, 1]] : layout === 1 ? [c, [0, 1]] : layout === 2 ? [r, [1, 0]] : [r * c, [1, r]];
  const buffer = new ARRAYS[dtype](offset + len);
  for (let i = 0; i < buffer.length; i++) buffer[i] = dtype === 'bool' ? pick(2) : VALUES[pick(VALUES.length)]! * (1 + pick(7) / 8);
  return { buffer, dtype, shape: [r, c], strides, offset };
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => {
  for (let i = 0; i < a.length; i++) if (!(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) return false;
  return a.length === b.length;
};

// Skipped where the addon is not built (no cargo); CI builds it and requires it, so there this fails instead.
const noAddon = (typeof interpreted === 'string' || typeof compiled === 'string') && !process.env['TESSERA_REQUIRE_BACKENDS'];
describe.skipIf(noAddon)('fused kernels compiled to C', () => {
  if (typeof interpreted === 'string' || typeof compiled === 'string') { it('needs the native addon', () => expect.fail(String(interpreted))); return; }

  it.skipIf(!hasCompiler)('compute what the interpreter computes, bit for bit', () => {
    // Draw every case first and launch each once (interpreted while its C is queued), then again:
    // the first repeat compiles the whole queue in one batch, so the cases cost a few compiler runs.
    const cases = fc.sample(fc.record({ choices: fc.array(fc.nat(), { minLength: 40, maxLength: 80 }), r: fc.integer({ min: 1, max: 5 }), c: fc.integer({ min: 1, max: 300 }) }), { numRuns: RUNS, seed: Number(process.env['TESSERA_SEED'] ?? 20261206) })
      .map(({ choices, r, c }, n) => {
        let at = 0;
        const pick = (m: number) => choices[at++ % choices.length]! % m;
        const inputs = Array.from({ length: 1 + pick(3) }, () => (['float32', 'float64', 'bool'] as const)[pick(3)]!);
        const out: D = (['float32', 'float64', 'bool'] as const)[pick(3)]!;
        const e = expr(pick, inputs, out, 5);
        const second: D = (['float32', 'float64', 'bool'] as const)[pick(3)]!;
        const outputs = pick(2) ? [{ expr: expr(pick, inputs, second, 3), dtype: second }] : [];
        const uses = topoSort([e, ...outputs.map((o) => o.expr)]).some((x) => x.kind === 'param');
        const kernel: ElementwiseKernel = { id: `fused:cc-test-${n}`, expr: e, inputs, out, params: uses ? ['p0'] : [], outputs };
        const leaves = inputs.map((d) => view(pick, d, r, c, false));
        const outs = [out, ...outputs.map((o) => o.dtype)].map((d) => view(pick, d, r, c, true));
        // Sometimes the further result is stored where the result is (an in-place chain's): the result must remain.
        if (outs.length === 2 && second === out && pick(3) === 0) outs[1] = outs[0]!;
        const params = uses ? [VALUES[pick(VALUES.length)]!] : [];
        return { kernel, leaves, outs, params, shape: [r, c] };
      });
    const launch = (b: typeof compiled, x: (typeof cases)[number]) => {
      const copies = new Map(x.outs.map((v) => [v.buffer, (v.buffer as Float32Array).slice()]));
      const outs = x.outs.map((v) => ({ ...v, buffer: copies.get(v.buffer)! }));
      b.elementwise(x.kernel, { shape: x.shape, inputs: x.leaves, out: outs[0]!, outs: outs.slice(1), params: x.params });
      return outs.map((v) => v.buffer as Float32Array);
    };
    for (const x of cases) launch(compiled, x);
    const before = compiled.compiler.launches.compiled;
    for (const [n, x] of cases.entries()) {
      const want = launch(interpreted, x), got = launch(compiled, x);
      for (let o = 0; o < want.length; o++) {
        if (same(got[o]!, want[o]!)) continue;
        const i = Array.from(want[o]!).findIndex((w, i) => !same([w], [got[o]![i]!]));
        expect.fail(`case ${n}, output ${o}, element ${i}: compiled ${got[o]![i]}, interpreted ${want[o]![i]}; kernel ${JSON.stringify(x.kernel)}; leaves ${JSON.stringify(x.leaves.map((v) => [v.strides, v.offset]))}`);
      }
    }
    // Every second launch ran compiled code (not the interpreter again).
    expect(compiled.compiler.launches.compiled - before).toBe(cases.length);
  }, 300_000);

  it.skipIf(!hasCompiler)('by default compile in the background while the interpreter runs, then switch', async () => {
    const b = createNativeBackend({ minElements: 0, cc: 'async' });
    if (typeof b === 'string') throw new Error(b);
    const x = Float32Array.from({ length: 1000 }, (_, i) => (i - 500) / 50), v = (buffer: Float32Array): View => ({ buffer, dtype: 'float32', shape: [1000], strides: [1], offset: 0 });
    const k: ElementwiseKernel = { id: 'fused:cc-test-async', expr: ir.add(ir.mul(ir.erf(ir.input(0, 'float32')), ir.param('p0', 'float32')), 0.123456), inputs: ['float32'], out: 'float32', params: ['p0'] };
    const run = () => { const out = new Float32Array(1000); b.elementwise(k, { shape: [1000], inputs: [v(x)], out: v(out), params: [0.5] }); return out; };
    // (A constant no other test draws: its C is compiled by no one else, so no library is on disk yet.)
    const first = run(), second = run(); // queued, then the repeat starts the compiler
    expect(b.compiler.launches).toEqual({ compiled: 0, interpreted: 2 });
    await b.compiler.settled();
    const third = run();
    expect(b.compiler.launches.compiled).toBe(1);
    expect(Array.from(third)).toEqual(Array.from(first));
    expect(Array.from(second)).toEqual(Array.from(first));
  }, 120_000);

  // Cross-entropy's ignore-index mask and one-hot target are such kernels: int64 targets compared with
  // an iota and a param, and selected. Values reach past 2^32 and below zero.
  const integers = (() => {
    const n = 1000, t = new BigInt64Array(n), iota = new Int32Array(n), bytes = new Uint8Array(n), g = new Float32Array(n);
    for (let i = 0; i < n; i++) { t[i] = BigInt((i % 7) - 3) * (i % 3 ? 1n : 2n ** 40n); iota[i] = (i % 5) - 2; bytes[i] = (i * 37) % 256; g[i] = (i - 500) / 64; }
    const v = (buffer: View['buffer'], dtype: View['dtype']): View => ({ buffer, dtype, shape: [n], strides: [1], offset: 0 });
    const [i64, i32, u8, f32] = [ir.input(0, 'int64'), ir.input(1, 'int32'), ir.input(2, 'uint8'), ir.input(3, 'float32')];
    const inputs = ['int64', 'int32', 'uint8', 'float32'] as const;
    const kept = ir.ne(i64, ir.param('p0', 'int64'));
    const kernels: [ElementwiseKernel, View['dtype']][] = [
      // where(target != ignore, target, 0), stored as int64
      [{ id: 'fused:cc-test-int-select', expr: ir.where(kept, i64, ir.constant(0, 'int64')), inputs: [...inputs], out: 'int64', params: ['p0'] }, 'int64'],
      // -g * (target == iota) * kept + uint8 as float, and the max of int32 and widened uint8 as int64
      [{ id: 'fused:cc-test-int-mask', expr: ir.add(ir.mul(ir.neg(f32), ir.cast(ir.and(ir.eq(i64, ir.cast(i32, 'int64')), kept), 'float32')), ir.cast(u8, 'float32')), inputs: [...inputs], out: 'float32', params: ['p0'] }, 'float32'],
      [{ id: 'fused:cc-test-int-max', expr: ir.max(ir.cast(i32, 'int64'), ir.cast(u8, 'int64')), inputs: [...inputs], out: 'int64', params: [] }, 'int64'],
    ];
    // Integer arithmetic (wrap-around, division) has no register form: such a kernel is the JS backend's.
    const sum: ElementwiseKernel = { id: 'fused:cc-test-int-add', expr: ir.add(i64, ir.cast(i32, 'int64')), inputs: [...inputs], out: 'int64', params: [] };
    const refused = [sum, { ...sum, id: 'fused:cc-test-int-narrow', expr: ir.cast(i64, 'int32'), out: 'int32' as const }, { ...sum, id: 'fused:cc-test-float-to-int', expr: ir.cast(f32, 'int64') }];
    const run = (b: typeof compiled | typeof jsBackend, k: ElementwiseKernel, out: View['dtype']) => {
      const o = v(out === 'int64' ? new BigInt64Array(n) : new Float32Array(n), out);
      b.elementwise(k, { shape: [n], inputs: [v(t, 'int64'), v(iota, 'int32'), v(bytes, 'uint8'), v(g, 'float32')], out: o, params: k.params.length ? [-3] : [] });
      return Array.from(o.buffer as ArrayLike<unknown>);
    };
    return { kernels, sum, refused, run };
  })();

  it('select and compare integer leaves in the interpreter as the JS kernels do; integer arithmetic stays in JS', () => {
    const { kernels, sum, refused, run } = integers;
    for (const [k, out] of kernels) {
      expect(encode(k), k.id).toBeDefined();
      const before = interpreted.compiler.launches.interpreted;
      expect(run(interpreted, k, out), k.id).toEqual(run(jsBackend, k, out));
      expect(interpreted.compiler.launches.interpreted).toBe(before + 1);
    }
    for (const k of refused) expect(encode(k), k.id).toBeUndefined();
    const before = { ...interpreted.compiler.launches };
    expect(run(interpreted, sum, 'int64')).toEqual(run(jsBackend, sum, 'int64'));
    expect(interpreted.compiler.launches).toEqual(before);
  });

  // Skips only where no C compiler runs and the run does not require its backends (see hasCompiler):
  // CI requires them, so there a missing compiler fails this instead.
  it.skipIf(!hasCompiler)('select and compare integer leaves in compiled C as the JS kernels do', () => {
    const { kernels, run } = integers;
    for (const [k, out] of kernels) {
      for (let i = 0; i < 2; i++) run(compiled, k, out); // queued, then compiled
      const ran = compiled.compiler.launches.compiled;
      expect(run(compiled, k, out), k.id).toEqual(run(jsBackend, k, out));
      expect(compiled.compiler.launches.compiled).toBe(ran + 1);
    }
  });

  it('interpret where there is no C compiler, and say why', () => {
    const saved = process.env['CC'];
    process.env['CC'] = '/nonexistent/cc';
    try {
      const b = createNativeBackend({ minElements: 0, cc: 'wait' });
      if (typeof b === 'string') throw new Error(b);
      expect(b.compiler.unavailable()).toMatch(/no C compiler/);
      const x = new Float32Array([1, -2, NaN, 4]), out = new Float32Array(4);
      const k: ElementwiseKernel = { id: 'fused:cc-test-nocc', expr: ir.tanh(ir.mul(ir.input(0, 'float32'), 2)), inputs: ['float32'], out: 'float32', params: [] };
      const v = (buffer: Float32Array): View => ({ buffer, dtype: 'float32', shape: [4], strides: [1], offset: 0 });
      for (let i = 0; i < 2; i++) b.elementwise(k, { shape: [4], inputs: [v(x)], out: v(out), params: [] });
      expect(Array.from(out)).toEqual(Array.from(x, (t) => Math.fround(Math.tanh(2 * t))));
      expect(b.compiler.launches).toEqual({ compiled: 0, interpreted: 2 });
    } finally {
      if (saved === undefined) delete process.env['CC']; else process.env['CC'] = saved;
    }
  });
});
