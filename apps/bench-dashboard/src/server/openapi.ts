/** The OpenAPI 3.1 document of the routes table (routes.ts). */
import { ROUTES, type RouteDoc } from './routes.js';

const ERROR_SCHEMA = {
  type: 'object', required: ['error', 'message'],
  properties: { error: { type: 'string' }, field: { type: 'string', description: 'the request field at fault' }, message: { type: 'string' } },
};

function operation(r: RouteDoc): Record<string, unknown> {
  const errors = Object.fromEntries(Object.entries(r.errors).map(([code, description]) => [code, {
    description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  }]));
  return {
    summary: r.summary,
    ...(r.query ? { parameters: Object.entries(r.query).map(([name, q]) => ({ name, in: 'query', required: q.required ?? false, description: q.description, schema: q.schema })) } : {}),
    ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' }, example: JSON.parse(r.body.split(' or ')[0]!) } }, description: r.body } } : {}),
    responses: { 200: { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } }, ...errors },
  };
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of Object.values(ROUTES) as RouteDoc[]) (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r);
  return {
    openapi: '3.1.0',
    info: { title: 'Tessera kernel codegen and dashboard API', version: '0.1.0', description: 'Served by `tessera serve` (apps/bench-dashboard/src/server).' },
    paths,
    components: { schemas: { Error: ERROR_SCHEMA } },
  };
}
