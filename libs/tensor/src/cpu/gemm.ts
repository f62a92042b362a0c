/**
 * Cache-blocked GEMM in plain JS: C[m,n] (+)= A[m,k] B[k,n] with arbitrary strides.
 * A and B are packed per block into float64 panels (MR rows / NR columns interleaved along k), so
 * the micro-kernel streams both operands sequentially and keeps an MR x NR tile of C in locals.
 */
const MR = 4;
const NR = 4;
const KC = 256;
const MC = 64;
const NC = 1024;

type Get = (i: number) => number;

export interface GemmArgs {
  m: number; k: number; n: number;
  a: Get; aOff: number; aRs: number; aCs: number;
  b: Get; bOff: number; bRs: number; bCs: number;
  /** Output row-major with row stride `n`, at `cOff`. */
  c: Float64Array; cOff: number;
}

let packA: Float64Array = new Float64Array(MC * KC);
let packB: Float64Array = new Float64Array(KC * NC);

function ensure(buf: Float64Array, size: number): Float64Array {
  return buf.length >= size ? buf : new Float64Array(size);
}

/** Packs A[i0:i0+mc, p0:p0+kc] as ceil(mc/MR) panels of [kc][MR], zero-padded. */
function packPanelA(g: GemmArgs, i0: number, mc: number, p0: number, kc: number): void {
  const dst = packA;
  let w = 0;
  for (let i = 0; i < mc; i += MR) {
    for (let p = 0; p < kc; p++) {
      const base = g.aOff + (p0 + p) * g.aCs;
      for (let r = 0; r < MR; r++) dst[w++] = i + r < mc ? g.a(base + (i0 + i + r) * g.aRs) : 0;
    }
  }
}

/** Packs B[p0:p0+kc, j0:j0+nc] as ceil(nc/NR) panels of [kc][NR], zero-padded. */
function packPanelB(g: GemmArgs, p0: number, kc: number, j0: number, nc: number): void {
  const dst = packB;
  let w = 0;
  for (let j = 0; j < nc; j += NR) {
    for (let p = 0; p < kc; p++) {
      const base = g.bOff + (p0 + p) * g.bRs;
      for (let c = 0; c < NR; c++) dst[w++] = j + c < nc ? g.b(base + (j0 + j + c) * g.bCs) : 0;
    }
  }
}

/** C[rows, cols] += Ap (panel at ao) x Bp (panel at bo) over kc, for a tile of up to MR x NR. */
function micro(kc: number, ao: number, bo: number, c: Float64Array, co: number, ldc: number, rows: number, cols: number): void {
  const A = packA, B = packB;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let p = 0; p < kc; p++) {
    const a0 = A[ao]!, a1 = A[ao + 1]!, a2 = A[ao + 2]!, a3 = A[ao + 3]!;
    const b0 = B[bo]!, b1 = B[bo + 1]!, b2 = B[bo + 2]!, b3 = B[bo + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    ao += MR; bo += NR;
  }
  if (rows === MR && cols === NR) {
    c[co]! += c00; c[co + 1]! += c01; c[co + 2]! += c02; c[co + 3]! += c03; co += ldc;
    c[co]! += c10; c[co + 1]! += c11; c[co + 2]! += c12; c[co + 3]! += c13; co += ldc;
    c[co]! += c20; c[co + 1]! += c21; c[co + 2]! += c22; c[co + 3]! += c23; co += ldc;
    c[co]! += c30; c[co + 1]! += c31; c[co + 2]! += c32; c[co + 3]! += c33;
    return;
  }
  const tile = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) c[co + r * ldc + j]! += tile[r * NR + j]!;
}

/** C = A x B into a zeroed (or accumulating) float64 output. */
export function gemm(g: GemmArgs): void {
  const { m, k, n, c, cOff } = g;
  packA = ensure(packA, MC * KC);
  packB = ensure(packB, KC * (Math.min(NC, n) + NR));
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kc = Math.min(KC, k - p0);
      packPanelB(g, p0, kc, j0, nc);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = Math.min(MC, m - i0);
        packPanelA(g, i0, mc, p0, kc);
        for (let j = 0; j < nc; j += NR) {
          for (let i = 0; i < mc; i += MR) {
            micro(kc, i * kc, j * kc, c, cOff + (i0 + i) * n + j0 + j, n, Math.min(MR, mc - i), Math.min(NR, nc - j));
          }
        }
      }
    }
  }
}
