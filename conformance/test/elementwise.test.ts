/**
 * Generated from the op specs: every elementwise spec, for each dtype it accepts among the ones
 * drawn here, against its float64 reference; then broadcasting over strided views. No per-op test
 * code: a new spec is covered by existing here.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { Matrix, check, forEachBackend, expectClose, logical, roundTo } from '../src/index.js';

const { DTYPE_SETS, ELEMENTWISE, broadcastShapes, elementwiseTypes, forEachIndex, tolFor } = tsr.ops;
type DType = tsr.DType;
type ElementwiseSpec = tsr.ops.ElementwiseSpec;
const matrix = new Matrix();
afterAll(() => matrix.writePart('elementwise'));

const SEED = Number(process.env['TESSERA_SEED'] ?? 20261123);
const RUNS = Number(process.env['TESSERA_RUNS'] ?? 40);
const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 1e30];
/** For backends that flush subnormals (WGSL allows it), the specials without the subnormal ones. */
const NORMAL_SPECIALS = SPECIALS.filter((v) => v === 0 || !Number.isFinite(v) || Math.abs(v) >= 1.2e-38);

const domainOf = (spec: ElementwiseSpec, i: number): readonly [number, number] => {
  const d = spec.sample.domain ?? [-10, 10];
  return (Array.isArray(d[0]) ? (d as readonly (readonly [number, number])[])[i] : d) as readonly [number, number];
};

/**
 * Values for operand i of a spec in dtype. Integer dtypes avoid the values the spec's integralDomain
 * refuses (checked by trust.test.ts) and what C-style ints leave undefined (x / 0, huge powers).
 */
function values(spec: ElementwiseSpec, i: number, dtype: DType, subnormals: boolean): fc.Arbitrary<number> {
  if (dtype === 'bool') return fc.constantFrom(0, 1);
  const [lo, hi] = domainOf(spec, i);
  if (dtype === 'int32' || dtype === 'int64' || dtype === 'uint8') {
    const refuse = spec.integralDomain?.operand === i ? spec.integralDomain.refuse : undefined;
    const min = dtype === 'uint8' || refuse === 'negativeScalar' ? 0 : Math.max(Math.ceil(lo), -50);
    const max = Math.min(Math.floor(hi), refuse === 'negativeScalar' ? 6 : 50);
    const ints = fc.integer({ min, max });
    // A zero divisor of a float-result binary op on integers (div's inf) is left out as before; trust.test.ts covers it.
    const divisor = refuse === 'zero' || (i === 1 && spec.result === 'float' && spec.arity === 2);
    return divisor ? ints.filter((v) => v !== 0) : ints;
  }
  const drawn = fc.double({ min: lo, max: hi, noNaN: true });
  const finite = subnormals ? drawn : drawn.map((v) => (Math.abs(v) < 1.2e-38 ? 0 : v));
  const specials = subnormals ? SPECIALS : NORMAL_SPECIALS;
  return spec.sample.specials === false ? finite : fc.oneof({ weight: 5, arbitrary: finite }, { weight: 1, arbitrary: fc.constantFrom(...specials) });
}

const DRAWN: DType[] = ['float32', 'float64', 'float16', 'int32', 'int64', 'uint8', 'bool'];

await forEachBackend(matrix, Object.keys(ELEMENTWISE), '*', (c, device) => {
/** The dtype label in the matrix: int64 on a 32-bit-int64 backend is reported as such. */
const label = (d: DType) => (d === 'int64' && c.int64Bits === 32 ? 'int64 (32-bit)' : d);
describe(`${c.name}: elementwise specs against their float64 references`, () => {
  for (const spec of Object.values(ELEMENTWISE)) {
    const dtypes = DRAWN.filter((d) => (DTYPE_SETS[spec.accepts] as readonly DType[]).includes(d) && (spec.result === 'logical' || d !== 'bool' || spec.name === 'where'));
    for (const dtype of dtypes) {
      it(`${spec.name} ${dtype}`, () => check(matrix, spec.name, c.name, label(dtype), async () => {
        const inputDtype = (i: number): DType => (spec.condition && i === 0 ? 'bool' : dtype);
        const params = Object.entries(spec.params ?? {});
        const paramArb = fc.tuple(...params.map(([, p]) => (dtype.startsWith('float') ? fc.double({ min: p.sample?.[0] ?? -2, max: p.sample?.[1] ?? 2, noNaN: true }) : fc.integer({ min: -3, max: 3 }))));
        const cols = fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(...Array.from({ length: spec.arity }, (_, i) => fc.array(values(spec, i, inputDtype(i), c.subnormals), { minLength: n, maxLength: n }))));
        await fc.assert(
          fc.asyncProperty(cols, paramArb, async (arrays, pvals) => {
            const ins = arrays.map((a, i) => tsr.tensor(a, { dtype: inputDtype(i), device }));
            const p = Object.fromEntries(params.map(([name], k) => [name, pvals[k]!]));
            const out = tsr.elementwise(spec, ins, { params: p });
            const types = elementwiseTypes(spec, ins.map((t) => ({ kind: 'tensor', dtype: t.dtype, ndim: 1 })));
            expect(out.dtype).toBe(types.out);
            const stored = await Promise.all(ins.map(logical));
            // Params are values of the compute dtype (as torch.add's alpha): the reference sees them rounded too.
            const pRef = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, roundTo(types.compute, v)]));
            const expected = stored[0]!.map((_, j) => roundTo(out.dtype, spec.ref(stored.map((s) => s[j]!), pRef), c.int64Bits));
            expectClose(spec.name, await logical(out), expected, tolFor(spec, out.dtype), out.dtype, { op: spec.name, dtype, inputs: stored, params: p, seed: SEED });
          }),
          { seed: SEED, numRuns: RUNS },
        );
      }));
    }
  }
});

/** Random N-d shapes for `count` operands that broadcast together (rank 0..5, sizes 0..3). */
const broadcastShapesArb = (count: number) =>
  fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 0, maxLength: 5 }).chain((full) =>
    fc.tuple(...Array.from({ length: count }, () =>
      fc.tuple(fc.integer({ min: 0, max: full.length }), fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }))
        .map(([drop, ones]) => full.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d))))));

type Layout = 'contiguous' | 'permuted' | 'sliced' | 'expanded' | 'flipped';

/** A tensor with `shape` whose memory layout is not the plain one. */
function withLayout(shape: number[], layout: Layout, make: (s: number[]) => tsr.Tensor): tsr.Tensor {
  switch (layout) {
    case 'contiguous': return make(shape);
    case 'permuted': {
      const rev = shape.slice().reverse();
      return make(rev).permute(rev.map((_, i) => rev.length - 1 - i));
    }
    case 'sliced': return shape.length === 0 ? make(shape) : make([...shape.slice(0, -1), shape[shape.length - 1]! * 2]).slice(-1, 0, undefined, 2);
    case 'expanded': return make(shape.map(() => 1)).expand(shape);
    case 'flipped': return make(shape).flip(shape.map((_, i) => i));
  }
}

describe(`${c.name}: broadcasting over strided views`, () => {
  const specs = ['add', 'mul', 'maximum', 'atan2', 'where', 'sigmoid', 'lt', 'remainder'].map((n) => ELEMENTWISE[n]!);
  for (const spec of specs) {
    it(`${spec.name} matches the reference on broadcast, permuted, sliced, expanded and flipped operands`, () => check(matrix, spec.name, c.name, 'float32 strided', async () => {
      const layouts = fc.constantFrom<Layout>('contiguous', 'permuted', 'sliced', 'expanded', 'flipped');
      await fc.assert(
        fc.asyncProperty(broadcastShapesArb(spec.arity), fc.array(layouts, { minLength: 3, maxLength: 3 }), fc.integer(), async (shapes, lays, seed) => {
          tsr.manualSeed(seed);
          const ins = shapes.map((s, i) => withLayout(s, lays[i]!, (sh) => (spec.condition && i === 0 ? tsr.rand(sh, { device }).gt(0.5) : tsr.randn(sh, { device }).mul(4))));
          const out = tsr.elementwise(spec, ins);
          const shape = broadcastShapes(spec.name, shapes);
          expect(out.shape).toEqual(shape);
          const vals = await Promise.all(ins.map(logical));
          const expected: number[] = [];
          forEachIndex(shape, (idx) => {
            const args = ins.map((t, k) => {
              const off = idx.slice(idx.length - t.ndim).reduce((o, v, d) => o * t.shape[d]! + (t.shape[d] === 1 ? 0 : v), 0);
              return vals[k]![off]!;
            });
            expected.push(roundTo(out.dtype, spec.ref(args, { alpha: 1 })));
          });
          expectClose(spec.name, await logical(out), expected, tolFor(spec, out.dtype), out.dtype, { shapes, lays, seed });
        }),
        { seed: SEED, numRuns: RUNS },
      );
    }));
  }

  it('writes in place through a non-contiguous view without touching the rest of the storage', async () => {
    const base = tsr.zeros([4, 6], { device });
    const v = base.slice(1, 0, 6, 2).t();
    v.add_(tsr.arange(4, { dtype: 'float32', device }));
    expect(await base.tolist()).toEqual([0, 1, 2, 3].map((i) => [i, 0, i, 0, i, 0]));
  });
});
});
