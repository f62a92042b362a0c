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
  constructor(private readonly fn: (input: Tensor, target: Tensor, options?: O) => Tensor, readonly options: O) { super(); }
  forward(input: Tensor, target: Tensor): Tensor { return this.fn(input, target, this.options); }
}

/** A loss module over `fn`, its options given at construction. */
const lossModule = <O>(fn: (input: Tensor, target: Tensor, options?: O) => Tensor): new (options?: O) => LossModule<O> =>
  class extends LossModule<O> {
    constructor(options: O = {} as O) { super(fn, options); }
  };

export class CrossEntropyLoss extends lossModule(F.crossEntropy) {}
export class NLLLoss extends lossModule(F.nllLoss) {}
export class MSELoss extends lossModule(F.mseLoss) {}
export class L1Loss extends lossModule(F.l1Loss) {}
export class SmoothL1Loss extends lossModule(F.smoothL1Loss) {}
export class BCELoss extends lossModule(F.binaryCrossEntropy) {}
export class BCEWithLogitsLoss extends lossModule(F.bceWithLogits) {}
export class KLDivLoss extends lossModule(F.klDiv) {}
