/**
 * GET /api/kernel: the source each backend's emitter generates for an op spec, with the header line
 * `tessera codegen` prints, so the API and the CLI show the same text. `native` is the Rust the addon
 * compiles for the spec (libs/kernels-native/src/emit-rust.ts, the catalog's kernels).
 */
import { type DType, codegen, emitterNames, ops } from 'tessera';
import { ApiError, oneOf } from './errors.js';
import { allSpecs } from './specs.js';

/** What each backend's source is written in, for the page's labels. */
export const LANGUAGES: Readonly<Record<string, string>> = { js: 'JavaScript', native: 'Rust', cuda: 'CUDA C', webgpu: 'WGSL', gpujs: 'gpu.js (JavaScript)' };

export interface KernelQuery { readonly op: string; readonly dtype: DType; readonly backends: readonly string[]; readonly rank: number; readonly innerRank: number }

export type KernelSource = { readonly language: string; readonly source: string } | { readonly language: string; readonly error: string };

export interface KernelListing {
  readonly op: string;
  readonly dtype: DType;
  readonly rank: number;
  readonly innerRank: number;
  readonly kernels: Readonly<Record<string, KernelSource>>;
}

/** Ops with a generated kernel: elementwise specs and primitive reductions. */
export const generatedOps = (): string[] => allSpecs().filter((s) => s.generated).map((s) => s.name);

const MAX_RANK = 8;

function rankOf(field: string, raw: string | undefined): number {
  if (raw === undefined) return 1;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_RANK) throw new ApiError(400, field, `${field} must be an integer from 1 to ${MAX_RANK}, got '${raw}'`);
  return n;
}

/** Validates a query string's fields; `backend` may list several, comma-separated, or be absent (all). */
export function kernelQuery(q: Readonly<Record<string, string | undefined>>): KernelQuery {
  if (!q['op']) throw new ApiError(400, 'op', `op is required; ops with generated kernels: ${generatedOps().join(', ')}`);
  const op = oneOf('op', q['op'], generatedOps());
  const spec = allSpecs().find((s) => s.name === op)!;
  const dtype = oneOf('dtype', q['dtype'] ?? 'float32', ops.ALL_DTYPES);
  if (!spec.dtypes.includes(dtype)) throw new ApiError(400, 'dtype', `${op} does not support dtype ${dtype}; expected one of ${spec.dtypes.join(', ')}`);
  const backends = q['backend'] ? q['backend'].split(',').map((b) => oneOf('backend', b, emitterNames())) : emitterNames();
  return { op, dtype, backends, rank: rankOf('rank', q['rank']), innerRank: rankOf('innerRank', q['innerRank']) };
}

/** The text `tessera codegen` prints for one backend. */
export const codegenListing = (q: { op: string; dtype: string; backend: string }, src: string): string =>
  `// ${q.op} (${q.dtype}) for backend ${q.backend}, generated from the op spec\n${src}`;

/** Every asked backend's source; one that cannot emit the op at this dtype says why instead. */
export function kernelListing(q: KernelQuery): KernelListing {
  const kernels = Object.fromEntries(q.backends.map((backend): [string, KernelSource] => {
    const language = LANGUAGES[backend] ?? backend;
    try {
      return [backend, { language, source: codegenListing({ ...q, backend }, codegen({ backend, op: q.op, dtype: q.dtype, rank: q.rank, innerRank: q.innerRank })) }];
    } catch (e) {
      return [backend, { language, error: (e as Error).message }];
    }
  }));
  return { op: q.op, dtype: q.dtype, rank: q.rank, innerRank: q.innerRank, kernels };
}
