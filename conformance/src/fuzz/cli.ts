/**
 * `npm run fuzz -- [--backend js,native,webgpu,gpujs] [--calls 100000] [--seed 20261206]`: the
 * differential fuzzer against PyTorch, printing the table the Trust issue asks for and writing it to
 * conformance/report/fuzz.md (and .json).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKENDS, type FuzzBackend, type FuzzReport, fuzz, markdown } from './run.js';
import { torchUnavailable } from './torch.js';
import { REPORT_DIR } from '../matrix.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const backends = arg('backend', 'js,native').split(',') as FuzzBackend[];
const calls = Number(arg('calls', '100000')), seed = Number(arg('seed', '20261206'));
for (const b of backends) if (!BACKENDS.includes(b)) throw new Error(`unknown backend '${b}' (have: ${BACKENDS.join(', ')})`);
const why = torchUnavailable();
if (why) { console.error(why); process.exit(2); }

const reports: FuzzReport[] = [];
for (const backend of backends) {
  let last = 0;
  reports.push(await fuzz({
    backend, calls, seed,
    onProgress: (done) => { if (done - last >= 5000 || done === calls) { last = done; process.stderr.write(`[fuzz ${backend}] ${done}/${calls}\n`); } },
  }));
}
const md = markdown(reports);
console.log(md);
mkdirSync(REPORT_DIR, { recursive: true });
writeFileSync(join(REPORT_DIR, 'fuzz.md'), `# Differential fuzz against PyTorch (seed ${seed})\n\n${md}\n`);
writeFileSync(join(REPORT_DIR, 'fuzz.json'), JSON.stringify(reports, null, 1));
