/**
 * Module: parameters, buffers and submodules are discovered from the instance's own properties (as
 * PyTorch's __setattr__ registration), so `this.fc = new Linear(4, 2)` is all a layer needs.
 */
import { ArgumentError, type DType, ShapeError, fmtShape } from '@tessera/ops';
import { type DeviceKind, Tensor } from '@tessera/tensor';
import { noGrad } from '@tessera/autograd';

const PARAMETERS = new WeakSet<Tensor>();
const BUFFERS = new WeakSet<Tensor>();

/** Marks a tensor as a trainable parameter (a leaf that requires grad). */
export function parameter(t: Tensor): Tensor {
  const p = t.isLeaf ? t : t.detach();
  p.requiresGrad_();
  PARAMETERS.add(p);
  return p;
}
/** Marks a tensor as state saved in the state dict but not trained (e.g. BatchNorm running stats). */
export function buffer(t: Tensor): Tensor {
  BUFFERS.add(t);
  return t;
}
export const isParameter = (t: unknown): t is Tensor => t instanceof Tensor && PARAMETERS.has(t);
const isBuffer = (t: unknown): t is Tensor => t instanceof Tensor && BUFFERS.has(t);

export class StateDictError extends ArgumentError {}

export abstract class Module {
  training = true;

  abstract forward(...inputs: Tensor[]): Tensor;

  /** Own properties in declaration order: [name, value] for modules, parameters, buffers and module arrays. */
  private *entries(): Generator<[string, unknown]> {
    for (const [k, v] of Object.entries(this)) {
      if (v instanceof Module || isParameter(v) || isBuffer(v)) yield [k, v];
      else if (Array.isArray(v) && v.length && v.every((m) => m instanceof Module)) for (const [i, m] of v.entries()) yield [`${k}.${i}`, m];
    }
  }

  *namedChildren(): Generator<[string, Module]> {
    for (const [k, v] of this.entries()) if (v instanceof Module) yield [k, v];
  }
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [k, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${k}` : k);
  }
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [k, v] of this.entries()) {
      const name = prefix ? `${prefix}.${k}` : k;
      if (v instanceof Module) yield* v.namedParameters(name);
      else if (isParameter(v)) yield [name, v];
    }
  }
  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [k, v] of this.entries()) {
      const name = prefix ? `${prefix}.${k}` : k;
      if (v instanceof Module) yield* v.namedBuffers(name);
      else if (isBuffer(v)) yield [name, v];
    }
  }
  parameters(): Tensor[] { return [...this.namedParameters()].map(([, p]) => p); }
  children(): Module[] { return [...this.namedChildren()].map(([, m]) => m); }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }
  eval(): this { return this.train(false); }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = undefined;
  }

  /** Parameters and buffers by dotted name (values share storage with the module). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()].map(([k, t]) => [k, t.detach()]));
  }

  /** Copies values in; with strict (default) every key must match both ways, and shapes must agree. */
  loadStateDict(state: Readonly<Record<string, Tensor>>, opt: { strict?: boolean } = {}): void {
    const own = new Map([...this.namedParameters(), ...this.namedBuffers()]);
    const missing = [...own.keys()].filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !own.has(k));
    if ((opt.strict ?? true) && (missing.length || unexpected.length)) {
      throw new StateDictError('loadStateDict', [missing.length ? `missing keys: ${missing.join(', ')}` : '', unexpected.length ? `unexpected keys: ${unexpected.join(', ')}` : ''].filter(Boolean).join('; '));
    }
    for (const [k, t] of own) {
      const src = state[k];
      if (src && (src.ndim !== t.ndim || src.shape.some((d, i) => d !== t.shape[i]))) {
        throw new ShapeError('loadStateDict', `${k}: checkpoint has shape ${fmtShape(src.shape)}, the module ${fmtShape(t.shape)}`);
      }
    }
    noGrad(() => { for (const [k, t] of own) if (state[k]) t.copy_(state[k]!); });
  }

  /** Moves/casts every parameter and buffer (new tensors, re-registered under the same names). */
  to(target: DeviceKind | DType): this {
    for (const [, m] of this.namedModules()) {
      for (const [k, v] of Object.entries(m)) {
        if (isParameter(v)) (m as unknown as Record<string, Tensor>)[k] = parameter(noGrad(() => v.to(target)).detach());
        else if (isBuffer(v)) (m as unknown as Record<string, Tensor>)[k] = buffer(v.to(target));
      }
    }
    return this;
  }
}
