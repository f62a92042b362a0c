#!/usr/bin/env node
// tessera-run: starts N copies of a training script as one process group, like torchrun.
//   tessera-run --nproc 2 [--backend shm|mpi] [--timeout-ms 60000] script.ts [args...]
// 'shm' (the default): spawns the ranks itself, with TESSERA_RANK / TESSERA_WORLD_SIZE / TESSERA_SHM_NAME
// set; when a rank fails the others are stopped and the launcher exits with the failure's code.
// 'mpi': hands over to Open MPI's mpirun, which places ranks (also across hosts: pass --hostfile).
// Either way each rank also finds torchrun's RANK / LOCAL_RANK / WORLD_SIZE, so a script written for
// torchrun (`ddp = int(os.environ.get('RANK', -1)) != -1`) ports as it is.
// TypeScript scripts run through tsx.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import process from 'node:process';

const usage = 'usage: tessera-run --nproc N [--backend shm|mpi] [--timeout-ms MS] [--hostfile FILE] script [args...]';

function parse(argv) {
  const opt = { nproc: undefined, backend: 'shm', timeoutMs: undefined, hostfile: undefined };
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('--'); i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--nproc' || flag === '--nproc-per-node') opt.nproc = Number(value());
    else if (flag === '--backend') opt.backend = value();
    else if (flag === '--timeout-ms') opt.timeoutMs = Number(value());
    else if (flag === '--hostfile') opt.hostfile = value();
    else if (flag === '--help') { console.log(usage); process.exit(0); }
    else fail(`unknown option ${flag}`);
  }
  opt.timeoutMs ??= process.env.TESSERA_DIST_TIMEOUT_MS ? Number(process.env.TESSERA_DIST_TIMEOUT_MS) : undefined;
  const [script, ...args] = argv.slice(i);
  if (!script) fail('no script given');
  if (!Number.isInteger(opt.nproc) || opt.nproc < 1) fail('--nproc must be a positive integer');
  if (opt.backend !== 'shm' && opt.backend !== 'mpi') fail(`--backend must be shm or mpi, got ${opt.backend}`);
  return { ...opt, script, args };
}

function fail(msg) {
  console.error(`tessera-run: ${msg}\n${usage}`);
  process.exit(2);
}

/** In the monorepo (src/ is not published), the condition that resolves the workspace packages to their sources. */
const conditions = existsSync(new URL('../src/index.ts', import.meta.url)) ? ['--conditions=tessera-source'] : [];

/** The node command line for the script: TypeScript through tsx, found from here so any cwd works. */
function nodeArgs(script, args) {
  if (!/\.[mc]?ts$/.test(script)) return [...conditions, script, ...args];
  let tsx = 'tsx';
  try { tsx = import.meta.resolve('tsx'); } catch { /* leave it to node's own resolution from the cwd */ }
  return [...conditions, '--import', tsx, script, ...args];
}

function runShm(o) {
  const name = `tessera-${process.pid}-${randomBytes(4).toString('hex')}`;
  const children = [];
  let firstFailure;
  let alive = o.nproc;
  const stopAll = (sig) => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig); };
  for (let rank = 0; rank < o.nproc; rank++) {
    const env = { ...process.env, TESSERA_DIST_BACKEND: 'shm', TESSERA_RANK: String(rank), TESSERA_WORLD_SIZE: String(o.nproc), TESSERA_LOCAL_RANK: String(rank), TESSERA_SHM_NAME: name, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(o.nproc) };
    if (o.timeoutMs) env.TESSERA_DIST_TIMEOUT_MS = String(o.timeoutMs);
    const child = spawn(process.execPath, nodeArgs(o.script, o.args), { stdio: 'inherit', env });
    children.push(child);
    child.on('exit', (code, signal) => {
      alive--;
      if ((code !== 0 || signal) && firstFailure === undefined) {
        firstFailure = { rank, code, signal };
        console.error(`tessera-run: rank ${rank} (pid ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}; the other ranks report it within their timeout, then stop`);
        // Survivors notice the dead peer themselves and fail with a message; stop stragglers after a grace period.
        setTimeout(() => stopAll('SIGTERM'), (o.timeoutMs ?? 60_000) + 5000).unref();
      }
      if (alive === 0) {
        const leftover = `/dev/shm/${name}`;
        if (existsSync(leftover)) rmSync(leftover, { force: true });
        process.exit(firstFailure ? (firstFailure.code || 1) : 0);
      }
    });
  }
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stopAll(sig));
}

function runMpi(o) {
  const args = ['-np', String(o.nproc), '--oversubscribe'];
  if (process.getuid?.() === 0) args.push('--allow-run-as-root');
  if (o.hostfile) args.push('--hostfile', o.hostfile);
  // Containers often forbid the cross-memory-attach single-copy path; plain shared memory works everywhere.
  args.push('--mca', 'btl_vader_single_copy_mechanism', 'none');
  const env = { ...process.env, TESSERA_DIST_BACKEND: 'mpi' };
  if (o.timeoutMs) env.TESSERA_DIST_TIMEOUT_MS = String(o.timeoutMs);
  for (const v of ['TESSERA_DIST_BACKEND', 'TESSERA_DIST_TIMEOUT_MS', 'TESSERA_NATIVE']) if (env[v] !== undefined) args.push('-x', v);
  // Each rank learns its place from mpirun's variables; torchrun-env.mjs copies them to torchrun's names before the script runs.
  args.push(process.execPath, '--import', new URL('./torchrun-env.mjs', import.meta.url).href, ...nodeArgs(o.script, o.args));
  const child = spawn('mpirun', args, { stdio: 'inherit', env });
  child.on('error', (e) => { console.error(`tessera-run: cannot start mpirun (${e.message}): install Open MPI (apt-get install openmpi-bin libopenmpi-dev)`); process.exit(1); });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
}

const o = parse(process.argv.slice(2));
if (o.backend === 'shm') runShm(o);
else runMpi(o);
