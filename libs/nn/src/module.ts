/**
 * Module: parameters, buffers and submodules are registered by name when they are assigned, as
 * PyTorch's __setattr__ does, so `this.fc = new Linear(4, 2)` is all a layer needs. A module is a
 * Proxy over itself whose set/define traps keep the registry: a name registered as a buffer stays a
 * buffer whatever plain tensor is assigned to it later, and a parameter's name refuses a tensor that
 * is not a parameter (torch's TypeError) instead of silently dropping out of parameters().
 */
import { ArgumentError, type DType, ShapeError, describe, fmtShape, isDType, isFloating } from '@tessera/ops';
import { type DeviceKind, Tensor, keep } from '@tessera/tensor';
import { noGrad } from '@tessera/autograd';

const PARAMETERS = new WeakSet<Tensor>();
const BUFFERS = new WeakSet<Tensor>();

/** Marks a tensor as a trainable parameter (a leaf that requires grad), owned beyond any tidy() scope. */
export function parameter(t: Tensor): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError('parameter', `expected a tensor, got ${describe(t)}`);
  const p = t.isLeaf ? t : t.detach();
  p.requiresGrad_();
  PARAMETERS.add(p);
  return keep(p);
}
/** Marks a tensor as state saved in the state dict but not trained (e.g. BatchNorm running stats). */
export function buffer(t: Tensor): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError('buffer', `expected a tensor, got ${describe(t)}`);
  BUFFERS.add(t);
  return keep(t);
}
/** Whether `t` was made a parameter (by `parameter()` or by assigning it to a module as one). */
export const isParameter = (t: unknown): t is Tensor => t instanceof Tensor && PARAMETERS.has(t);
const isBuffer = (t: unknown): t is Tensor => t instanceof Tensor && BUFFERS.has(t);

export class StateDictError extends ArgumentError {}

/** What each name of a module is registered as. */
interface Registry { readonly params: Set<string>; readonly buffers: Set<string> }
const REGISTRY = Symbol('tessera.module.registry');
/** The module object behind its Proxy: walks over its properties go there (a Proxy's Object.entries is slow). */
const RAW = Symbol('tessera.module.raw');

/** Classifies an assignment of `value` to `key`, as torch.nn.Module.__setattr__. */
function register(target: AnyModule, key: string, value: unknown): void {
  const reg = (target as unknown as Record<symbol, Registry>)[REGISTRY]!;
  const empty = value === undefined || value === null;
  if (isParameter(value)) {
    reg.buffers.delete(key);
    reg.params.add(key);
  } else if (reg.params.has(key)) {
    if (!empty) {
      throw new ArgumentError(`${target.constructor.name}.${key}`, `cannot assign ${describe(value)} as parameter '${key}' (a parameter or undefined expected; wrap a tensor with nn.parameter())`);
    }
  } else if (reg.buffers.has(key)) {
    if (value instanceof Tensor) buffer(value);
    else if (!empty) throw new ArgumentError(`${target.constructor.name}.${key}`, `cannot assign ${describe(value)} as buffer '${key}' (a tensor or undefined expected)`);
  } else if (isBuffer(value)) {
    reg.buffers.add(key);
  }
}

const TRAPS: ProxyHandler<AnyModule> = {
  set(target, key, value) {
    if (typeof key === 'string') register(target, key, value);
    return Reflect.set(target, key, value);
  },
  defineProperty(target, key, desc) {
    if (typeof key === 'string' && 'value' in desc) register(target, key, desc.value);
    return Reflect.defineProperty(target, key, desc);
  },
  deleteProperty(target, key) {
    if (typeof key === 'string') {
      const reg = (target as unknown as Record<symbol, Registry>)[REGISTRY]!;
      reg.params.delete(key);
      reg.buffers.delete(key);
    }
    return Reflect.deleteProperty(target, key);
  },
};

/** What removes a hook once registered (torch's RemovableHandle). */
export interface HookHandle {
  /** Unregisters the hook; calling it again does nothing. */
  remove(): void;
}

type PreHook = (module: AnyModule, inputs: unknown[]) => unknown;
type PostHook = (module: AnyModule, inputs: unknown[], output: unknown) => unknown;
interface Hooks { readonly pre: Map<number, PreHook>; readonly post: Map<number, PostHook> }
const hookTables = new WeakMap<AnyModule, Hooks>();
let nextHook = 0;

/**
 * A module's hooks, installing them on first use: its forward is wrapped (an own property of the
 * instance) so that `m.forward(x)`, which stands for torch's `m(x)`, runs the pre-hooks, then the
 * module's forward, then the hooks, as torch's __call__ does.
 */
function hooksOf(m: AnyModule): Hooks {
  let table = hookTables.get(m);
  if (table) return table;
  const hooks: Hooks = (table = { pre: new Map(), post: new Map() });
  hookTables.set(m, hooks);
  const forward = m.forward;
  Object.defineProperty(m, 'forward', {
    configurable: true, writable: true, enumerable: false,
    value(this: AnyModule, ...args: unknown[]): unknown {
      let inputs = args;
      for (const h of hooks.pre.values()) {
        const r = h(this, inputs);
        if (r !== undefined) inputs = Array.isArray(r) ? r : [r];
      }
      let output = forward.apply(this, inputs);
      for (const h of hooks.post.values()) {
        const r = h(this, inputs, output);
        if (r !== undefined) output = r;
      }
      return output;
    },
  });
  return hooks;
}

/** A module of any forward signature (what containers and the module tree hold). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- forward's arguments vary by module; only the tree is read here
export type AnyModule = Module<any[], unknown>;

export type ToTarget = DeviceKind | DType | { device?: DeviceKind; dtype?: DType };

/**
 * A layer or model. Generic in its forward's arguments and result (as a GPT's forward(ids, targets?)
 * returning [logits, loss], or an LSTM's returning its output and state); plain tensor-to-tensor
 * modules need no type arguments.
 */
export abstract class Module<In extends unknown[] = Tensor[], Out = Tensor> {
  /** Training mode (true) or evaluation mode (false): what dropout and batch norm do depends on it. */
  training = true;

  constructor() {
    Object.defineProperty(this, REGISTRY, { value: { params: new Set(), buffers: new Set() } satisfies Registry });
    Object.defineProperty(this, RAW, { value: this });
    // Subclass constructors run on what this returns: every assignment they make goes through the traps.
    return new Proxy(this, TRAPS as ProxyHandler<this>);
  }

  /** The computation of the module, which each layer or model defines (torch's forward). */
  abstract forward(...inputs: In): Out;

  private get registry(): Registry { return (this as unknown as Record<symbol, Registry>)[REGISTRY]!; }

  /**
   * torch's register_forward_pre_hook: `hook(module, inputs)` runs before forward; returning inputs
   * (an array, or one value) replaces them.
   */
  registerForwardPreHook(hook: (module: this, inputs: In) => In | In[0] | void): HookHandle {
    const id = nextHook++, table = hooksOf(this);
    table.pre.set(id, hook as PreHook);
    return { remove: () => { table.pre.delete(id); } };
  }
  /**
   * torch's register_forward_hook: `hook(module, inputs, output)` runs after forward; returning a
   * value replaces the output.
   */
  registerForwardHook(hook: (module: this, inputs: In, output: Out) => Out | void): HookHandle {
    const id = nextHook++, table = hooksOf(this);
    table.post.set(id, hook as PostHook);
    return { remove: () => { table.post.delete(id); } };
  }

  /** Registers (or replaces) a buffer under `name`, as torch's register_buffer. */
  registerBuffer(name: string, t: Tensor | undefined): void {
    if (t !== undefined) buffer(t);
    this.registry.params.delete(name);
    this.registry.buffers.add(name);
    (this as unknown as Record<string, unknown>)[name] = t;
  }
  /** Registers (or replaces) a parameter under `name`, as torch's register_parameter. */
  registerParameter(name: string, t: Tensor | undefined): void {
    (this as unknown as Record<string, unknown>)[name] = t === undefined ? undefined : isParameter(t) ? t : parameter(t);
    this.registry.buffers.delete(name);
    this.registry.params.add(name);
  }

  /** Own properties in declaration order: [name, value] for modules, parameters, buffers and module arrays. */
  private *entries(): Generator<[string, unknown]> {
    const { params, buffers } = this.registry;
    for (const [k, v] of Object.entries((this as unknown as Record<symbol, object>)[RAW]!)) {
      if (v instanceof Module) yield [k, v];
      else if (v instanceof Tensor && (params.has(k) || buffers.has(k))) yield [k, v];
      else if (Array.isArray(v) && v.length && v.every((m) => m instanceof Module)) for (const [i, m] of v.entries()) yield [`${k}.${i}`, m];
    }
  }

  /** The direct submodules by attribute name (an array of modules as `name.i`), as torch's named_children. */
  *namedChildren(): Generator<[string, AnyModule]> {
    for (const [k, v] of this.entries()) if (v instanceof Module) yield [k, v];
  }
  /** Every module of the tree once (a module shared by two parents is listed under its first name), as torch. */
  *namedModules(prefix = '', seen = new Set<AnyModule>()): Generator<[string, AnyModule]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [k, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${k}` : k, seen);
  }
  /**
   * Parameters by dotted name, each tensor once: a tied weight (GPT's embedding and output layer)
   * is listed under its first name only, as torch's remove_duplicate, so optimizers step it once.
   */
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    yield* this.namedTensors(prefix, 'params');
  }
  /** Buffers (state that is saved but not trained, such as running statistics) by dotted name, each tensor once. */
  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    yield* this.namedTensors(prefix, 'buffers');
  }
  private *namedTensors(prefix: string, kind: keyof Registry): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [k, v] of m.entries()) {
        if (!(v instanceof Tensor) || !m.registry[kind].has(k) || seen.has(v)) continue;
        seen.add(v);
        yield [name ? `${name}.${k}` : k, v];
      }
    }
  }
  /** Every parameter of the tree, each once: what an optimizer takes. */
  parameters(): Tensor[] { return [...this.namedParameters()].map(([, p]) => p); }
  /** Every buffer of the tree, each once. */
  buffers(): Tensor[] { return [...this.namedBuffers()].map(([, b]) => b); }
  /** The direct submodules. */
  children(): AnyModule[] { return [...this.namedChildren()].map(([, m]) => m); }
  /** Every module of the tree once, this one first. */
  modules(): AnyModule[] { return [...this.namedModules()].map(([, m]) => m); }

  /** Sets training mode (or evaluation mode with `false`) on this module and every submodule. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }
  /** Sets evaluation mode on the whole tree: `train(false)`. */
  eval(): this { return this.train(false); }

  /** Calls fn on every submodule, children before parents, then this one (torch's apply: custom init). */
  apply(fn: (m: AnyModule) => void): this {
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }

  /** Clears the gradient of every parameter (to undefined, as torch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = undefined;
  }

  /**
   * Parameters and buffers by dotted name (values share storage with the module). A tied tensor
   * appears under each of its names, as torch's state_dict (each name is a key a load must fill).
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, m] of this.namedModules()) {
      for (const [k, v] of m.entries()) if (v instanceof Tensor) out[name ? `${name}.${k}` : k] = v.detach();
    }
    return out;
  }

  /** Copies values in; with strict (default) every key must match both ways, and shapes must agree. */
  loadStateDict(state: Readonly<Record<string, Tensor>>, opt: { strict?: boolean } = {}): void {
    if (state === null || typeof state !== 'object') throw new StateDictError('loadStateDict', `expected a record of tensors, got ${describe(state)}`);
    const own = new Map(Object.entries(this.stateDict()));
    const missing = [...own.keys()].filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !own.has(k));
    if ((opt.strict ?? true) && (missing.length || unexpected.length)) {
      throw new StateDictError('loadStateDict', [missing.length ? `missing keys: ${missing.join(', ')}` : '', unexpected.length ? `unexpected keys: ${unexpected.join(', ')}` : ''].filter(Boolean).join('; '));
    }
    for (const [k, t] of own) {
      const src = state[k];
      if (src === undefined) continue;
      if (!(src instanceof Tensor)) throw new StateDictError('loadStateDict', `${k}: expected a tensor, got ${describe(src)}`);
      if (src.ndim !== t.ndim || src.shape.some((d, i) => d !== t.shape[i])) {
        throw new ShapeError('loadStateDict', `${k}: checkpoint has shape ${fmtShape(src.shape)}, the module ${fmtShape(t.shape)}`);
      }
    }
    noGrad(() => { for (const [k, t] of own) if (state[k]) t.copy_(state[k]!); });
  }

  /**
   * Moves/casts every parameter and buffer in place: each keeps its identity (an optimizer made
   * before still holds it; tied weights stay tied), as torch's module.to, and a no-op target leaves
   * everything untouched. Only floating parameters and buffers are cast to a dtype.
   */
  to(target: ToTarget): this {
    const { device, dtype } = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : (target ?? {});
    if (dtype !== undefined && (!isDType(dtype) || !isFloating(dtype))) {
      throw new ArgumentError('Module.to', `only floating dtypes can be applied to a module, got ${describe(dtype)}`);
    }
    const done = new Set<Tensor>();
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        if (done.has(t)) continue;
        done.add(t);
        const castTo = dtype !== undefined && isFloating(t.dtype) ? dtype : undefined;
        moveInPlace(t, device, castTo);
        if (t.grad) moveInPlace(t.grad, device, castTo);
      }
    });
    return this;
  }
}

/** Points t at a converted copy of its data (torch's `param.data = param.data.to(...)`); nothing when nothing changes. */
function moveInPlace(t: Tensor, device: DeviceKind | undefined, dtype: DType | undefined): void {
  if ((device === undefined || device === t.device) && (dtype === undefined || dtype === t.dtype)) return;
  const moved = t.to({ ...(device ? { device } : {}), ...(dtype ? { dtype } : {}) });
  t.setData_(moved);
  moved.dispose();
}

/**
 * torch's copy.deepcopy of a module: a module of the same class (its constructor is not run again)
 * holding its own copies of every parameter and buffer (still parameters and buffers, requiresGrad
 * kept) and of its submodules, with what is shared inside the tree shared in the copy too (a tied
 * weight, a module used twice). Arrays and plain objects are copied; functions and other objects are
 * shared; hooks are not copied. How TransformerEncoder makes its layers from one, as torch's
 * _get_clones does.
 */
export function deepcopy<M extends AnyModule>(module: M): M {
  if (!(module instanceof Module)) throw new ArgumentError('deepcopy', `expected a module, got ${describe(module)}`);
  return copyOf(module, new Map()) as M;
}

function copyOf(v: unknown, memo: Map<object, unknown>): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (memo.has(v)) return memo.get(v);
  if (v instanceof Tensor) {
    const c = noGrad(() => v.clone());
    const t = isParameter(v) ? parameter(c).requiresGrad_(v.requiresGrad) : isBuffer(v) ? buffer(c) : c;
    memo.set(v, t);
    return t;
  }
  if (v instanceof Module) {
    const raw = (v as unknown as Record<symbol, Record<string, unknown>>)[RAW]!;
    const reg = (raw as unknown as Record<symbol, Registry>)[REGISTRY]!;
    const target = Object.create(Object.getPrototypeOf(raw) as object) as Record<string, unknown>;
    Object.defineProperty(target, REGISTRY, { value: { params: new Set(reg.params), buffers: new Set(reg.buffers) } satisfies Registry });
    Object.defineProperty(target, RAW, { value: target });
    const copy = new Proxy(target as unknown as AnyModule, TRAPS);
    memo.set(v, copy);
    // Straight onto the target: the registry is copied already.
    for (const [k, x] of Object.entries(raw)) target[k] = copyOf(x, memo);
    return copy;
  }
  if (Array.isArray(v)) {
    const a: unknown[] = [];
    memo.set(v, a);
    for (const x of v) a.push(copyOf(x, memo));
    return a;
  }
  if (Object.getPrototypeOf(v) === Object.prototype) {
    const o: Record<string, unknown> = {};
    memo.set(v, o);
    for (const [k, x] of Object.entries(v)) o[k] = copyOf(x, memo);
    return o;
  }
  return v;
}
