/**
 * The seam between tensors and autograd. Differentiable ops call record() with a vector-Jacobian
 * product written in tensor ops; @tessera/autograd installs the recorder that builds the tape. With
 * no recorder (or grad mode off) recording costs one check.
 */
import { TesseraError } from '@tessera/ops';
import type { Tensor } from './tensor.js';

/** Gradients for each input (undefined where an input gets none), given the output's gradient. */
export type Vjp = (g: Tensor) => readonly (Tensor | undefined)[];

/** What a tensor's `gradFn` exposes: the op that made it and that op's inputs (torch's grad_fn). */
export interface GradNode {
  /** The recorded op's name ('mul', 'matmul', ...). */
  readonly name: string;
  /** The op's tensor inputs, undefined at JS-scalar positions. */
  readonly inputs: readonly (Tensor | undefined)[];
}

/** What an autograd engine provides to the tensor layer; @tessera/autograd installs the tape. */
export interface Recorder {
  /** Whether grad mode is on (off inside noGrad). */
  isEnabled(): boolean;
  /** Attaches a node for out = name(inputs) with its vjp; `saved` as record()'s. */
  record(name: string, inputs: readonly (Tensor | undefined)[], out: Tensor, vjp: Vjp, saved?: readonly Tensor[]): void;
  /** Tensor.backward's engine: accumulates into leaves' .grad; frees the graph unless `retainGraph`. */
  backward(root: Tensor, gradient: Tensor | undefined, retainGraph: boolean): void;
  /** Runs fn with recording off (internal copies whose gradient the caller records itself). */
  noGrad<T>(fn: () => T): T;
}

let recorder: Recorder | undefined;

/** Sets the engine that record() and Tensor.backward use (replacing any earlier one). */
export function installRecorder(r: Recorder): void { recorder = r; }
export const activeRecorder = (): Recorder | undefined => recorder;

const needsGrad = (inputs: readonly (Tensor | number | boolean | undefined)[]): boolean =>
  inputs.some((t) => typeof t === 'object' && t.requiresGrad);

/** Whether an op over `inputs` would be recorded: callers skip building its vjp otherwise. */
export const gradWanted = (inputs: readonly (Tensor | number | boolean | undefined)[]): boolean =>
  recorder !== undefined && needsGrad(inputs) && recorder.isEnabled();

/**
 * Records out = name(inputs) with its vector-Jacobian product. `saved`: tensors the vjp uses besides
 * the inputs and the output (gather's index, sort's indices): the graph holds them as it holds those,
 * so disposing them (or leaving the tidy scope or compiled call that made them) cannot free what a
 * later backward reads, and an in-place write to them after recording is refused there.
 */
export function record(name: string, inputs: readonly (Tensor | undefined)[], out: Tensor, vjp: Vjp, saved?: readonly Tensor[]): Tensor {
  if (recorder && needsGrad(inputs) && recorder.isEnabled()) recorder.record(name, inputs, out, vjp, saved);
  return out;
}

/** Runs fn with gradient recording off, as torch.no_grad (plainly when no recorder is installed). */
export const untracked = <T>(fn: () => T): T => (recorder ? recorder.noGrad(fn) : fn());

/** In-place writes into a graph would make saved values stale; refuse them (PyTorch rebases history instead). */
export function checkInplace(op: string, out: Tensor, inputs: readonly (Tensor | number | boolean | undefined)[]): void {
  if (!recorder || !recorder.isEnabled()) return;
  if (out.requiresGrad || needsGrad(inputs)) {
    throw new TesseraError(op, `in-place operation on a tensor that ${out.requiresGrad ? 'requires grad' : 'receives values that require grad'}; use the out-of-place form, or wrap the update in noGrad()`);
  }
}
