/** Generated from the reduction specs: every reduction over random dims/keepdim against its reference. */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { Matrix, check, forEachBackend, expectClose, logical, roundTo } from '../src/index.js';

const { DTYPE_SETS, REDUCTIONS, forEachIndex, reduceTypes, tolFor } = tsr.ops;
type DType = tsr.DType;
const matrix = new Matrix();
afterAll(() => matrix.writePart('reduce'));

const SEED = Number(process.env['TESSERA_SEED'] ?? 20261123);
const RUNS = Number(process.env['TESSERA_RUNS'] ?? 40);

/** Calls the tensor-level function for a reduction spec by name. */
function run(name: string, x: tsr.Tensor, dims: number[] | undefined, keepdim: boolean, p: Record<string, number>): tsr.Tensor {
  switch (name) {
    case 'argmax': case 'argmin': return x[name](dims?.[0], { keepdim });
    case 'prod': return x.prod(dims?.[0], { keepdim });
    case 'var': case 'std': return x[name](dims, { keepdim, correction: p['correction']! });
    case 'norm': return x.norm(p['p']!, dims, { keepdim });
    case 'cumsum': return x.cumsum(dims?.[0] ?? 0);
    default: return (x[name as 'sum'] as (d?: number[], o?: { keepdim: boolean }) => tsr.Tensor)(dims, { keepdim });
  }
}

const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 4 });

await forEachBackend(matrix, Object.keys(REDUCTIONS), '*', (c, device) => {
describe(`${c.name}: reduction specs against their float64 references`, () => {
  for (const spec of Object.values(REDUCTIONS)) {
    const dtypes = (['float32', 'float64', 'int32'] as DType[]).filter((d) => (DTYPE_SETS[spec.accepts] as readonly DType[]).includes(d));
    for (const dtype of dtypes) {
      it(`${spec.name} ${dtype}`, () => check(matrix, spec.name, c.name, dtype, async () => {
        const dimsArb = shapeArb.chain((shape) => fc.tuple(
          fc.constant(shape),
          spec.singleDim || spec.name === 'cumsum'
            ? fc.option(fc.integer({ min: 0, max: Math.max(0, shape.length - 1) }).map((d) => [d]), { nil: undefined })
            : fc.option(fc.subarray(shape.map((_, i) => i)), { nil: undefined }),
          fc.boolean(),
          fc.integer(),
        ));
        await fc.assert(fc.asyncProperty(dimsArb, async ([shape, dims0, keepdim, seed]) => {
          const dims = spec.name === 'cumsum' && dims0 === undefined ? [0] : dims0;
          if (spec.name === 'cumsum' && shape.length === 0 && dims) dims.length = 1;
          tsr.manualSeed(seed);
          const base = tsr.randn(shape, { device }).mul(3);
          const x = dtype === 'int32' ? base.round().int() : base.to(dtype);
          const p = Object.fromEntries(Object.entries(spec.params ?? {}).map(([k, v]) => [k, k === 'p' ? [1, 2, 3, Infinity][seed & 3]! : k === 'correction' ? seed & 1 : v.default]));
          const out = run(spec.name, x, dims, keepdim, p);
          expect(out.dtype).toBe(reduceTypes(spec, x.dtype).out);
          const vals = await logical(x);
          // An empty dim list reduces every dim, as torch's.
          const red = new Set(dims?.length ? dims : shape.map((_, i) => i));
          if (spec.name === 'cumsum') {
            const d = dims![0]!;
            const expected: number[] = [];
            forEachIndex(shape, (idx) => {
              const line: number[] = [];
              for (let k = 0; k <= (idx[d] ?? 0); k++) line.push(vals[idx.reduce((o, v, j) => o * shape[j]! + (j === d ? k : v), 0)]!);
              expected.push(roundTo(out.dtype, spec.ref(line, p), c.int64Bits));
            });
            expectClose(spec.name, await logical(out), expected, tolFor(spec, out.dtype), out.dtype, { shape, dims, seed });
            return;
          }
          // Group input elements by their position among the kept dims: one group per output element.
          const groups = new Map<number, number[]>();
          forEachIndex(shape, (idx, flat) => {
            const key = idx.reduce((o, v, j) => (red.has(j) ? o : o * shape[j]! + v), 0);
            groups.set(key, [...(groups.get(key) ?? []), vals[flat]!]);
          });
          const expected = [...groups.keys()].sort((a, b) => a - b).map((k) => roundTo(out.dtype, spec.ref(groups.get(k)!, p), c.int64Bits));
          const kept = shape.filter((_, i) => !red.has(i));
          const allArg = spec.singleDim && dims === undefined;
          expect(out.shape).toEqual(keepdim ? shape.map((s, i) => (red.has(i) ? 1 : s)) : allArg ? [] : kept);
          expectClose(spec.name, await logical(out), expected, tolFor(spec, out.dtype), out.dtype, { shape, dims, keepdim, seed, p });
        }), { seed: SEED, numRuns: RUNS });
      }));
    }
  }

  it('reduces strided views (transposed, sliced) the same as their contiguous copies', async () => {
    const x = tsr.randn([4, 6]).t().slice(0, 0, 6, 2);
    expect(await logical(x.sum(1))).toEqual(await logical(x.contiguous().sum(1)));
    expect(await logical(x.amax(0))).toEqual(await logical(x.contiguous().amax(0)));
  });

  // Backends pick a kernel by shape (webgpu: a thread per output for short rows and column sums, a
  // workgroup per output, or split rows and partials): each against a float64 sum. Positive terms,
  // so a float32 sum's rounding error is relative to the result: within 4 sqrt(n) units of 2^-24
  // (a statistical bound for any summation order; the worst case, n units, is far looser), where
  // one element dropped or read twice moves a sum of 5,000 by about 1/5,000.
  it('long rows, column sums and few long rows reduce alike (sum, amax, argmax)', async () => {
    tsr.manualSeed(11);
    for (const [shape, dim] of [[[300, 70], 0], [[70, 300], 1], [[3, 5000], 1], [[5000, 3], 0], [[40, 9], 0]] as const) {
      const x = tsr.rand([...shape]);
      const vals = await logical(x);
      const [rows, cols] = shape;
      const lines = dim === 0 ? Array.from({ length: cols }, (_, j) => Array.from({ length: rows }, (_, i) => vals[i * cols + j]!)) : Array.from({ length: rows }, (_, i) => vals.slice(i * cols, (i + 1) * cols));
      const sums = lines.map((l) => l.reduce((a, b) => a + b, 0));
      const n = shape[dim];
      expectClose('sum', await logical(x.sum(dim)), sums, { rtol: 4 * Math.sqrt(n) * 2 ** -24, atol: 0 }, 'float32', { shape, dim });
      expect(await logical(x.amax(dim))).toEqual(lines.map((l) => Math.max(...l)));
      expect(await logical(x.argmax(dim))).toEqual(lines.map((l) => l.indexOf(Math.max(...l))));
    }
    // A constant column summed in one float32 running sum errs systematically (4,096 x 0.1 came out
    // 4e-5 relative off on webgpu); blocked partials or a tree keep it within 128 units of 2^-24.
    const column = await logical(tsr.full([4096, 64], 0.1).sum(0));
    expectClose('sum', column, column.map(() => 4096 * Math.fround(0.1)), { rtol: 128 * 2 ** -24, atol: 0 }, 'float32', 'a constant column');
  });

  it('sums of zero elements are the identity; max of zero elements is an error', async () => {
    expect(await tsr.zeros(0, 3).sum(0).tolist()).toEqual([0, 0, 0]);
    expect(await tsr.ones(2, 0).prod(1).tolist()).toEqual([1, 1]);
    expect(() => tsr.zeros(0).amax()).toThrow(tsr.ShapeError);
    expect(Number.isNaN(await tsr.zeros(0).mean().item() as number)).toBe(true);
  });

  it('argmax returns the first maximum, and NaN counts as the largest value', async () => {
    expect(await tsr.tensor([1, 5, 5, 2]).argmax().item()).toBe(1);
    expect(await tsr.tensor([1, NaN, 5, NaN]).argmax().item()).toBe(1);
    expect(await tsr.tensor([[1, 9], [7, 3]]).argmin(1, { keepdim: true }).tolist()).toEqual([[0], [1]]);
  });

  it('argmax over long rows split across workgroups keeps the first maximum', async () => {
    const n = 300_000;
    const x = tsr.zeros([n]);
    x.narrow(0, 123_457, 1).fill_(5);
    x.narrow(0, 250_000, 1).fill_(5);
    expect(await x.argmax().item()).toBe(123_457);
    expect(await x.sum().item()).toBe(10);
  });

  it('several long rows split across workgroups each get their own result', async () => {
    // Few rows of many elements take the two-stage (partials) path on GPU backends.
    const n = 300_000;
    const x = tsr.zeros([3, n]);
    for (const [r, at] of [[0, 17], [1, 299_999], [2, 150_000]] as const) x.narrow(0, r, 1).narrow(1, at, 1).fill_(r + 1);
    expect(await x.sum(1).tolist()).toEqual([1, 2, 3]);
    expect(await x.argmax(1).tolist()).toEqual([17, 299_999, 150_000]);
  });

  // In the matrix: a backend that cannot hold 2^31 - 1 in int32 (gpu.js keeps integers in float32) refuses it as unsupported.
  it('integer and bool sums widen to int64, as PyTorch (int64 keeps 32 bits on backends that declare so)', () => check(matrix, 'sum', c.name, 'int32 widening', async () => {
    expect(tsr.tensor([true, true, false]).sum().dtype).toBe('int64');
    expect(await tsr.tensor([2 ** 31 - 1, 1], { dtype: 'int32' }).sum().item()).toBe(c.int64Bits === 64 ? 2 ** 31 : -(2 ** 31));
  }));
});
});
