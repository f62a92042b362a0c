/**
 * `tessera serve --export dir/`: the dashboard as static files, for CI to publish. The page is built
 * into dir, and every GET the page makes is written as a JSON file it reads instead (data.json says
 * `api: 'static'`): specs, examples, results, the matrix, the compiled examples, and each generated
 * op's kernels at rank 1 for every dtype it accepts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { collect, type Sources } from '../collect.js';
import { examplesBody, resultsBody, specsBody } from './app.js';
import { EXAMPLES, compileGraph } from './compile.js';
import { kernelListing, kernelQuery } from './kernels.js';
import { openApiDocument } from './openapi.js';
import { buildPage } from './page.js';
import { allSpecs } from './specs.js';

/** Where the static page finds a kernel listing; web/api.ts builds the same path. */
export const kernelFile = (op: string, dtype: string): string => `api/kernel/${op}/${dtype}.json`;

export async function exportSite(dir: string, sources: Sources): Promise<{ files: number }> {
  await buildPage(dir);
  let files = 0;
  const write = (rel: string, body: unknown): void => {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(body));
    files++;
  };
  const data = collect(sources);
  write('data.json', { ...data, api: 'static' });
  write('api/specs.json', specsBody());
  write('api/examples.json', examplesBody());
  write('api/results.json', resultsBody(sources));
  write('api/openapi.json', openApiDocument());
  // The page says the matrix is missing from data.json's null; no file stands for the API's 404.
  if (data.matrix) write('api/matrix.json', data.matrix);
  for (const name of Object.keys(EXAMPLES)) write(`api/compile/${name}.json`, { example: name, programs: compileGraph(EXAMPLES[name]!.graph) });
  for (const spec of allSpecs().filter((s) => s.generated)) {
    for (const dtype of spec.dtypes) write(kernelFile(spec.name, dtype), kernelListing(kernelQuery({ op: spec.name, dtype })));
  }
  return { files };
}
