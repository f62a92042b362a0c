/**
 * The API's routes as data: path, method, summary, parameters and responses. app.ts registers a handler
 * for each, and openapi.ts renders the same table as the OpenAPI document, so the two cannot drift.
 */
export interface RouteDoc {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly summary: string;
  readonly query?: Readonly<Record<string, { readonly description: string; readonly required?: boolean; readonly schema: Readonly<Record<string, unknown>> }>>;
  readonly body?: string;
  /** Status codes besides 200, with what they mean on this route. */
  readonly errors: Readonly<Record<number, string>>;
  /** The file a static export writes for this route's GET data (the page reads it instead). */
  readonly exportAs?: string;
}

export const ROUTES = {
  specs: {
    method: 'GET', path: '/api/specs', exportAs: 'api/specs.json',
    summary: 'Every op spec: kind, arity, dtypes and dtype rule, params, gradient, sampling domain, tolerances; the IR of elementwise and reduction specs as a tree; the backends with an emitter',
    errors: {},
  },
  kernel: {
    method: 'GET', path: '/api/kernel',
    summary: "The source each backend's emitter generates for an op at a dtype, as `tessera codegen` prints it (native: the Rust the addon compiles); a backend that cannot emit the op at that dtype has { error } in place of { source }",
    query: {
      op: { description: 'an op with a generated kernel (GET /api/specs: generated)', required: true, schema: { type: 'string' } },
      dtype: { description: 'operand dtype (default float32)', schema: { type: 'string' } },
      backend: { description: 'one backend or several, comma-separated (default: every backend with an emitter)', schema: { type: 'string' } },
      rank: { description: 'launch rank, 1 to 8 (default 1)', schema: { type: 'integer', minimum: 1, maximum: 8 } },
      innerRank: { description: 'reductions: rank of the reduced dims, 1 to 8 (default 1)', schema: { type: 'integer', minimum: 1, maximum: 8 } },
    },
    errors: { 400: 'a missing or unknown op, an unknown dtype or backend, a dtype the op does not accept, a rank out of range' },
  },
  examples: {
    method: 'GET', path: '/api/examples', exportAs: 'api/examples.json',
    summary: 'The named graphs POST /api/compile accepts as { example }',
    errors: {},
  },
  compile: {
    method: 'POST', path: '/api/compile',
    summary: 'Runs a small graph once compiled and returns the kernels it runs as, program by program, with each fused kernel\'s source per backend',
    body: '{ "example": "gelu-mlp" } or { "graph": { "inputs": { "x": { "shape": [4, 8], "dtype": "float32" } }, "ops": [{ "op": "sigmoid", "args": ["x"], "out": "y" }], "output": "y" } }',
    errors: { 400: 'malformed JSON, an unknown example, op or dtype, a bad shape, an op that refuses its operands', 413: 'a body over 64 KiB', 415: 'a body that is not application/json' },
  },
  matrix: {
    method: 'GET', path: '/api/matrix', exportAs: 'api/matrix.json',
    summary: 'The conformance matrix (op x backend x dtype status) that the conformance tests write',
    errors: { 404: 'the matrix file does not exist yet (run the conformance tests)' },
  },
  results: {
    method: 'GET', path: '/api/results', exportAs: 'api/results.json',
    summary: 'The benchmark runs: every full results file, oldest first',
    errors: {},
  },
  openapi: {
    method: 'GET', path: '/api/openapi.json', exportAs: 'api/openapi.json',
    summary: 'This document',
    errors: {},
  },
} as const satisfies Readonly<Record<string, RouteDoc>>;
