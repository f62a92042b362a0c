/**
 * POST /api/compile: a small graph (named inputs with shapes and dtypes, then ops over them) run once
 * under `compile`, answered with the kernels it runs as and each fused kernel's source per backend,
 * as `tessera codegen --compile` prints them. Named examples are graphs too, so both share one path.
 */
import { type CompiledKernel, type DType, type Tensor, compiledKernels, ops, randn, zeros } from 'tessera';
import { ApiError, oneOf } from './errors.js';

export interface GraphInput { readonly shape: readonly number[]; readonly dtype?: string }
/** `args` name inputs or earlier outputs; numbers are scalar operands. `options` go to the op as its last argument. */
export interface GraphOp { readonly op: string; readonly args: readonly (string | number)[]; readonly out: string; readonly options?: Readonly<Record<string, unknown>> }
export interface Graph { readonly inputs: Readonly<Record<string, GraphInput>>; readonly ops: readonly GraphOp[]; readonly output?: string }

/**
 * The graph runs once, on random inputs, so its size bounds how long one request holds the server:
 * 2^20 input elements fit the GELU-MLP example several times over.
 */
const MAX_ELEMENTS = 1 << 20;
const MAX_OPS = 64;

export const EXAMPLES: Readonly<Record<string, { readonly description: string; readonly graph: Graph }>> = {
  'gelu-mlp': {
    description: 'GELU-MLP block: y = x + gelu(x W1 + b1) W2 + b2, x of [64, 256] float32, hidden 1024',
    graph: {
      inputs: { x: { shape: [64, 256] }, w1: { shape: [256, 1024] }, b1: { shape: [1024] }, w2: { shape: [1024, 256] }, b2: { shape: [256] } },
      ops: [
        { op: 'matmul', args: ['x', 'w1'], out: 'h' }, { op: 'add', args: ['h', 'b1'], out: 'hb' },
        { op: 'gelu', args: ['hb'], out: 'g' }, { op: 'matmul', args: ['g', 'w2'], out: 'o' },
        { op: 'add', args: ['o', 'b2'], out: 'ob' }, { op: 'add', args: ['x', 'ob'], out: 'y' },
      ],
    },
  },
  'sigmoid-chain': {
    description: 'An elementwise chain that fuses into one kernel: sigmoid(a * b + 1), [1024] float32',
    graph: {
      inputs: { a: { shape: [1024] }, b: { shape: [1024] } },
      ops: [{ op: 'mul', args: ['a', 'b'], out: 'ab' }, { op: 'add', args: ['ab', 1], out: 'c' }, { op: 'sigmoid', args: ['c'], out: 'y' }],
    },
  },
};

/** Ops a graph may name: the specs' ops that are Tensor methods (never any other property of a tensor). */
function graphOps(): string[] {
  return ops.ALL_SPECS.map((s) => s.name).filter((n) => typeof (zeros([1]) as unknown as Record<string, unknown>)[n] === 'function');
}
let opNames: readonly string[] | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a request body's shape field by field; what it returns is safe to run. */
export function parseGraphRequest(body: unknown): { graph: Graph; example?: string } {
  if (!isObject(body)) throw new ApiError(400, 'body', 'expected a JSON object { example } or { graph: { inputs, ops, output? } }');
  if (body['example'] !== undefined) {
    if (typeof body['example'] !== 'string') throw new ApiError(400, 'example', 'example must be a string');
    const name = oneOf('example', body['example'], Object.keys(EXAMPLES));
    return { graph: EXAMPLES[name]!.graph, example: name };
  }
  const g = body['graph'];
  if (!isObject(g)) throw new ApiError(400, 'graph', 'expected graph: { inputs: { name: { shape, dtype? } }, ops: [{ op, args, out }], output? } or example: one of ' + Object.keys(EXAMPLES).join(', '));
  if (!isObject(g['inputs']) || Object.keys(g['inputs']).length === 0) throw new ApiError(400, 'graph.inputs', 'graph.inputs must be a non-empty object of { shape, dtype? }');
  let elements = 0;
  const inputs: Record<string, GraphInput> = {};
  for (const [name, v] of Object.entries(g['inputs'])) {
    const at = `graph.inputs.${name}`;
    if (!isObject(v) || !Array.isArray(v['shape']) || !v['shape'].every((d) => Number.isInteger(d) && (d as number) >= 0 && (d as number) <= MAX_ELEMENTS)) {
      throw new ApiError(400, `${at}.shape`, `${at}.shape must be an array of non-negative integers`);
    }
    if (v['dtype'] !== undefined) oneOf(`${at}.dtype`, String(v['dtype']), ops.ALL_DTYPES);
    elements += (v['shape'] as number[]).reduce((a, b) => a * b, 1);
    inputs[name] = { shape: v['shape'] as number[], ...(v['dtype'] === undefined ? {} : { dtype: String(v['dtype']) }) };
  }
  if (elements > MAX_ELEMENTS) throw new ApiError(400, 'graph.inputs', `the inputs hold ${elements} elements; at most ${MAX_ELEMENTS} are accepted`);
  if (!Array.isArray(g['ops']) || g['ops'].length === 0 || g['ops'].length > MAX_OPS) throw new ApiError(400, 'graph.ops', `graph.ops must be an array of 1 to ${MAX_OPS} { op, args, out }`);
  opNames ??= graphOps();
  const known = new Set(Object.keys(inputs));
  const graphOpsList = g['ops'].map((o: unknown, i): GraphOp => {
    const at = `graph.ops[${i}]`;
    if (!isObject(o)) throw new ApiError(400, at, `${at} must be an object { op, args, out }`);
    const op = oneOf(`${at}.op`, String(o['op']), opNames!);
    if (!Array.isArray(o['args'])) throw new ApiError(400, `${at}.args`, `${at}.args must be an array of names and numbers`);
    for (const a of o['args'] as unknown[]) {
      if (typeof a === 'number' ? !Number.isFinite(a) : typeof a !== 'string' || !known.has(a)) {
        throw new ApiError(400, `${at}.args`, `${at}.args: ${JSON.stringify(a)} is neither a finite number nor an input or earlier out (have: ${[...known].join(', ')})`);
      }
    }
    if (typeof o['out'] !== 'string' || o['out'] === '' || known.has(o['out'])) throw new ApiError(400, `${at}.out`, `${at}.out must be a new name`);
    if (o['options'] !== undefined && !isObject(o['options'])) throw new ApiError(400, `${at}.options`, `${at}.options must be an object`);
    known.add(o['out']);
    return { op, args: o['args'] as (string | number)[], out: o['out'], ...(o['options'] ? { options: o['options'] } : {}) };
  });
  const output = g['output'] === undefined ? graphOpsList.at(-1)!.out : String(g['output']);
  if (!known.has(output)) throw new ApiError(400, 'graph.output', `graph.output '${output}' is not an input or an out`);
  return { graph: { inputs, ops: graphOpsList, output } };
}

export interface CompileResult { readonly example?: string; readonly programs: readonly (readonly CompiledKernel[])[] }

/** Runs the graph once compiled; an op's own error (shapes that do not match, say) is a 400 naming the op. */
export function compileGraph(graph: Graph): readonly (readonly CompiledKernel[])[] {
  const names = Object.keys(graph.inputs);
  const tensors = names.map((n) => {
    const { shape, dtype } = graph.inputs[n]!;
    const d = (dtype ?? 'float32') as DType;
    return ops.isFloating(d) ? randn(shape, { dtype: d }) : zeros(shape, { dtype: d });
  });
  let failedAt = -1;
  const fn = (...xs: Tensor[]): Tensor => {
    const env = new Map<string, Tensor>(names.map((n, i) => [n, xs[i]!]));
    graph.ops.forEach((o, i) => {
      failedAt = i;
      const [self, ...rest] = o.args.map((a) => (typeof a === 'number' ? a : env.get(a)!));
      if (typeof self === 'number') throw new ApiError(400, `graph.ops[${i}].args`, `graph.ops[${i}].args: the first argument of ${o.op} must be a tensor`);
      const method = (self as unknown as Record<string, (...a: unknown[]) => Tensor>)[o.op]!;
      env.set(o.out, method.apply(self, o.options ? [...rest, o.options] : rest));
    });
    failedAt = -1;
    return env.get(graph.output ?? graph.ops.at(-1)!.out)!;
  };
  try {
    return compiledKernels(fn, ...tensors);
  } catch (e) {
    if (e instanceof ApiError || failedAt < 0) throw e;
    throw new ApiError(400, `graph.ops[${failedAt}]`, `graph.ops[${failedAt}] (${graph.ops[failedAt]!.op}): ${(e as Error).message}`);
  } finally {
    for (const t of tensors) t.dispose();
  }
}
