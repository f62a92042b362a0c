/**
 * Device 'cuda' without a GPU: it reports itself unavailable with a reason (and opens where there is
 * one); the CUDA C emitter's output has the semantics the other backends have; every generated
 * kernel (every elementwise spec and dtype, every reduction in every launch mode, every routine)
 * compiles with NVRTC, which needs no GPU; and the matmul's mapping onto cuBLAS's column-major GEMM
 * computes the right product, checked by running the GEMM calls it makes on a reference GEMM.
 *
 * The NVRTC checks skip (with the reason) only where NVRTC is missing; CI names 'nvrtc' in
 * TESSERA_REQUIRE_BACKENDS and setup installs it (pip's nvidia-cuda-nvrtc in .venv).
 */
import { describe, expect, it } from 'vitest';
import * as tsr from '@tessera/tensor';
import { type Conv2dPlan, DTYPE_SETS, DeviceError, ELEMENTWISE, REDUCTIONS, type DType, reduceTypes } from '@tessera/ops';
import { cudaStatus, initCuda, nvrtcCompile } from '../src/index.js';
import { catalog, reduceCatalog } from '../src/catalog.js';
import { castCode, literal, CUDA_OPS } from '../src/cuda/emit.js';
import { elementwiseSource, reduceSource } from '../src/cuda/kernels.js';
import { createRoutines } from '../src/cuda/routines.js';
import type { CudaRuntime, GemmOperand } from '../src/cuda/runtime.js';
import type { CBuffer } from '../src/cuda/buffer.js';

const status = cudaStatus();
const nvrtc = !status.nvrtc.startsWith('missing') && !status.nvrtc.startsWith('unknown');
if (!nvrtc && (process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').split(',').includes('nvrtc')) throw new Error(`nvrtc is required: ${status.nvrtc}`);

describe('cuda device', () => {
  it(status.available ? 'opens the GPU' : 'reports itself unavailable with the reason, and initCuda rejects with a DeviceError', async () => {
    if (status.available) {
      const b = await initCuda();
      expect(b.device).toBe('cuda');
      return;
    }
    expect(status.reason).toMatch(/\w/);
    const err = await initCuda().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as Error).message).toContain(status.reason!);
  });
});

describe('CUDA C emitter', () => {
  it('wraps signed integer arithmetic through unsigned types (signed overflow is undefined in C++)', () => {
    expect(CUDA_OPS.add(['a', 'b'], 'int32', 'int32')).toBe('((int)((unsigned)a + (unsigned)b))');
    expect(CUDA_OPS.mul(['a', 'b'], 'int64', 'int64')).toBe('((long long)((unsigned long long)a * (unsigned long long)b))');
    expect(CUDA_OPS.neg(['a'], 'int32', 'int32')).toBe('((int)((unsigned)0 - (unsigned)a))');
    expect(CUDA_OPS.sub(['a', 'b'], 'uint8', 'uint8')).toBe('((unsigned char)(a - b))');
    expect(CUDA_OPS.add(['a', 'b'], 'float32', 'float32')).toBe('(a + b)');
  });

  it('uses guarded integer division, NaN-propagating max/min and the float or double math function', () => {
    expect(CUDA_OPS.div(['a', 'b'], 'int64', 'int64')).toBe('t_idiv(a, b)');
    expect(CUDA_OPS.fmod(['a', 'b'], 'int32', 'int32')).toBe('t_irem(a, b)');
    expect(CUDA_OPS.max(['a', 'b'], 'float32', 'float32')).toBe('t_max(a, b)');
    expect(CUDA_OPS.exp(['a'], 'float32', 'float32')).toBe('expf(a)');
    expect(CUDA_OPS.exp(['a'], 'float64', 'float64')).toBe('exp(a)');
    expect(CUDA_OPS.exp(['a'], 'float16', 'float16')).toBe('expf(a)');
    expect(CUDA_OPS.rint(['a'], 'float32', 'float32')).toBe('rintf(a)');
    expect(CUDA_OPS.floor(['a'], 'int32', 'int32')).toBe('a');
    expect(CUDA_OPS.isnan(['a'], 'bool', 'float64')).toBe('(a != a)');
  });

  it('casts as C with saturating float -> int, rounding to half for float16', () => {
    expect(castCode('x', 'float32', 'int32')).toBe('((int)(long long)x)');
    expect(castCode('x', 'float64', 'int64')).toBe('((long long)x)');
    expect(castCode('x', 'float32', 'float16')).toBe('t_h2f(t_f2h((float)x))');
    expect(castCode('x', 'float64', 'float16')).toBe('t_h2f(t_d2h(x))');
    expect(castCode('x', 'float32', 'bool')).toBe('(x != 0)');
    expect(castCode('x', 'bool', 'float32')).toBe('((float)(x ? 1 : 0))');
  });

  it('writes exact literals, non-finite ones as bit patterns', () => {
    expect(literal(NaN, 'float32')).toBe('__int_as_float(0x7fc00000)');
    expect(literal(-Infinity, 'float64')).toBe('__longlong_as_double(0xfff0000000000000LL)');
    expect(literal(-0, 'float32')).toBe('(-0.0f)');
    expect(literal(0.1, 'float32')).toBe(`(${Math.fround(0.1)}f)`);
    expect(literal(0.1, 'float16')).toBe('(0.0999755859375f)');
    expect(literal(-1, 'uint8')).toBe('((unsigned char)255)');
    expect(literal(-(2 ** 31), 'int32')).toBe('(-2147483647 - 1)');
    expect(literal(-(2 ** 63), 'int64')).toBe('(-9223372036854775807LL - 1)');
  });

  it('a float16 kernel loads through t_h2f and stores through t_f2h, with their PTX definitions', () => {
    const src = tsr.codegen({ backend: 'cuda', op: 'add', dtype: 'float16' });
    expect(src).toContain('t_h2f(A0[a0])');
    expect(src).toMatch(/O\[o\] = t_f2h\(/);
    expect(src).toContain('cvt.rn.f16.f32');
    expect(src).not.toContain('#include');
  });
});

/** Every float16 elementwise kernel (the native catalog has none) for the specs that accept float16. */
function halfKernels(): { id: string; src: string }[] {
  return Object.values(ELEMENTWISE).filter((s) => (DTYPE_SETS[s.accepts] as readonly DType[]).includes('float16') && s.result !== 'logical')
    .map((s) => ({ id: `${s.name}|float16`, src: tsr.codegen({ backend: 'cuda', op: s.name, dtype: 'float16', rank: 3 }) }));
}

const FAKE = 1 << 30;
const view = (dtype: DType, shape: number[], strides?: number[], offset = 0): tsr.View => {
  const st = strides ?? shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { buffer: { id: 7, dtype, length: FAKE } satisfies CBuffer, dtype, shape, strides: st, offset };
};

/** A runtime that records each launch's source instead of running it (and GEMMs for the caller to check). */
function recorder(gemm: (dtype: string, m: number, n: number, k: number, batch: number, a: GemmOperand, b: GemmOperand, c: GemmOperand) => void = () => {}) {
  const sources = new Map<string, string>();
  const rt = {
    status: 1,
    launch: (key: string, source: () => string) => { if (!sources.has(key)) sources.set(key, source()); },
    gemm: (_op: string, dtype: string, m: number, n: number, k: number, batch: number, a: GemmOperand, b: GemmOperand, c: GemmOperand) => gemm(dtype, m, n, k, batch, a, b, c),
  } as unknown as CudaRuntime;
  let next = 100;
  const routines = createRoutines(rt, (bytes) => ({ id: next++, dtype: 'uint8', length: bytes }), () => {});
  return { sources, routines };
}

/** Sources of every routine, for each float dtype (and the index dtypes the indexing routines take). */
function routineSources(): Map<string, string> {
  const { sources, routines: r } = recorder();
  const plan: Conv2dPlan = { n: 2, c: 4, h: 9, w: 9, o: 6, kh: 3, kw: 3, stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2, oh: 5, ow: 5, out: [2, 6, 5, 5] };
  for (const d of ['float32', 'float64', 'float16'] as const) {
    r.matmul({ out: view(d, [2, 3, 5]), a: view(d, [2, 3, 4], [0, 1, 3]), b: view(d, [2, 4, 5], [20, 1, 0]), m: 3, k: 4, n: 5 });
    r.softmax(view(d, [3, 7]), view(d, [3, 7]), 1, false);
    r.softmax(view(d, [3, 7, 2]), view(d, [3, 7, 2]), 1, true);
    r.layerNorm(view(d, [3, 8]), view(d, [3, 8]), view(d, [8]), view(d, [8]), 8, 1e-5);
    r.layerNorm(view(d, [3, 8]), view(d, [3, 8]), undefined, undefined, 8, 1e-5);
    r.conv2d(view(d, [2, 6, 5, 5]), view(d, [2, 4, 9, 9]), view(d, [6, 2, 3, 3]), view(d, [6]), plan);
    r.fold(view(d, [2, 4, 9, 9]), view(d, [2, 36, 25]), plan);
    r.pool2d(view(d, [8, 4, 4]), view(d, [8, 9, 9]), { planes: 8, h: 9, w: 9, k: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], oh: 4, ow: 4 } as never, 'max', false, view('int64', [8, 4, 4]));
    r.pool2d(view(d, [8, 4, 4]), view(d, [8, 9, 9]), { planes: 8, h: 9, w: 9, k: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], oh: 4, ow: 4 } as never, 'avg', true);
  }
  for (const d of ['float32', 'int32', 'int64', 'uint8', 'bool', 'float16', 'float64'] as const) {
    r.matmul({ out: view(d, [3, 5]), a: view(d, [3, 4]), b: view(d, [4, 5], [1, 4]), m: 3, k: 4, n: 5 });
    r.gather(view(d, [3, 2]), view(d, [3, 5]), view('int64', [3, 2]), 1);
    r.indexSelect(view(d, [3, 2]), view(d, [3, 5]), view('int32', [2]), 1);
    r.scatterAdd(view(d, [3, 5]), view('int64', [3, 2]), view(d, [3, 2]), 1);
    r.unfold(view(d, [2, 36, 25]), view(d, [2, 4, 9, 9]), plan);
    for (const descending of [false, true]) r.sort!(view(d, [3, 5]), view('int64', [3, 5]), view(d, [3, 5], [1, 3]), 1, descending);
  }
  // Mixed dtypes take the direct kernel.
  r.conv2d(view('float32', [2, 6, 5, 5]), view('float16', [2, 4, 9, 9]), view('float32', [6, 2, 3, 3]), undefined, plan);
  return sources;
}

describe.skipIf(!nvrtc)(`every generated CUDA kernel compiles with NVRTC (${status.nvrtc})`, () => {
  // NVRTC compiles synchronously, ~50 ms a kernel on the 2-core machine: yielding every few kernels
  // keeps the worker's event loop (vitest's RPC to the runner, 60 s timeout) alive through the minute
  // a whole catalog takes.
  const compile = async (list: Iterable<{ id: string; src: string }>) => {
    const failed: string[] = [];
    let n = 0;
    for (const { id, src } of list) {
      try { nvrtcCompile(src, 'sm_90'); n++; } catch (e) { failed.push(`${id}: ${(e as Error).message.slice(0, 600)}`); }
      if ((n + failed.length) % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(failed).toEqual([]);
    return n;
  };

  it('elementwise: every spec and dtype of the native catalog, and float16', async () => {
    const kernels = catalog().map((e) => ({ id: e.kernel.id, src: elementwiseSource(e.kernel, 2, 'unsigned') }));
    expect(await compile([...kernels, ...halfKernels()])).toBeGreaterThan(500);
  }, 300_000);

  it('reductions and scans in every launch mode and stage, with 64-bit row indices', async () => {
    const list: { id: string; src: string }[] = [];
    for (const k of reduceCatalog()) {
      if (k.scan) { list.push({ id: `${k.id}|scan`, src: reduceSource(k, 1, 2, 'scan', 'full') }); continue; }
      for (const [mode, stage] of [['group', 'full'], ['thread', 'full'], ['group', 'partial'], ['group', 'partials']] as const) list.push({ id: `${k.id}|${mode}|${stage}`, src: reduceSource(k, 2, 1, mode, stage) });
    }
    // float16 input, float32 accumulation (sum) and float16 accumulation (max).
    for (const name of ['sum', 'amax', 'argmax']) {
      const spec = REDUCTIONS[name]!;
      const { compute, out } = reduceTypes(spec, 'float16');
      list.push({ id: `${name}|float16`, src: reduceSource(tsr.reduceKernel(spec, 'float16', compute, out, false), 1, 1, 'group', 'full') });
    }
    expect(await compile(list)).toBeGreaterThan(100);
  }, 300_000);

  it('routines: matmul, softmax, layerNorm, indexing, sort, the convolution family and pooling', async () => {
    const sources = routineSources();
    expect(await compile([...sources].map(([id, src]) => ({ id, src })))).toBeGreaterThan(40);
  }, 300_000);
});

describe('matmul on cuBLAS: the column-major GEMM calls compute the row-major product', () => {
  /** A reference strided-batched column-major GEMM over host arrays (what cuBLAS computes). */
  function runGemm(mem: Map<number, Float64Array>, m: number, n: number, k: number, batch: number, a: GemmOperand, b: GemmOperand, c: GemmOperand) {
    const at = (o: GemmOperand, r: number, col: number, i: number) => o.offset / 8 + i * o.stride + (o.trans ? r * o.ld + col : col * o.ld + r);
    for (let i = 0; i < batch; i++) {
      for (let r = 0; r < m; r++) {
        for (let col = 0; col < n; col++) {
          let s = 0;
          for (let q = 0; q < k; q++) s += mem.get(a.buffer)![at(a, r, q, i)]! * mem.get(b.buffer)![at(b, q, col, i)]!;
          mem.get(c.buffer)![at(c, r, col, i)] = s;
        }
      }
    }
  }

  const cases: [string, number[], number[], number[], number[]][] = [
    // name, a shape, a strides, b shape, b strides (out is contiguous [...batch, m, n])
    ['plain', [3, 4], [4, 1], [4, 5], [5, 1]],
    ['a transposed', [3, 4], [1, 3], [4, 5], [5, 1]],
    ['b transposed', [3, 4], [4, 1], [4, 5], [1, 4]],
    ['batched, b broadcast over the batch', [2, 3, 4], [12, 4, 1], [2, 4, 5], [0, 5, 1]],
    ['two batch dims, partly broadcast', [2, 3, 3, 4], [12, 0, 4, 1], [2, 3, 4, 5], [20, 40, 5, 1]],
    ['k = 1 and n = 1', [3, 1], [1, 1], [1, 1], [1, 1]],
  ];
  for (const [name, as, ast, bs, bst] of cases) {
    it(name, () => {
      const m = as.at(-2)!, k = as.at(-1)!, n = bs.at(-1)!;
      const batch = bs.slice(0, -2).map((d, i) => Math.max(d, as[i] ?? 1));
      const outShape = [...batch, m, n];
      const span = (shape: number[], st: number[]) => 1 + shape.reduce((s, d, i) => s + (d - 1) * Math.abs(st[i]!), 0);
      const mem = new Map<number, Float64Array>([
        [1, Float64Array.from({ length: span(as, ast) }, (_, i) => ((i * 7) % 11) - 5)],
        [2, Float64Array.from({ length: span(bs, bst) }, (_, i) => ((i * 5) % 13) - 6)],
        [3, new Float64Array(outShape.reduce((x, y) => x * y, 1))],
      ]);
      const v = (id: number, shape: number[], strides: number[]): tsr.View => ({ buffer: { id, dtype: 'float64', length: FAKE }, dtype: 'float64', shape, strides, offset: 0 });
      let calls = 0;
      const { routines } = recorder((_d, gm, gn, gk, gb, ga, gbb, gc) => { calls++; runGemm(mem, gm, gn, gk, gb, ga, gbb, gc); });
      const outStrides = outShape.map((_, i) => outShape.slice(i + 1).reduce((x, y) => x * y, 1));
      routines.matmul({ out: v(3, outShape, outStrides), a: v(1, as, ast), b: v(2, bs, bst), m, k, n });
      expect(calls).toBeGreaterThan(0);
      // The expected product, straight from the strided operands.
      const A = mem.get(1)!, B = mem.get(2)!, got = mem.get(3)!;
      const bi = outShape.slice(0, -2);
      const nb = bi.reduce((x, y) => x * y, 1);
      for (let t = 0; t < nb; t++) {
        let ao = 0, bo = 0, rem = t;
        for (let d = bi.length - 1; d >= 0; d--) { const c = rem % bi[d]!; rem = Math.floor(rem / bi[d]!); ao += c * ast[d]!; bo += c * bst[d]!; }
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let q = 0; q < k; q++) s += A[ao + i * ast.at(-2)! + q * ast.at(-1)!]! * B[bo + q * bst.at(-2)! + j * bst.at(-1)!]!;
            expect(got[t * m * n + i * n + j]).toBe(s);
          }
        }
      }
    });
  }
});
