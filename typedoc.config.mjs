// `npm run docs`: the API reference of the umbrella package `tessera` (everything its users import,
// the nn/ops/distributed namespaces included) from its doc comments, into docs/api. The build fails on
// a public export without a doc comment (TypeDoc's notDocumented check, with no exceptions).

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  entryPoints: ['libs/tessera/src/index.ts'],
  tsconfig: 'tsconfig.json',
  out: 'docs/api',
  name: 'Tessera',
  readme: 'none',
  excludePrivate: true,
  excludeInternal: true,
  // No source links: they need a hosted git remote (GitHub or similar), and clones here have none
  // (TypeDoc would warn, and warnings fail the build).
  disableSources: true,
  validation: { notExported: true, invalidLink: true, notDocumented: true },
  // The re-exported workspace packages count as tessera's own API (TypeDoc checks only the entry's package by default).
  packagesRequiringDocumentation: [
    'tessera', '@tessera/ops', '@tessera/tensor', '@tessera/autograd', '@tessera/nn',
    '@tessera/kernels-native', '@tessera/distributed',
  ],
  treatValidationWarningsAsErrors: true,
};
