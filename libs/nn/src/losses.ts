/**
 * Losses as modules (torch.nn.CrossEntropyLoss and friends): the options given at construction,
 * forward(input, target) calling the function of nn.functional.
 */
import type { Tensor } from '@tessera/tensor';
import * as F from './functional.js';
import { Module } from './module.js';

/**
 * The base of the loss modules: `fn` of nn.functional with the options given at construction. A named
 * class rather than a class expression, so that declaration files can state it.
 */
export class LossModule<O> extends Module<[Tensor, Tensor], Tensor> {
  /** The loss's options, as given at construction. */
  readonly options: O;
  constructor(private readonly fn: (input: Tensor, target: Tensor, options?: O) => Tensor, options: O) {
    super();
    this.options = options;
  }
  /** The loss of `input` against `target`, with this module's options. */
  forward(input: Tensor, target: Tensor): Tensor { return this.fn(input, target, this.options); }
}

/** A loss module over `fn`, its options given at construction. */
const lossModule = <O>(fn: (input: Tensor, target: Tensor, options?: O) => Tensor): new (options?: O) => LossModule<O> =>
  class extends LossModule<O> {
    constructor(options: O = {} as O) { super(fn, options); }
  };

/** Cross entropy of logits against class indices or probabilities (torch.nn.CrossEntropyLoss); the function is `functional.crossEntropy`. */
export class CrossEntropyLoss extends lossModule(F.crossEntropy) {}
/** Negative log likelihood of log-probabilities against class indices (torch.nn.NLLLoss); the function is `functional.nllLoss`. */
export class NLLLoss extends lossModule(F.nllLoss) {}
/** Mean squared error (torch.nn.MSELoss); the function is `functional.mseLoss`. */
export class MSELoss extends lossModule(F.mseLoss) {}
/** Mean absolute error (torch.nn.L1Loss); the function is `functional.l1Loss`. */
export class L1Loss extends lossModule(F.l1Loss) {}
/** Huber-like loss, quadratic below `beta` and linear above (torch.nn.SmoothL1Loss); the function is `functional.smoothL1Loss`. */
export class SmoothL1Loss extends lossModule(F.smoothL1Loss) {}
/** Binary cross entropy of probabilities (torch.nn.BCELoss); the function is `functional.binaryCrossEntropy`. */
export class BCELoss extends lossModule(F.binaryCrossEntropy) {}
/** Binary cross entropy of logits, computed stably (torch.nn.BCEWithLogitsLoss); the function is `functional.bceWithLogits`. */
export class BCEWithLogitsLoss extends lossModule(F.bceWithLogits) {}
/** Kullback-Leibler divergence of log-probabilities from a target distribution (torch.nn.KLDivLoss); the function is `functional.klDiv`. */
export class KLDivLoss extends lossModule(F.klDiv) {}
