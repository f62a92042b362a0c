/**
 * What every generated compute shader shares: binding declarations, the linear thread and workgroup
 * ids (dispatches spread over x and y past 65,535 workgroups), and the launch-parameter ("meta")
 * buffer that carries shapes, strides, offsets and scalar parameters as 32-bit words.
 */
import type { DType } from '@tessera/ops';
import { helpersFor, storageType } from './emit.js';

export const WG = 256;

export interface Buf { readonly name: string; readonly dtype?: DType; readonly type?: string; readonly write: boolean }

/** Full WGSL module: `enable f16` when a binding or the body needs it, helpers the body calls, bindings, then `main`. */
export function shader(bufs: readonly Buf[], body: string, opt: { wg?: number; shared?: string } = {}): string {
  const decls = bufs.map((b, i) => {
    const elem = b.type ?? storageType(b.dtype!);
    return `@group(0) @binding(${i}) var<storage, ${b.write ? 'read_write' : 'read'}> ${b.name}: array<${elem}>;`;
  });
  decls.push(`@group(0) @binding(${bufs.length}) var<storage, read> M: array<u32>;`);
  const code = `${opt.shared ?? ''}\n${body}`;
  const f16 = code.includes('f16') || bufs.some((b) => b.dtype === 'float16');
  return [
    f16 ? 'enable f16;' : '',
    ...decls,
    helpersFor(code),
    opt.shared ?? '',
    `@compute @workgroup_size(${opt.wg ?? WG})`,
    'fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {',
    `  let group = wid.x + wid.y * nwg.x;`,
    `  let tid = group * ${opt.wg ?? WG}u + lid.x;`,
    `  ${body}`,
    '}',
  ].filter(Boolean).join('\n');
}

/** `M[k]` as an i32 (strides and offsets may be negative). */
export const mi = (k: number | string): string => `bitcast<i32>(M[${k}])`;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Writes launch parameters into a meta slot in order. */
export class MetaWriter {
  private at = 0;
  constructor(private readonly words: Uint32Array) {}
  u(v: number): this { this.words[this.at++] = v >>> 0; return this; }
  i(v: number): this { this.words[this.at++] = v | 0; return this; }
  f(v: number): this { f32[0] = v; this.words[this.at++] = u32[0]!; return this; }
  all(vs: readonly number[], signed = true): this { for (const v of vs) (signed ? this.i(v) : this.u(v)); return this; }
  get length(): number { return this.at; }
}

/**
 * Code that walks a linear index `lin` (u32) through `shape` (row-major, `rank` dims whose sizes
 * are at M[shapeAt + d]) and adds coord * stride to each named i32 offset variable, with the
 * operand's strides at M[strideAt + d].
 */
export function unravel(lin: string, rank: number, shapeAt: number | string, offsets: readonly { v: string; strideAt: number | string }[], tag = 'u'): string {
  if (rank === 0) return '';
  const at = (base: number | string, d: number) => (typeof base === 'number' ? `${base + d}` : `${base} + ${d}u`);
  const lines = [`var ${tag}r = ${lin};`];
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(`{ let n = M[${at(shapeAt, d)}]; let c = i32(${tag}r % n); ${tag}r = ${tag}r / n; ${offsets.map((o) => `${o.v} += c * ${mi(at(o.strideAt, d))};`).join(' ')} }`);
  }
  return lines.join('\n  ');
}
