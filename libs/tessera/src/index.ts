/** The umbrella package: everything a user needs from one import. */
export * from '@tessera/tensor';
export * from '@tessera/autograd';
/** Layers, losses, optimizers, data loading, checkpoints. */
export * as nn from '@tessera/nn';
/** The op specs and IR, for backend authors and tooling. */
export * as ops from '@tessera/ops';
