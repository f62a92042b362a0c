/** Routines against the ops' float64 references, on contiguous and strided inputs. */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { Matrix, check, forEachBackend, expectClose, logical } from '../src/index.js';

const {
  ROUTINES, avgPool2dRef, conv2dRef, embeddingRef, gatherRef, indexSelectRef, layerNormBackwardRef, layerNormRef, logSoftmaxRef, matmulRef, maxPool2dRef,
  scatterAddRef, softmaxBackwardRef, softmaxRef, sortRef, tolFor,
} = tsr.ops;
type Nd = tsr.ops.Nd;
const matrix = new Matrix();
afterAll(() => matrix.writePart('routines'));

const SEED = Number(process.env['TESSERA_SEED'] ?? 20261123);
const RUNS = Number(process.env['TESSERA_RUNS'] ?? 25);

const nd = async (t: tsr.Tensor): Promise<Nd> => ({ shape: t.shape, data: Float64Array.from(await logical(t)) });
const same = async (name: string, got: tsr.Tensor, want: Nd, ctx: unknown) => {
  expect(got.shape).toEqual(want.shape);
  expectClose(name, await logical(got), Array.from(want.data), tolFor(ROUTINES[name]!, got.dtype), got.dtype, ctx);
};

await forEachBackend(matrix, Object.keys(ROUTINES), '*', (c, device) => {
  /** A routine test, filed under the ops it covers in the matrix. */
  const test = (title: string, ops: string[], body: () => Promise<void>, dtype = 'float32') =>
    // The float64 references are plain loops (the 70x300x1030 matmul's takes seconds on CI): no 5 s cap.
    it(`${c.name}: ${title}`, () => check(matrix, ops, c.name, dtype, body), 60_000);
describe('matmul', () => {
  test('matches the reference for 1-D, 2-D and broadcast-batched operands, contiguous or transposed', ['matmul'], async () => {
    const dims = fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }));
    const batch = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 });
    await fc.assert(fc.asyncProperty(dims, batch, fc.constantFrom(0, 1, 2, 3, 4), fc.boolean(), fc.integer(), async ([m, k, n], bat, form, trans, seed) => {
      tsr.manualSeed(seed);
      const aShape = form === 1 ? [k] : [...(form === 3 ? bat : []), m, k];
      const bShape = form === 2 ? [k] : [...(form === 4 ? bat.map(() => 1) : form === 3 ? bat.slice(1) : []), k, n];
      const a = trans && aShape.length >= 2 ? tsr.randn([...aShape.slice(0, -2), k, m], { device }).transpose(-1, -2) : tsr.randn(aShape);
      const b = tsr.randn(bShape);
      await same('matmul', a.matmul(b), matmulRef(await nd(a), await nd(b)), { aShape, bShape, trans, seed });
    }), { seed: SEED, numRuns: RUNS });
  });

  test('is exact in float64 and keeps integer dtypes', ['matmul'], async () => {
    const a = tsr.arange(6, { dtype: 'float64', device }).view(2, 3);
    expect(await a.matmul(a.t()).tolist()).toEqual([[5, 14], [14, 50]]);
    expect(tsr.arange(4, { device }).view(2, 2).matmul(tsr.arange(4, { device }).view(2, 2)).dtype).toBe('int64');
  }, 'float64');

  test('handles sizes larger than one cache block', ['matmul'], async () => {
    tsr.manualSeed(3);
    const a = tsr.randn([70, 300], { device }), b = tsr.randn([300, 1030], { device });
    await same('matmul', a.matmul(b), matmulRef(await nd(a), await nd(b)), 'block');
  });
});

describe('softmax family and layerNorm', () => {
  test('softmax and logSoftmax along any dim of strided inputs, stable for large values', ['softmax', 'logSoftmax'], async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), fc.integer(), async (shape, seed) => {
      tsr.manualSeed(seed);
      const x = tsr.randn(shape).mul(30).transpose(0, -1);
      const dim = (seed >>> 0) % x.ndim;
      await same('softmax', x.softmax(dim), softmaxRef(await nd(x), dim), { shape, dim, seed });
      await same('logSoftmax', x.logSoftmax(dim), logSoftmaxRef(await nd(x), dim), { shape, dim, seed });
    }), { seed: SEED, numRuns: RUNS });
    expect(await tsr.tensor([1000, 1000]).softmax(0).tolist()).toEqual([0.5, 0.5]);
  });

  test('softmax and logSoftmax gradients (one pass where the backend has the kernel) match the derivative', ['softmax', 'logSoftmax'], async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), fc.integer(), async (shape, seed) => {
      tsr.manualSeed(seed);
      const dim = (seed >>> 0) % shape.length;
      const g = tsr.randn(shape, { device }).transpose(0, -1);
      for (const name of ['softmax', 'logSoftmax'] as const) {
        const x = tsr.randn(shape, { device }).mul(5).transpose(0, -1).detach().requiresGrad_();
        x[name](dim).backward(g);
        await same(name, x.grad!, softmaxBackwardRef(await nd(x), await nd(g), dim, name === 'logSoftmax'), { shape, dim, seed, grad: true });
      }
    }), { seed: SEED, numRuns: RUNS });
  });

  test('layerNorm with and without affine parameters', ['layerNorm'], async () => {
    tsr.manualSeed(7);
    const x = tsr.randn([3, 4, 5], { device }), w = tsr.randn([4, 5], { device }), b = tsr.randn([4, 5], { device });
    await same('layerNorm', tsr.layerNorm(x, [4, 5], w, b), layerNormRef(await nd(x), [4, 5], await nd(w), await nd(b), 1e-5), 'affine');
    await same('layerNorm', tsr.layerNorm(x.transpose(0, 1), [5]), layerNormRef(await nd(x.transpose(0, 1)), [5], undefined, undefined, 1e-5), 'plain');
  });

  test('layerNorm gradients (one pass where the backend has the kernel) match the derivative', ['layerNorm'], async () => {
    tsr.manualSeed(8);
    for (const affine of [true, false]) {
      const base = tsr.randn([4, 3, 5], { device }).mul(3).add(1);
      const x = base.transpose(0, 1).detach().requiresGrad_();
      const w = affine ? tsr.randn([4, 5], { device }).requiresGrad_() : undefined, b = affine ? tsr.randn([4, 5], { device }).requiresGrad_() : undefined;
      const g = tsr.randn([3, 4, 5], { device });
      tsr.layerNorm(x, [4, 5], w, b).backward(g);
      const want = layerNormBackwardRef(await nd(x), [4, 5], w && await nd(w), await nd(g), 1e-5);
      await same('layerNorm', x.grad!, want.gx, { affine, grad: 'x' });
      if (w) await same('layerNorm', w.grad!, want.gw, { affine, grad: 'weight' });
      if (b) await same('layerNorm', b.grad!, want.gb, { affine, grad: 'bias' });
    }
  });

  // Backends may walk short and long rows differently (webgpu: a thread per row up to 128
  // elements, a workgroup per row past it); the cases above are all short.
  test('rows longer than a workgroup: softmax, logSoftmax, layerNorm and their gradients', ['softmax', 'logSoftmax', 'layerNorm'], async () => {
    tsr.manualSeed(9);
    for (const inner of [129, 700]) {
      const base = tsr.randn([inner, 3], { device }).mul(4);
      const g = tsr.randn([3, inner], { device });
      for (const name of ['softmax', 'logSoftmax'] as const) {
        const x = base.t().detach().requiresGrad_();
        const y = x[name](1);
        await same(name, y, (name === 'softmax' ? softmaxRef : logSoftmaxRef)(await nd(x), 1), { inner });
        y.backward(g);
        await same(name, x.grad!, softmaxBackwardRef(await nd(x), await nd(g), 1, name === 'logSoftmax'), { inner, grad: true });
      }
      const x = tsr.randn([3, inner], { device }).mul(3).add(1).requiresGrad_();
      const w = tsr.randn([inner], { device }).requiresGrad_(), b = tsr.randn([inner], { device }).requiresGrad_();
      const y = tsr.layerNorm(x, [inner], w, b);
      await same('layerNorm', y, layerNormRef(await nd(x), [inner], await nd(w), await nd(b), 1e-5), { inner });
      y.backward(g);
      const want = layerNormBackwardRef(await nd(x), [inner], await nd(w), await nd(g), 1e-5);
      await same('layerNorm', x.grad!, want.gx, { inner, grad: 'x' });
      await same('layerNorm', w.grad!, want.gw, { inner, grad: 'weight' });
      await same('layerNorm', b.grad!, want.gb, { inner, grad: 'bias' });
    }
  });
});

describe('sort', () => {
  test('sort, argsort and topk along any dim of strided inputs, with ties and NaN (stable, NaN largest)', ['sort'], async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }), fc.integer(), fc.boolean(), async (shape, seed, descending) => {
      tsr.manualSeed(seed);
      // Few distinct values (ties), a NaN or two, read through a transpose.
      const base = tsr.randint(-3, 4, shape, { device }).to('float32');
      const x = tsr.where(tsr.rand(shape, { device }).lt(0.1), NaN, base).transpose(0, -1);
      const dim = (seed >>> 0) % x.ndim;
      const want = sortRef(await nd(x), dim, descending);
      const [values, indices] = x.sort(dim, { descending });
      const ctx = { shape, dim, seed, descending };
      await same('sort', values, want.values, ctx);
      expect(await logical(indices), JSON.stringify(ctx)).toEqual(Array.from(want.indices.data));
      expect(await logical(x.argsort(dim, { descending })), JSON.stringify(ctx)).toEqual(Array.from(want.indices.data));
      const k = 1 + ((seed >>> 3) % x.shape[dim]!);
      const top = x.topk(k, dim, { largest: descending });
      expect(await logical(top.indices), JSON.stringify(ctx)).toEqual(await logical(tsr.tensor(Array.from(want.indices.data), { dtype: 'int64', device }).reshape(x.shape).narrow(dim, 0, k)));
    }), { seed: SEED, numRuns: RUNS });
    // int64 keeps its values exactly (the largest each device holds exactly: 2^53 - 1, 2^31 - 1 where it holds
    // int64 in 32 bits, 2^24 on gpu.js's float32); bool sorts false before true.
    const big = c.device === 'gpujs' ? 2 ** 24 : c.int64Bits === 64 ? 9007199254740991 : 2147483647;
    const ints = tsr.tensor([5, -2, big, 0], { dtype: 'int64', device });
    expect(await ints.sort().values.tolist()).toEqual([-2, 0, 5, big]);
    expect(await tsr.tensor([true, false, true], { device }).sort(0).indices.tolist()).toEqual([1, 0, 2]);
  }, 'float32');
});

describe('indexing routines', () => {
  test('gather, scatterAdd, indexSelect and embedding', ['gather', 'scatterAdd', 'indexSelect', 'embedding'], async () => {
    tsr.manualSeed(11);
    const x = tsr.randn([4, 5], { device });
    const idx = tsr.randint(0, 4, [3, 5], { device });
    await same('gather', x.gather(0, idx), gatherRef(await nd(x), 0, await nd(idx)), 'gather0');
    const idx1 = tsr.randint(0, 5, [4, 2], { device });
    await same('gather', x.gather(1, idx1), gatherRef(await nd(x), 1, await nd(idx1)), 'gather1');
    // Negative indices are refused, as PyTorch refuses them here (asynchronous devices at the next read).
    await expect((async () => x.gather(1, tsr.tensor([[-1]], { dtype: 'int64', device })).data())()).rejects.toThrow(tsr.IndexError);
    const src = tsr.randn([3, 5], { device });
    await same('scatterAdd', x.scatterAdd(0, idx, src), scatterAddRef(await nd(x), 0, await nd(idx), await nd(src)), 'scatter');
    const sel = tsr.tensor([3, 0, 3], { dtype: 'int64', device });
    await same('indexSelect', x.indexSelect(1, sel), indexSelectRef(await nd(x), 1, await nd(sel)), 'indexSelect');
    const ids = tsr.randint(0, 4, [2, 3], { device });
    await same('embedding', tsr.embedding(ids, x), embeddingRef(await nd(x), await nd(ids)), 'embedding');
  });
});

describe('convolution and pooling', () => {
  test('conv2d with stride, padding, dilation, groups and bias', ['conv2d'], async () => {
    const cfg = fc.record({
      n: fc.integer({ min: 1, max: 2 }), g: fc.integer({ min: 1, max: 2 }), cpg: fc.integer({ min: 1, max: 2 }), opg: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 3, max: 7 }), w: fc.integer({ min: 3, max: 7 }), k: fc.integer({ min: 1, max: 3 }),
      stride: fc.integer({ min: 1, max: 2 }), padding: fc.integer({ min: 0, max: 2 }), dilation: fc.integer({ min: 1, max: 2 }), bias: fc.boolean(), seed: fc.integer(),
    }).filter((c) => c.h + 2 * c.padding >= c.dilation * (c.k - 1) + 1 && c.w + 2 * c.padding >= c.dilation * (c.k - 1) + 1);
    await fc.assert(fc.asyncProperty(cfg, async (c) => {
      tsr.manualSeed(c.seed);
      const x = tsr.randn([c.n, c.g * c.cpg, c.h, c.w], { device }), wt = tsr.randn([c.g * c.opg, c.cpg, c.k, c.k], { device });
      const b = c.bias ? tsr.randn([c.g * c.opg], { device }) : undefined;
      const opt = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.g };
      await same('conv2d', x.conv2d(wt, b, opt), conv2dRef(await nd(x), await nd(wt), b && await nd(b), opt), c);
    }), { seed: SEED, numRuns: RUNS });
  });

  test('conv2d\'s gradients (input, weight, bias), over geometries drawn as above and a batch of many small images', ['conv2d'], async () => {
    const cfg = fc.record({
      n: fc.integer({ min: 1, max: 3 }), g: fc.integer({ min: 1, max: 2 }), cpg: fc.integer({ min: 1, max: 3 }), opg: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 3, max: 7 }), w: fc.integer({ min: 3, max: 7 }), kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }),
      stride: fc.integer({ min: 1, max: 2 }), padding: fc.integer({ min: 0, max: 2 }), dilation: fc.integer({ min: 1, max: 2 }), seed: fc.integer(),
    }).filter((c) => c.h + 2 * c.padding >= c.dilation * (c.kh - 1) + 1 && c.w + 2 * c.padding >= c.dilation * (c.kw - 1) + 1);
    // 70 images of 5x5: more than one GEMM's worth of folded images on the native backend.
    const many = { n: 70, g: 1, cpg: 3, opg: 4, h: 5, w: 5, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, seed: 7 };
    await fc.assert(fc.asyncProperty(cfg, async (c) => {
      tsr.manualSeed(c.seed);
      const x = tsr.randn([c.n, c.g * c.cpg, c.h, c.w], { device }).requiresGrad_();
      const wt = tsr.randn([c.g * c.opg, c.cpg, c.kh, c.kw], { device }).requiresGrad_(), b = tsr.randn([c.g * c.opg], { device }).requiresGrad_();
      const opt = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.g };
      const out = x.conv2d(wt, b, opt);
      const g = tsr.randn(out.shape, { device });
      const [gx, gw, gb] = tsr.grad(out, [x, wt, b], { gradOutputs: [g] });
      const want = conv2dGradRef(await nd(x), await nd(wt), await nd(g), opt);
      await same('conv2d', gx!, want.x, { ...c, grad: 'input' });
      await same('conv2d', gw!, want.w, { ...c, grad: 'weight' });
      await same('conv2d', gb!, want.b, { ...c, grad: 'bias' });
    }), { seed: SEED, numRuns: RUNS, examples: [[many]] });
  });

  test('maxPool2d and avgPool2d with padding, ceilMode and countIncludePad; max pooling\'s gradient with ties and NaN', ['maxPool2d', 'avgPool2d'], async () => {
    const cfg = fc.record({ h: fc.integer({ min: 2, max: 7 }), w: fc.integer({ min: 2, max: 7 }), k: fc.integer({ min: 1, max: 3 }), s: fc.integer({ min: 1, max: 3 }),
      padded: fc.boolean(), ceilMode: fc.boolean(), include: fc.boolean(), nan: fc.boolean(), seed: fc.integer() }).filter((c) => c.k <= c.h && c.k <= c.w);
    await fc.assert(fc.asyncProperty(cfg, async (c) => {
      tsr.manualSeed(c.seed);
      // Rounded values tie often (the gradient goes to each window's first maximum); a NaN wins its windows.
      const x = tsr.randn([2, 3, c.h, c.w], { device }).mul(2).round();
      if (c.nan) x.narrow(3, c.w - 1, 1).narrow(2, 0, 1).fill_(NaN);
      const opt = { kernelSize: c.k, stride: c.s, padding: c.padded ? Math.floor(c.k / 2) : 0, ceilMode: c.ceilMode, countIncludePad: c.include };
      await same('maxPool2d', x.maxPool2d(opt), maxPool2dRef(await nd(x), opt), c);
      await same('avgPool2d', x.avgPool2d(opt), avgPool2dRef(await nd(x), opt), c);
      const leaf = x.detach().requiresGrad_(), out = leaf.maxPool2d(opt);
      const g = tsr.randn(out.shape, { device });
      const [gx] = tsr.grad(out, [leaf], { gradOutputs: [g] });
      await same('maxPool2d', gx!, maxPoolGradRef(await nd(x), opt, await nd(g)), { ...c, grad: true });
    }), { seed: SEED, numRuns: RUNS });
  });
});
});

/** conv2d's gradients by definition: each product x * w of the forward sum sends g to both factors' partners. */
function conv2dGradRef(x: Nd, w: Nd, g: Nd, opt: tsr.Conv2dOptions): { x: Nd; w: Nd; b: Nd } {
  const p = tsr.ops.conv2dShape(x.shape, w.shape, undefined, opt);
  const gx = new Float64Array(x.data.length), gw = new Float64Array(w.data.length), gb = new Float64Array(p.o);
  const cg = p.c / p.groups, og = p.o / p.groups;
  for (let n = 0; n < p.n; n++) {
    for (let o = 0; o < p.o; o++) {
      const c0 = Math.floor(o / og) * cg;
      for (let i = 0; i < p.oh; i++) {
        for (let j = 0; j < p.ow; j++) {
          const gv = g.data[((n * p.o + o) * p.oh + i) * p.ow + j]!;
          gb[o] = gb[o]! + gv;
          for (let ci = 0; ci < cg; ci++) {
            for (let u = 0; u < p.kh; u++) {
              for (let v = 0; v < p.kw; v++) {
                const y = i * p.stride[0] - p.padding[0] + u * p.dilation[0], z = j * p.stride[1] - p.padding[1] + v * p.dilation[1];
                if (y < 0 || y >= p.h || z < 0 || z >= p.w) continue;
                const xi = ((n * p.c + c0 + ci) * p.h + y) * p.w + z, wi = ((o * cg + ci) * p.kh + u) * p.kw + v;
                gx[xi] = gx[xi]! + gv * w.data[wi]!;
                gw[wi] = gw[wi]! + gv * x.data[xi]!;
              }
            }
          }
        }
      }
    }
  }
  return { x: { shape: x.shape, data: gx }, w: { shape: w.shape, data: gw }, b: { shape: [p.o], data: gb } };
}

/** Max pooling's gradient by definition: each window's gradient to its first maximum (a NaN counting as largest). */
function maxPoolGradRef(x: Nd, opt: tsr.Pool2dOptions, g: Nd): Nd {
  const p = tsr.ops.pool2dShape('maxPool2d', x.shape, opt);
  const out = { shape: x.shape, data: new Float64Array(x.data.length) };
  for (let c = 0; c < p.planes; c++) {
    for (let i = 0; i < p.oh; i++) {
      for (let j = 0; j < p.ow; j++) {
        let at = -1;
        for (let u = 0; u < p.k[0]; u++) {
          for (let v = 0; v < p.k[1]; v++) {
            const y = i * p.stride[0] - p.padding[0] + u * p.dilation[0], z = j * p.stride[1] - p.padding[1] + v * p.dilation[1];
            if (y < 0 || y >= p.h || z < 0 || z >= p.w) continue;
            const pos = (c * p.h + y) * p.w + z, val = x.data[pos]!, best = at < 0 ? NaN : x.data[at]!;
            if (at < 0 || val > best || (Number.isNaN(val) && !Number.isNaN(best))) at = pos;
          }
        }
        if (at >= 0) out.data[at] = out.data[at]! + g.data[(c * p.oh + i) * p.ow + j]!;
      }
    }
  }
  return out;
}
