/**
 * Forward-mode derivatives, jvp(f, x, v) = J v, computed with the double-vjp identity: u -> J^T u is
 * linear in u, so differentiating it w.r.t. u along v gives J v. Every op with a differentiable
 * gradient rule (all elementwise and linear ones) supports it without a second set of rules.
 */
import { ArgumentError, ShapeError, fmtShape } from '@tessera/ops';
import { type Tensor, zerosLike } from '@tessera/tensor';
import { grad } from './engine.js';
import { enableGrad } from './mode.js';

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * torch.func.jvp: `fn(...inputs)` and its Jacobian-vector product with `tangents` (one per input, same
 * shapes), both detached. Costs two backward passes rather than a forward-mode pass.
 */
export function jvp(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], tangents: Tensor[]): [Tensor, Tensor] {
  if (tangents.length !== inputs.length) {
    throw new ArgumentError('jvp', `expected one tangent per input (${inputs.length}), got ${tangents.length}`);
  }
  tangents.forEach((t, i) => {
    if (!sameShape(t.shape, inputs[i]!.shape)) {
      throw new ShapeError('jvp', `tangent ${i} has shape ${fmtShape(t.shape)} but input ${i} has shape ${fmtShape(inputs[i]!.shape)}`);
    }
  });
  return enableGrad(() => {
    const xs = inputs.map((x) => x.detach().requiresGrad_());
    const out = fn(...xs);
    // An output that depends on no input has a zero derivative (as torch.func.jvp).
    if (!out.requiresGrad) return [out.detach(), zerosLike(out)];
    const u = zerosLike(out).requiresGrad_();
    const vjps = grad(out, xs, { gradOutputs: u, createGraph: true, allowUnused: true });
    const used = vjps.map((g, i) => [g, tangents[i]!] as const).filter(([g]) => g !== undefined);
    if (used.length === 0) return [out.detach(), zerosLike(out)];
    const dot = used.map(([g, t]) => g!.mul(t).sum()).reduce((a, b) => a.add(b));
    const [jv] = grad(dot, [u], { allowUnused: true });
    return [out.detach(), jv ?? zerosLike(out)];
  });
}
