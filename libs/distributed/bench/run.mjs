#!/usr/bin/env node
// allReduce bus bandwidth, 2 ranks, 1..256 MiB: Tessera over shared memory, Tessera over Open MPI, and
// Open MPI's own C loop (the peer), measured in the same run; writes
// libs/distributed/bench/results/<date>-allreduce.json and prints the ratios.
//   node libs/distributed/bench/run.mjs [--sizes-mb 1,4,16,64,256] [--min-ms 400]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const here = fileURLToPath(new URL('.', import.meta.url));
const arg = (name, fallback) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : fallback; };
const sizes = arg('--sizes-mb', '1,4,16,64,256');
const minMs = arg('--min-ms', '400');
const launcher = join(root, 'libs/distributed/bin/tessera-run.mjs');
const lines = (out) => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return lines(r.stdout);
}

const records = [];
for (const backend of ['shm', 'mpi']) {
  records.push(...run(process.execPath, [launcher, '--nproc', '2', '--backend', backend, join(here, 'allreduce.ts'), '--sizes-mb', sizes, '--min-ms', minMs]));
}
const exe = join(mkdtempSync(join(tmpdir(), 'tessera-osu-')), 'osu_allreduce');
execFileSync('mpicc', ['-O2', '-o', exe, join(here, 'osu_allreduce.c')]);
const mpirun = ['-np', '2', '--oversubscribe', '--mca', 'btl_vader_single_copy_mechanism', 'none', ...(process.getuid?.() === 0 ? ['--allow-run-as-root'] : [])];
records.push(...run('mpirun', [...mpirun, exe, sizes, minMs]));

const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
const date = new Date().toISOString();
const machine = `${cpus().length}x ${cpus()[0]?.model ?? 'cpu'}`;
const out = join(here, 'results');
mkdirSync(out, { recursive: true });
const file = join(out, `${date.replace(/:/g, '-')}-allreduce.json`);
writeFileSync(file, JSON.stringify({ suite: 'allreduce', machine, commit, date, records }, null, 2) + '\n');

console.log(`allReduce, 2 ranks, float32 sum in place; bus bandwidth GB/s (ratio to Open MPI's C loop) on ${machine}`);
console.log('size      openmpi-c   tessera-mpi        tessera-shm');
for (const bytes of [...new Set(records.map((r) => r.bytes))]) {
  const bw = (t) => records.find((r) => r.bytes === bytes && r.transport === t)?.busbwGBs;
  const peer = bw('openmpi-c');
  const cell = (t) => `${bw(t).toFixed(2)} (${(bw(t) / peer).toFixed(2)}x)`.padEnd(19);
  console.log(`${String(bytes / 2 ** 20).padStart(4)} MiB  ${peer.toFixed(2).padEnd(11)} ${cell('mpi')}${cell('shm')}`);
}
console.log(`wrote ${file}`);
