/** The umbrella package: everything a user needs from one import. */
export * from '@tessera/tensor';
export * from '@tessera/autograd';
/** The op specs and IR, for backend authors and tooling. */
export * as ops from '@tessera/ops';
