/** PyTorch-style printing: tensor([[1.0000, 2.0000], ...], dtype=float64). */
import { DEFAULT_FLOAT, isFloating } from '@tessera/ops';
import type { Tensor } from './tensor.js';

const EDGE = 3;
const SUMMARIZE_ABOVE = 1000;

export function formatTensor(t: Tensor): string {
  if (t.isDisposed) return 'tensor(<disposed>)';
  const suffix = [t.dtype !== DEFAULT_FLOAT && t.dtype !== 'int64' && t.dtype !== 'bool' ? `dtype=${t.dtype}` : '', t.device !== 'cpu' ? `device='${t.device}'` : '']
    .filter(Boolean).join(', ');
  let values: string;
  try {
    values = render(t);
  } catch {
    values = `<${t.shape.join('x')} on ${t.device}: use await t.data()>`;
  }
  if (t.numel === 0) values = `[]`;
  return `tensor(${values}${suffix ? `, ${suffix}` : ''}${t.numel === 0 && t.ndim > 1 ? `, size=[${t.shape.join(', ')}]` : ''})`;
}

function render(t: Tensor): string {
  const flat = t.dataSync();
  const floats = isFloating(t.dtype);
  const num = (v: number | bigint): string => {
    if (t.dtype === 'bool') return v ? 'true' : 'false';
    if (!floats) return String(v);
    const x = Number(v);
    if (!Number.isFinite(x)) return String(x);
    return Math.abs(x) >= 1e8 || (x !== 0 && Math.abs(x) < 1e-4) ? x.toExponential(4) : x.toFixed(4);
  };
  const summarize = t.numel > SUMMARIZE_ABOVE;
  const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const rec = (d: number, base: number): string => {
    if (d === t.ndim) return num(flat[base]!);
    const n = t.shape[d]!;
    const idx = summarize && n > 2 * EDGE ? [...range(0, EDGE), -1, ...range(n - EDGE, n)] : range(0, n);
    const parts = idx.map((i) => (i < 0 ? '...' : rec(d + 1, base + i * strides[d]!)));
    const sep = d === t.ndim - 1 ? ', ' : `,\n${' '.repeat(8 + d)}`;
    return `[${parts.join(sep)}]`;
  };
  return rec(0, 0);
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
