/** Global setup/teardown: clear the matrix parts before the run; merge, publish and audit them after. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tsr from 'tessera';
import { CANDIDATES } from './src/backends.js';
import { Matrix, REPORT_DIR } from './src/matrix.js';

export function setup(): void {
  rmSync(join(REPORT_DIR, 'parts'), { recursive: true, force: true });
}

export function teardown(): void {
  let m: Matrix;
  try { m = Matrix.fromParts(); } catch { return; } // no conformance file ran (e.g. a filtered run)
  m.write(REPORT_DIR, { seed: process.env['TESSERA_SEED'] ?? 20261123, date: new Date().toISOString().slice(0, 10) });
  // Every op an available backend claims (every spec) must have a matrix entry for it.
  const missing: string[] = [];
  for (const c of CANDIDATES) {
    for (const op of tsr.ops.ALL_SPECS.map((s) => s.name)) if (!m.has(op, c.name)) missing.push(`${op} on ${c.name}`);
  }
  const summary = Object.entries(m.summary()).map(([b, s]) => `${b}: ${s.pass} pass, ${s.fail} fail, ${s.unsupported} unsupported, ${s['not run']} not run`);
  console.log(`\nconformance matrix (conformance/report/matrix.md)\n  ${summary.join('\n  ')}`);
  if (missing.length) throw new Error(`conformance: no matrix entry for ${missing.join(', ')}`);
}
