/**
 * Judges one call from both outcomes: agreement, a deliberate difference (documented in the README's
 * "Semantics"), something the backend does not support, a disagreement on raise-or-return or on the
 * value, or a defect (an untyped throw, a half-write; crashes and hangs are found by the runner).
 */
import { type Call, type Encoded, type Num, type Outcome, decodeNum } from './call.js';

export type Verdict =
  | { readonly kind: 'agree' }
  | { readonly kind: 'documented' | 'unsupported' | 'torch cannot' | 'setup'; readonly cls: string }
  | { readonly kind: 'tessera raises' | 'torch raises' | 'value'; readonly cls: string; readonly detail: string }
  | { readonly kind: 'untyped' | 'half-write' | 'crash' | 'hang'; readonly cls: string; readonly detail: string };

/** |a - b| <= atol + rtol max(|a|, |b|), by result dtype (torch and Tessera round differently in the last bits). */
const TOL: Readonly<Record<string, readonly [number, number]>> = {
  float64: [1e-9, 1e-9], float32: [1e-4, 1e-4], float16: [1e-2, 1e-2],
};

const num = (v: Num | { $i: string } | boolean): number =>
  typeof v === 'boolean' ? +v : typeof v === 'object' && '$i' in v ? Number(v.$i) : decodeNum(v as Num);

function closeNum(a: number, b: number, dtype: string): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  const [rtol, atol] = TOL[dtype] ?? [0, 0];
  return Math.abs(a - b) <= atol + rtol * Math.max(Math.abs(a), Math.abs(b));
}

/** Why two encoded results differ, or undefined when they agree (`shapeOnly`: random results). */
export function difference(a: Encoded, b: Encoded, shapeOnly = false): string | undefined {
  const isT = (v: Encoded): v is Extract<Encoded, { $T: unknown }> => v !== null && typeof v === 'object' && '$T' in v;
  if (isT(a) && isT(b)) {
    const x = a.$T, y = b.$T;
    if (x.shape.length !== y.shape.length || x.shape.some((d, i) => d !== y.shape[i])) return `shape [${x.shape}] vs torch [${y.shape}]`;
    if (x.dtype !== y.dtype) return `dtype ${x.dtype} vs torch ${y.dtype}`;
    if (shapeOnly) return undefined;
    for (let i = 0; i < x.data.length; i++) {
      const p = num(x.data[i]!), q = num(y.data[i]!);
      if (!closeNum(p, q, x.dtype)) return `element ${i}: ${p} vs torch ${q} (${x.dtype})`;
    }
    return undefined;
  }
  if (isT(a) && a.$T.shape.length === 0 && !isT(b) && (typeof b === 'number' || typeof b === 'boolean' || (b !== null && typeof b === 'object' && '$f' in b))) {
    return difference(a, { $T: { shape: [], dtype: a.$T.dtype, data: [typeof b === 'boolean' ? +b : (b as Num)] } }, shapeOnly);
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${a.length} results vs torch ${b.length}`;
    for (let i = 0; i < a.length; i++) { const d = difference(a[i]!, b[i]!, shapeOnly); if (d) return `result ${i}: ${d}`; }
    return undefined;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? undefined : `${JSON.stringify(a)?.slice(0, 80)} vs torch ${JSON.stringify(b)?.slice(0, 80)}`;
}

/** A message reduced to its shape, so calls that fail alike group into one class. */
const gist = (msg = ''): string => msg.replace(/\[[^\]]*\]/g, '[..]').replace(/-?\d+(\.\d+)?(e-?\d+)?/g, 'N').replace(/'[^']*'/g, "'..'").slice(0, 90);

/** A backend saying it lacks a kernel or a dtype (webgpu's float64, gpujs's convolutions), not a wrong answer. */
function unsupported(t: Outcome): boolean {
  if (t.raises === 'NotImplementedError') return true;
  const m = t.msg ?? '';
  return (t.raises === 'DTypeError' || t.raises === 'DeviceError') && /(webgpu|gpujs|WGSL|gpu\.js)/.test(m) && /(not supported|has no|exceed|takes floating|cannot|left the range)/.test(m);
}

export function judge(call: Call, t: Outcome, p: Outcome): Verdict {
  const where = `${call.family}/${call.op}`;
  if (t.raises !== undefined && !t.typed) return { kind: 'untyped', cls: `${where}: ${t.raises}`, detail: t.msg ?? '' };
  if (t.halfWrite) return { kind: 'half-write', cls: where, detail: t.halfWrite };
  if (p.setup !== undefined || t.setup !== undefined) return { kind: 'setup', cls: `${where}: ${p.setup ?? t.setup}` };
  if (t.raises !== undefined && p.raises !== undefined) return { kind: 'agree' };
  if (t.raises !== undefined) {
    if (unsupported(t)) return { kind: 'unsupported', cls: `${where}: ${gist(t.msg)}` };
    // Tessera refuses in-place writes into an autograd graph, where torch rebases the graph (README, Semantics).
    if (/in-place operation on a tensor that (requires grad|receives values that require grad)/.test(t.msg ?? '') && call.tensors.some((d) => d.grad)) {
      return { kind: 'documented', cls: 'in-place operations on tensors of an autograd graph are refused (torch rebases the graph)' };
    }
    // flip is a view in Tessera (a copy in torch): view() of a flipped tensor needs reshape() (README, Semantics).
    if (/cannot view a tensor of shape .* without a copy/.test(t.msg ?? '') && call.tensors.some((d) => d.views?.some((v) => v[0] === 'flip'))) {
      return { kind: 'documented', cls: 'flip is a view: view() of a flipped tensor needs reshape(), as of any non-contiguous tensor' };
    }
    // torch 1.13 checks a dtype only when a kernel runs: on an empty tensor any dtype passes.
    const emptyResult = (e: Encoded | undefined): boolean => e !== null && typeof e === 'object' && '$T' in e && e.$T.shape.includes(0);
    if (t.raises === 'DTypeError' && (emptyResult(p.ok) || call.tensors.some((d) => d.shape.includes(0) || (d.views ?? []).some((v) => v[0] === 'expand' && (v[1] as number[]).includes(0))))) {
      return { kind: 'documented', cls: 'dtype errors are raised for empty tensors too (torch 1.13 checks only when a kernel runs)' };
    }
    if (/nllLoss: target must hold class indices as int64, got uint8/.test(t.msg ?? '')) return { kind: 'documented', cls: 'class-index targets are int64 only (torch 1.13 takes uint8 ones too, unless a weight is given)' };
    if (/mask can hold only 0 and 1/.test(t.msg ?? '') && call.tensors.some((d) => d.dtype.startsWith('float'))) return { kind: 'documented', cls: 'a floating mask is refused (torch 1.13 ignores it and returns the input unchanged)' };
    if (/labelSmoothing must be in \[0, 1\]/.test(t.msg ?? '')) return { kind: 'documented', cls: 'crossEntropy refuses labelSmoothing outside [0, 1], as PyTorch 2 does (1.13 did not check)' };
    return { kind: 'tessera raises', cls: `${where}: ${t.raises}: ${gist(t.msg)}`, detail: t.msg ?? '' };
  }
  if (p.raises !== undefined) {
    // Debian's torch 1.13 has no CPU kernel for many float16 (and some integer) ops: nothing to compare with.
    if (/not implemented for '(Half|Bool|Int|Long|Byte|Char|Short)'/.test(`${p.msg ?? ''} ${p.unaliasedError ?? ''}`)) return { kind: 'torch cannot', cls: `${where}: ${gist(p.msg)}` };
    // flip is a view in Tessera: copying a flipped tensor onto itself reads and writes the same places.
    if (/written-to tensor refers to a single memory location/.test(p.msg ?? '') && call.tensors.some((d) => d.views?.some((v) => v[0] === 'flip'))) {
      return { kind: 'documented', cls: 'flip is a view: a copy between a tensor and its flip of one layout is no write at all (torch copies the flip, then refuses the expanded target)' };
    }
    if (/Please look up dimensions by name, got: name = None|squeeze\(\) received an invalid combination of arguments - got \(list\)/.test(p.msg ?? '')) {
      return { kind: 'documented', cls: 'null means every dim wherever a dim is optional, and squeeze takes a list, as PyTorch 2 (1.13 refuses None for prod, squeeze, logsumexp)' };
    }
    if (p.unaliased !== undefined && t.after !== undefined && difference(t.after, p.unaliased) === undefined) {
      return { kind: 'documented', cls: 'an input that partially overlaps the written tensor is read as it was before the write (torch refuses)' };
    }
    return { kind: 'torch raises', cls: `${where}: ${p.raises}: ${gist(p.msg)}`, detail: p.msg ?? '' };
  }
  const shapeOnly = call.compare === 'shape';
  const d = difference(t.ok!, p.ok!, shapeOnly) ?? (t.after !== undefined && p.after !== undefined ? difference(t.after, p.after, shapeOnly) : undefined);
  if (d && p.unaliased !== undefined && t.after !== undefined && difference(t.after, p.unaliased) === undefined) {
    return { kind: 'documented', cls: 'an input that partially overlaps the written tensor is read as it was before the write (torch reads it mid-write)' };
  }
  if (d && /NaN/.test(d) && /conv/.test(call.op) && (call.tensors[1]?.data ?? []).some((v) => typeof v === 'object' && v !== null && '$f' in v && /inf/.test(String(v.$f)))) {
    return { kind: 'documented', cls: "an infinite conv weight over a zero padding tap: NaN or not depends on the kernel's algorithm (PyTorch's own CPU paths differ: its groups = 1 path multiplies the padding, its grouped path skips it)" };
  }
  if (d) return { kind: 'value', cls: `${where}: ${gist(d)}`, detail: d };
  return { kind: 'agree' };
}
