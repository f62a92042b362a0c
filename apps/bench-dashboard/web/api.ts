/**
 * The page's reads of the kernel API: from `tessera serve` (live), or from the JSON files that
 * `tessera serve --export` writes beside the page (static; src/server/export.ts names them alike).
 */
export type ApiMode = 'live' | 'static';

/** What GET /api/specs answers, as far as the page reads it (src/server/specs.ts). */
export interface IrNode { readonly kind: 'input' | 'param' | 'const' | 'op'; readonly dtype: string; readonly index?: number; readonly name?: string; readonly value?: number | string; readonly op?: string; readonly args?: readonly IrNode[] }
export interface SpecInfo {
  readonly name: string;
  readonly kind: string;
  readonly dtypes: readonly string[];
  readonly generated: boolean;
  readonly ir?: Readonly<Record<string, IrNode | string>>;
}
export interface SpecsBody { readonly backends: readonly { readonly name: string; readonly language: string }[]; readonly specs: readonly SpecInfo[] }

export type KernelSource = { readonly language: string; readonly source?: string; readonly error?: string };
export interface KernelListing { readonly op: string; readonly dtype: string; readonly kernels: Readonly<Record<string, KernelSource>> }

/** The API's error body: `{ error, field?, message }`. */
export class ApiRequestError extends Error {
  constructor(readonly status: number, readonly field: string | undefined, message: string) {
    super(message);
  }
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (res.ok) return (await res.json()) as T;
  const body = (await res.json().catch(() => ({}))) as { field?: string; message?: string };
  throw new ApiRequestError(res.status, body.field, body.message ?? `${url}: HTTP ${res.status}`);
}

export const fetchSpecs = (mode: ApiMode): Promise<SpecsBody> => getJson(mode === 'live' ? 'api/specs' : 'api/specs.json');

/** Query fields are passed through unchecked: the API's own error names a bad one. */
export function fetchKernels(mode: ApiMode, q: { op: string; dtype: string; backends: readonly string[]; rank: string }): Promise<KernelListing> {
  if (mode === 'live') {
    const params = new URLSearchParams({ op: q.op, dtype: q.dtype, rank: q.rank, ...(q.backends.length ? { backend: q.backends.join(',') } : {}) });
    return getJson(`api/kernel?${params}`);
  }
  // An export holds rank 1 only, every backend in one file per op and dtype.
  return getJson<KernelListing>(`api/kernel/${encodeURIComponent(q.op)}/${encodeURIComponent(q.dtype)}.json`).catch((e: unknown) => {
    throw e instanceof ApiRequestError && e.status === 404 ? new ApiRequestError(404, 'op', `this export has no kernel for op '${q.op}' at dtype '${q.dtype}'`) : e;
  });
}
