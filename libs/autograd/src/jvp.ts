/**
 * Forward-mode derivatives, jvp(f, x, v) = J v, computed with the double-vjp identity: u -> J^T u is
 * linear in u, so differentiating it w.r.t. u along v gives J v. Every op with a differentiable
 * gradient rule (all elementwise and linear ones) supports it without a second set of rules.
 */
import { type Tensor, zerosLike } from '@tessera/tensor';
import { grad } from './engine.js';
import { enableGrad } from './mode.js';

/**
 * torch.func.jvp: `fn(...inputs)` and its Jacobian-vector product with `tangents` (one per input, same
 * shapes), both detached. Costs two backward passes rather than a forward-mode pass.
 */
export function jvp(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], tangents: Tensor[]): [Tensor, Tensor] {
  return enableGrad(() => {
    const xs = inputs.map((x) => x.detach().requiresGrad_());
    const out = fn(...xs);
    const u = zerosLike(out).requiresGrad_();
    const vjps = grad(out, xs, { gradOutputs: u, createGraph: true, allowUnused: true });
    const used = vjps.map((g, i) => [g, tangents[i]!] as const).filter(([g]) => g !== undefined);
    const dot = used.map(([g, t]) => g!.mul(t).sum()).reduce((a, b) => a.add(b));
    const [jv] = grad(dot, [u], { allowUnused: true });
    return [out.detach(), jv ?? zerosLike(out)];
  });
}
