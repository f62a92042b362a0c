/** Custom differentiable functions with a hand-written backward (torch.autograd.Function). */
import { type Tensor, record } from '@tessera/tensor';
import { noGrad } from './mode.js';
import { markUserCode } from './engine.js';

/** The `ctx` a custom function's forward and backward share, as torch.autograd.Function's. */
export interface FunctionContext {
  /**
   * Keeps tensors for backward beyond the inputs and output (torch's `ctx.save_for_backward`); the graph holds
   * them, so they outlive tidy scopes and an in-place write to them is refused. A second call replaces the first.
   */
  saveForBackward(...tensors: Tensor[]): void;
  /** What the last saveForBackward call kept, in its order. */
  readonly savedTensors: readonly Tensor[];
  /** Free-form values the forward wants the backward to see. */
  readonly data: Record<string, unknown>;
}

/** A custom op for defineFunction: a forward run without recording and a hand-written backward. */
export interface FunctionDef<Args extends Tensor[]> {
  /** The op's name in the graph and in backward errors. */
  name: string;
  /** Computes the output from the inputs; runs under noGrad, so nothing it does is recorded. */
  forward(ctx: FunctionContext, ...inputs: Args): Tensor;
  /** One gradient per input (undefined for none), given the output's gradient. */
  backward(ctx: FunctionContext, gradOutput: Tensor): (Tensor | undefined)[];
}

/** Makes a callable op from forward/backward; forward runs untracked, backward is recorded. */
export function defineFunction<Args extends Tensor[]>(def: FunctionDef<Args>): (...inputs: Args) => Tensor {
  return (...inputs: Args) => {
    let saved: Tensor[] = [];
    const ctx: FunctionContext = { saveForBackward: (...t) => { saved = t; }, get savedTensors() { return saved; }, data: {} };
    const out = noGrad(() => def.forward(ctx, ...inputs));
    return record(def.name, inputs, out, markUserCode((g) => def.backward(ctx, g)), saved);
  };
}
