/** Custom differentiable functions with a hand-written backward (torch.autograd.Function). */
import { type Tensor, record } from '@tessera/tensor';
import { noGrad } from './mode.js';
import { markUserCode } from './engine.js';

export interface FunctionContext {
  saveForBackward(...tensors: Tensor[]): void;
  readonly savedTensors: readonly Tensor[];
  /** Free-form values the forward wants the backward to see. */
  readonly data: Record<string, unknown>;
}

export interface FunctionDef<Args extends Tensor[]> {
  name: string;
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
