/**
 * The tape: every recorded op leaves a Node on its output tensor; backward walks the graph from the
 * root in reverse topological order, calling each node's vector-Jacobian product (written in tensor
 * ops, so with createGraph the backward pass is itself recorded and can be differentiated again).
 */
import { ArgumentError, ShapeError, TesseraError, fmtShape } from '@tessera/ops';
import { type GradNode, type Recorder, type Region, type Tensor, type Vjp, collecting, embeddedOf, handBack, installRecorder, onesLike } from '@tessera/tensor';
import { enableGrad, isGradEnabled, noGrad } from './mode.js';

let created = 0;

/** Backward functions that run user code (custom Functions): what they make is not the engine's. */
const userVjps = new WeakSet<Vjp>();
export const markUserCode = (vjp: Vjp): Vjp => { userVjps.add(vjp); return vjp; };

export class Node implements GradNode {
  /** Creation order: a node's inputs were made before it, so descending seq is a topological order. */
  readonly seq = created++;
  /** Whether the vjp is user code, whose tensors the engine must not dispose. */
  readonly userCode: boolean;
  private vjp: Vjp | undefined;
  /** Storage versions of the inputs, the output and the saved tensors when recorded: a later in-place write makes them stale. */
  private readonly versions: number[];

  constructor(readonly name: string, readonly inputs: readonly (Tensor | undefined)[], readonly out: Tensor, vjp: Vjp, private readonly saved: readonly Tensor[] = []) {
    this.vjp = vjp;
    this.userCode = userVjps.has(vjp);
    // The graph holds its saved values: disposing a tensor (or leaving a tidy scope) must not free them.
    const versions: number[] = [];
    for (const t of this.held()) {
      versions.push(t ? t.storage.version : 0);
      t?.storage.retain();
    }
    this.versions = versions;
  }

  /** What the graph holds for this node: its inputs, its output, then what its vjp saved. */
  private held(): (Tensor | undefined)[] { return [...this.inputs, this.out, ...this.saved]; }

  apply(g: Tensor): readonly (Tensor | undefined)[] {
    if (!this.vjp) {
      throw new TesseraError('backward', `trying to backward through the graph a second time (at ${this.name}); the saved values were freed: pass { retainGraph: true } to the first backward`);
    }
    const held = this.held();
    for (let i = 0; i < held.length; i++) {
      const t = held[i];
      if (t && t.storage.version !== this.versions[i]) {
        throw new TesseraError('backward', `a tensor saved by ${this.name} (shape ${fmtShape(t.shape)}) was modified by an in-place operation after it was used; gradients would be wrong`);
      }
    }
    return this.vjp(g);
  }

  free(): void {
    if (!this.vjp) return;
    this.vjp = undefined;
    for (const t of this.held()) t?.storage.release();
  }
}

/** Sums a broadcast gradient back to the shape of the input it flows to, and matches its dtype. */
export function sumToShape(g: Tensor, shape: readonly number[], dtype: Tensor['dtype']): Tensor {
  let r = g;
  const lead = g.ndim - shape.length;
  if (lead > 0) r = r.sum(Array.from({ length: lead }, (_, i) => i));
  const ones = shape.map((d, i) => (d === 1 && r.shape[i] !== 1 ? i : -1)).filter((i) => i >= 0);
  if (ones.length) r = r.sum(ones, { keepdim: true });
  if (r.dtype !== dtype) r = r.to(dtype);
  return r;
}

const recorder: Recorder = {
  isEnabled: isGradEnabled,
  noGrad,
  record(name, inputs, out, vjp, saved) {
    out.requiresGrad = true;
    out.gradFn = new Node(name, inputs, out, vjp, saved);
  },
  backward(root, gradient, retainGraph) {
    run([root], [gradient], { retainGraph, createGraph: false, accumulate: true });
  },
};
installRecorder(recorder);

interface RunOptions {
  retainGraph: boolean;
  createGraph: boolean;
  /** backward(): add into leaves' .grad. grad(): only return gradients of `capture`. */
  accumulate: boolean;
  capture?: readonly Tensor[];
}

function seed(root: Tensor, gradient: Tensor | undefined): Tensor {
  if (!root.requiresGrad) throw new TesseraError('backward', `tensor of shape ${fmtShape(root.shape)} does not require grad and has no grad_fn`);
  if (gradient === undefined) {
    if (root.numel !== 1) throw new ShapeError('backward', `grad can be implicitly created only for scalar outputs; pass a gradient of shape ${fmtShape(root.shape)}`);
    return onesLike(root);
  }
  if (gradient.shape.length !== root.shape.length || gradient.shape.some((d, i) => d !== root.shape[i])) {
    throw new ShapeError('backward', `gradient has shape ${fmtShape(gradient.shape)} but the output has shape ${fmtShape(root.shape)}`);
  }
  return gradient;
}

/**
 * Tensors reachable from the roots through grad nodes, each after everything that consumes it: ops
 * newest first, as PyTorch's engine runs them (so a layer's weight gradient is ready right after that
 * layer's backward, not after a depth-first walk has reached the input), then the leaves.
 */
function topoOrder(roots: readonly Tensor[]): Tensor[] {
  const seen = new Set<Tensor>(roots);
  const stack = [...roots];
  const ops: Tensor[] = [], leaves: Tensor[] = [];
  while (stack.length) {
    const t = stack.pop()!;
    const node = t.gradFn as Node | undefined;
    (node ? ops : leaves).push(t);
    if (node) for (const i of node.inputs) if (i?.requiresGrad && !seen.has(i)) { seen.add(i); stack.push(i); }
  }
  ops.sort((a, b) => (b.gradFn as Node).seq - (a.gradFn as Node).seq);
  return [...ops, ...leaves];
}

/**
 * The gradients and intermediates a backward pass makes for itself, disposed as soon as no pending
 * gradient is one of them, so their buffers go back to the backend's cache within the step (JS
 * cannot see a tensor die; PyTorch's engine frees these by refcount). What user code sees (hooks,
 * grad()'s results, what a custom Function's backward makes) is never one. A recorded backward
 * (createGraph) keeps everything: its results are graph nodes.
 */
class Temporaries {
  private readonly owned = new Set<Tensor>();
  /** How many pending gradients are each tensor. */
  private readonly pending = new Map<Tensor, number>();
  constructor(private readonly enabled: boolean) {}

  /** Runs fn owning the tensors it makes; those that are not pending when it returns are disposed. */
  make(fn: () => void): void {
    if (!this.enabled) return fn();
    const made = new Set<Tensor>();
    collecting(made, fn);
    for (const t of made) this.owned.add(t);
    for (const t of made) this.release(t);
  }
  hold(t: Tensor): void { this.pending.set(t, (this.pending.get(t) ?? 0) + 1); }
  /** Whether t is the engine's own, pending in one place only and never shown to user code: it may be written in place. */
  isPrivate(t: Tensor): boolean { return this.enabled && this.owned.has(t) && this.pending.get(t) === 1; }
  drop(t: Tensor): void {
    const left = this.pending.get(t)! - 1;
    if (left > 0) this.pending.set(t, left);
    else { this.pending.delete(t); this.release(t); }
  }
  /** User code is about to see t: it is no longer the engine's to dispose. */
  expose(t: Tensor): void { if (this.owned.delete(t)) handBack(t); }
  private release(t: Tensor): void {
    if (this.pending.has(t) || !this.owned.delete(t)) return;
    t.dispose();
  }
}

export function run(roots: readonly Tensor[], gradients: readonly (Tensor | undefined)[], opt: RunOptions): Map<Tensor, Tensor> {
  const grads = new Map<Tensor, Tensor>();
  const temps = new Temporaries(!opt.createGraph);
  /**
   * g as a new .grad. One gradient may reach several tensors (a + b passes g to both): each .grad
   * gets memory of its own, so an in-place update of one (clipGradNorm_, zero_) changes no other.
   */
  const given = new Set<object>();
  const ownGrad = (g: Tensor): Tensor => {
    const d = given.has(g.storage) ? g.detach().clone() : g.detach();
    given.add(d.storage);
    return d;
  };
  /** Regions written into each embedded gradient that further pieces were added into (undefined: not one range). */
  const pieces = new Map<Tensor, (Region | undefined)[]>();
  /**
   * Adds an embedded gradient (a piece placed into zeros) into an earlier one of the same tensor, in
   * place: a copy where the pieces are disjoint ranges of one dim (the thirds of a packed q/k/v),
   * else an add. Only into a buffer the engine made for itself (an embed's zeros) and holds alone.
   */
  const addPiece = (prev: Tensor, g: Tensor): boolean => {
    const e = embeddedOf(g), first = embeddedOf(prev);
    if (!e || !first || !temps.isPrivate(prev) || prev.dtype !== g.dtype || prev.shape.some((d, i) => d !== g.shape[i])) return false;
    const regions = pieces.get(prev) ?? [first.region];
    const disjoint = (r: Region | undefined) => r && e.region && r.dim === e.region.dim && (r.end <= e.region.start || e.region.end <= r.start);
    const target = e.pick(prev);
    if (regions.every(disjoint)) target.copy_(e.source);
    else target.add_(e.source);
    regions.push(e.region);
    pieces.set(prev, regions);
    return true;
  };
  const add = (t: Tensor, g: Tensor) => {
    const prev = grads.get(t);
    if (prev && addPiece(prev, g)) return;
    const sum = prev ? prev.add(g) : g;
    grads.set(t, sum);
    temps.hold(sum);
    if (prev) temps.drop(prev);
  };
  const body = () => {
    temps.make(() => roots.forEach((r, i) => add(r, seed(r, gradients[i]))));
    const captured = new Map<Tensor, Tensor>();
    const wanted = new Set(opt.capture ?? []);
    const order = topoOrder(roots);
    // Consumers of each tensor not yet processed: a leaf is finished as soon as its count reaches zero,
    // not at its place in the order (often the very end), so DDP's gradient hooks fire mid-backward.
    const consumers = new Map<Tensor, number>();
    for (const t of order) for (const i of (t.gradFn as Node | undefined)?.inputs ?? []) if (i?.requiresGrad) consumers.set(i, (consumers.get(i) ?? 0) + 1);
    const done = new Set<Tensor>();
    const visit = (t: Tensor) => {
      done.add(t);
      const pending = grads.get(t);
      if (!pending) return;
      grads.delete(t);
      let g = pending;
      if (t.hooks?.length) { temps.expose(g); for (const hook of t.hooks) g = hook(g) ?? g; }
      if (wanted.has(t)) { temps.expose(g); captured.set(t, g); }
      const node = t.gradFn as Node | undefined;
      if (!node) {
        if (opt.accumulate) {
          // The leaf owns .grad (the setter keeps it beyond tidy scopes and disposes the one it replaces).
          if (t.grad) { const d = g.detach(); t.grad = t.grad.add(d); d.dispose(); } else t.grad = ownGrad(g);
          for (const hook of t.postAccumulateGradHooks ?? []) hook(t);
        }
        temps.drop(pending);
        return;
      }
      if (opt.accumulate && t.retainsGrad) t.grad = t.grad ? t.grad.add(g.detach()) : ownGrad(g);
      const userGrads = node.userCode ? node.apply(g) : undefined;
      temps.make(() => {
        const inGrads = userGrads ?? node.apply(g);
        node.inputs.forEach((inp, k) => {
          const gi = inGrads[k];
          if (inp?.requiresGrad && gi) add(inp, sumToShape(gi, inp.shape, inp.dtype));
        });
      });
      temps.drop(pending);
      if (!opt.retainGraph) node.free();
      for (const inp of node.inputs) {
        if (!inp?.requiresGrad) continue;
        const left = consumers.get(inp)! - 1;
        consumers.set(inp, left);
        if (left === 0 && !inp.gradFn && !done.has(inp)) visit(inp);
      }
    };
    for (const t of order) if (!done.has(t)) visit(t);
    return captured;
  };
  const outermost = callbacks === undefined;
  if (outermost) callbacks = [];
  try {
    const captured = opt.createGraph ? enableGrad(body) : noGrad(body);
    if (outermost) noGrad(() => { for (let fn; (fn = callbacks!.shift()); ) fn(); });
    return captured;
  } finally {
    if (outermost) callbacks = undefined;
  }
}

/** Functions to call when the running backward pass ends; undefined outside backward. */
let callbacks: (() => void)[] | undefined;

/**
 * Calls fn once the backward pass now running has finished (every leaf's .grad accumulated), as
 * torch's queue_callback: what DDP uses to wait for its gradient all-reduces.
 */
export function queueCallback(fn: () => void): void {
  if (!callbacks) throw new TesseraError('queueCallback', 'can only be called during a backward pass (from a hook)');
  callbacks.push(fn);
}

/** Options of grad (torch.autograd.grad's keyword arguments). */
export interface GradOptions {
  /** Gradients of the outputs (required for non-scalar outputs). */
  gradOutputs?: readonly (Tensor | undefined)[] | Tensor;
  /** Record the backward pass so the result can be differentiated again. */
  createGraph?: boolean;
  /** Keep the graph for another backward (defaults to createGraph). */
  retainGraph?: boolean;
  /** Return undefined for inputs the outputs do not depend on, instead of raising. */
  allowUnused?: boolean;
}

/** torch.autograd.grad: gradients of outputs w.r.t. inputs, without touching .grad. */
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[], opt: GradOptions = {}): (Tensor | undefined)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs as Tensor];
  const ins = Array.isArray(inputs) ? inputs : [inputs as Tensor];
  for (const x of ins) if (!x.requiresGrad) throw new ArgumentError('grad', `an input of shape ${fmtShape(x.shape)} does not require grad`);
  const gos = opt.gradOutputs === undefined ? [] : Array.isArray(opt.gradOutputs) ? opt.gradOutputs : [opt.gradOutputs as Tensor];
  const createGraph = opt.createGraph ?? false;
  const captured = run(outs, gos, { retainGraph: opt.retainGraph ?? createGraph, createGraph, accumulate: false, capture: ins });
  return ins.map((x, i) => {
    const g = captured.get(x);
    if (!g && !opt.allowUnused) throw new ArgumentError('grad', `input ${i} (shape ${fmtShape(x.shape)}) was not used to compute the outputs; pass { allowUnused: true }`);
    return g;
  });
}
