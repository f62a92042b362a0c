/**
 * Losses as modules (torch.nn.CrossEntropyLoss and friends): the options given at construction,
 * forward(input, target) calling the function of nn.functional.
 */
import type { Tensor } from '@tessera/tensor';
import * as F from './functional.js';
import { Module } from './module.js';

/** A loss module over `fn` with its options fixed. */
const lossModule = <O>(fn: (input: Tensor, target: Tensor, options?: O) => Tensor) =>
  class extends Module<[Tensor, Tensor], Tensor> {
    constructor(readonly options: O = {} as O) { super(); }
    forward(input: Tensor, target: Tensor): Tensor { return fn(input, target, this.options); }
  };

export class CrossEntropyLoss extends lossModule(F.crossEntropy) {}
export class NLLLoss extends lossModule(F.nllLoss) {}
export class MSELoss extends lossModule(F.mseLoss) {}
export class L1Loss extends lossModule(F.l1Loss) {}
export class SmoothL1Loss extends lossModule(F.smoothL1Loss) {}
export class BCELoss extends lossModule(F.binaryCrossEntropy) {}
export class BCEWithLogitsLoss extends lossModule(F.bceWithLogits) {}
export class KLDivLoss extends lossModule(F.klDiv) {}
