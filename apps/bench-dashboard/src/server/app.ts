/**
 * The HTTP server: the dashboard page and the JSON API on one Fastify instance.
 *
 * Fastify over Hono: it is Node-first (Hono's Node adapter wraps web Requests around Node's own),
 * and it already does what the API must get right at the edge: a body-size limit (413), a JSON
 * parser whose syntax errors are 400s, a media-type check (415), and `inject` for tests.
 */
import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { emitterNames, ops } from 'tessera';
import { type Sources, collect, fromRoot, matrixAt } from '../collect.js';
import { EXAMPLES, compileGraph, parseGraphRequest } from './compile.js';
import { ApiError, type ErrorBody } from './errors.js';
import { LANGUAGES, type KernelListing, kernelListing, kernelQuery } from './kernels.js';
import { openApiDocument } from './openapi.js';
import { ROUTES } from './routes.js';
import { allSpecs } from './specs.js';

export interface AppOptions {
  /** Where the benchmark results and the conformance matrix are read, on every request. */
  readonly sources: Sources;
  /** The built page (vite build's outDir); without it only the API is served. */
  readonly webDir?: string;
  readonly logger?: boolean;
}

/** A kernel body is some kilobytes; 64 KiB bounds what a client can make the server parse. */
export const BODY_LIMIT = 64 * 1024;

export function specsBody(): Record<string, unknown> {
  return { dtypes: ops.ALL_DTYPES, backends: emitterNames().map((name) => ({ name, language: LANGUAGES[name] ?? name })), specs: allSpecs() };
}

export function matrixBody(sources: Sources): unknown {
  const matrix = matrixAt(sources.matrixPath);
  if (!matrix) throw new ApiError(404, undefined, `no conformance matrix: ${fromRoot(sources.matrixPath)} does not exist (the conformance tests write it: npm test)`);
  return matrix;
}

export function resultsBody(sources: Sources): unknown {
  const { resultsDir, runs } = collect(sources);
  return { resultsDir, runs };
}

export const examplesBody = (): unknown => Object.fromEntries(Object.entries(EXAMPLES).map(([name, e]) => [name, { description: e.description, graph: e.graph }]));

/** Kernel listings are pure functions of the query; a bounded cache keeps repeated requests cheap. */
const KERNEL_CACHE_SIZE = 4096;
const kernelCache = new Map<string, KernelListing>();

function cachedKernel(query: Readonly<Record<string, string | undefined>>): KernelListing {
  const q = kernelQuery(query);
  const key = JSON.stringify(q);
  let hit = kernelCache.get(key);
  if (!hit) {
    hit = kernelListing(q);
    if (kernelCache.size >= KERNEL_CACHE_SIZE) kernelCache.delete(kernelCache.keys().next().value!);
    kernelCache.set(key, hit);
  }
  return hit;
}

/** Fastify's own errors (body parsing, limits) as the API's JSON errors. */
function errorBody(e: FastifyError | ApiError): { status: number; body: ErrorBody } {
  if (e instanceof ApiError) return { status: e.status, body: { error: e.name, ...(e.field ? { field: e.field } : {}), message: e.message } };
  const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
  // Parser, size and media-type errors concern the request body.
  return { status, body: { error: e.code ?? 'Error', ...(status < 500 ? { field: 'body' } : {}), message: status < 500 ? e.message : `internal error: ${e.message}` } };
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: BODY_LIMIT });
  // The API reads JSON only: any other body is a 415, not a string for the handler to misread.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((e: FastifyError, _req, reply) => {
    const { status, body } = errorBody(e);
    if (status >= 500) app.log.error(e);
    return reply.status(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'NotFound', field: 'path', message: `no route ${req.method} ${req.url.split('?')[0]}; GET /api/openapi.json lists the API` } satisfies ErrorBody));

  /** Query fields as single strings: a field given twice arrives as an array, which no route takes. */
  const query = (q: unknown): Record<string, string | undefined> => {
    for (const [field, v] of Object.entries(q as Record<string, unknown>)) {
      if (Array.isArray(v)) throw new ApiError(400, field, `${field} is given ${v.length} times; give it once (several backends: backend=a,b)`);
    }
    return q as Record<string, string | undefined>;
  };
  app.get(ROUTES.specs.path, async () => specsBody());
  app.get(ROUTES.kernel.path, async (req) => cachedKernel(query(req.query)));
  app.get(ROUTES.examples.path, async () => examplesBody());
  app.post(ROUTES.compile.path, async (req) => {
    const { graph, example } = parseGraphRequest(req.body);
    return { ...(example ? { example } : {}), programs: compileGraph(graph) };
  });
  app.get(ROUTES.matrix.path, async () => matrixBody(options.sources));
  app.get(ROUTES.results.path, async () => resultsBody(options.sources));
  app.get(ROUTES.openapi.path, async () => openApiDocument());
  // The page's data, collected afresh per request (new results show on reload); `api` tells it to ask the live API.
  app.get('/data.json', async () => ({ ...collect(options.sources), api: 'live' }));

  if (options.webDir && existsSync(options.webDir)) await app.register(fastifyStatic, { root: options.webDir });
  return app;
}
