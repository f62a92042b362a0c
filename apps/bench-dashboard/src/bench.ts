/**
 * CLI: runs the CPU benchmarks, prints a table and writes results/<timestamp>-cpu.json.
 * `--quick` is the CI smoke run: 0.2 s per case, matmul at 128, elementwise add and the MLP train step only; its
 * output file ends in .tmp.json (git-ignored) so smoke numbers never land among the tracked results.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CaseResult, formatTable, gitCommit, machineInfo, runAll, toRecords } from './suites.js';

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--quick');
if (unknown.length) {
  console.error(`unknown argument(s): ${unknown.join(' ')}\nusage: tsx src/bench.ts [--quick]`);
  process.exit(2);
}
const quick = args.includes('--quick');

const date = new Date().toISOString();
const machine = machineInfo();
const commit = gitCommit();
console.log(`Tessera CPU benchmarks${quick ? ' (quick)' : ''}: ${machine.cpus} x${machine.cores}, node ${machine.node}${machine.simd ? `, native SIMD ${machine.simd}` : ''}, commit ${commit}`);

const progress = (r: CaseResult) => console.error(`  ${r.case} ${r.impl}: ${r.meanUs.toPrecision(4)} us ±${r.rme.toFixed(1)}%`);
const notes: string[] = [];
const results = await runAll({ quick, onResult: progress, onNote: (n) => notes.push(n) });

console.log(`\n${formatTable(results)}\n`);
// Skipped impls are printed with the table so a missing row (PyTorch, tessera-native) is never mistaken for a fast one.
if (notes.length) console.log(`${notes.join('\n')}\n`);

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results');
mkdirSync(dir, { recursive: true });
// Colons are not allowed in Windows file names.
const file = path.join(dir, `${date.replace(/:/g, '-')}-cpu${quick ? '.tmp' : ''}.json`);
writeFileSync(file, `${JSON.stringify(toRecords(results, { machine, commit, date }), null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
