/**
 * gradcheck / gradgradcheck: analytical Jacobians (one backward per output element) against central
 * differences, in float64, as torch.autograd.gradcheck.
 */
import { ArgumentError, TesseraError } from '@tessera/ops';
import { type Tensor, cat, tensor } from '@tessera/tensor';
import { grad } from './engine.js';
import { enableGrad, noGrad } from './mode.js';

/** gradcheck's verdict that an analytical gradient disagrees with the numerical one (torch's GradcheckError). */
export class GradcheckError extends TesseraError {}

/** Step and tolerances of gradcheck; elements pass when `|analytical - numerical| <= atol + rtol * |numerical|`. */
export interface GradcheckOptions {
  /** Central-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-3). */
  rtol?: number;
}

type Fn = (...inputs: Tensor[]) => Tensor;

function values(t: Tensor): Float64Array { return Float64Array.from(t.dataSync() as Float64Array); }

/** Numerical Jacobian d out / d inputs[k] by central differences, rows = output elements. */
function numerical(fn: Fn, inputs: Tensor[], k: number, eps: number): number[][] {
  const x = inputs[k]!;
  const buf = x.storage.buffer as Float64Array;
  const rows: number[][] = [];
  noGrad(() => {
    for (let i = 0; i < x.numel; i++) {
      const at = x.offset + i; // inputs are contiguous float64 (checked by the caller)
      const orig = buf[at]!;
      buf[at] = orig + eps;
      const plus = values(fn(...inputs));
      buf[at] = orig - eps;
      const minus = values(fn(...inputs));
      buf[at] = orig;
      plus.forEach((p, o) => { (rows[o] ??= [])[i] = (p - minus[o]!) / (2 * eps); });
    }
  });
  return rows;
}

/** Throws GradcheckError at the first element where analytical and numerical gradients disagree; returns true otherwise. */
export function gradcheck(fn: Fn, inputs: Tensor[], opt: GradcheckOptions = {}): true {
  const eps = opt.eps ?? 1e-6, atol = opt.atol ?? 1e-5, rtol = opt.rtol ?? 1e-3;
  inputs.forEach((x, i) => {
    if (x.dtype !== 'float64' || !x.isContiguous()) throw new ArgumentError('gradcheck', `input ${i} must be a contiguous float64 tensor, got ${x.dtype}`);
  });
  const diff = inputs.filter((x) => x.requiresGrad);
  const out = fn(...inputs);
  const numel = out.numel;
  const analytical = diff.map(() => [] as number[][]);
  for (let o = 0; o < numel; o++) {
    const basis = new Float64Array(numel);
    basis[o] = 1;
    const gs = grad(out, diff, { gradOutputs: tensor(basis, { shape: out.shape }).to(out.dtype), retainGraph: true, allowUnused: true });
    gs.forEach((g, k) => { analytical[k]![o] = g ? Array.from(values(g)) : new Array<number>(diff[k]!.numel).fill(0); });
  }
  diff.forEach((x, k) => {
    const num = numerical(fn, inputs, inputs.indexOf(x), eps);
    for (let o = 0; o < numel; o++) {
      for (let i = 0; i < x.numel; i++) {
        const a = analytical[k]![o]![i]!, n = num[o]![i]!;
        if (!(Math.abs(a - n) <= atol + rtol * Math.abs(n))) {
          throw new GradcheckError('gradcheck', `Jacobian mismatch for input ${inputs.indexOf(x)} at output ${o}, input element ${i}: analytical ${a}, numerical ${n}`);
        }
      }
    }
  });
  return true;
}

/** Checks second derivatives: gradcheck of (inputs, v) -> vjp(fn)(v) with createGraph. */
export function gradgradcheck(fn: Fn, inputs: Tensor[], opt: GradcheckOptions = {}): true {
  const out = noGrad(() => fn(...inputs));
  const v = tensor(Float64Array.from({ length: out.numel }, (_, i) => Math.sin(i + 1)), { shape: out.shape }).requiresGrad_();
  const n = inputs.length;
  // The numerical pass evaluates this under noGrad; the inner backward needs its graph regardless.
  const vjp = (...args: Tensor[]): Tensor => enableGrad(() => {
    const ins = args.slice(0, n), g = args[n]!;
    const used = ins.filter((x) => x.requiresGrad);
    const grads = grad(fn(...ins), used, { gradOutputs: g, createGraph: true, allowUnused: true });
    // One flat output holding every input's gradient, so gradcheck sees a single tensor.
    return cat(grads.map((gi, k) => (gi ?? used[k]!.mul(0)).reshape(-1)));
  });
  return gradcheck(vjp, [...inputs, v], opt);
}
