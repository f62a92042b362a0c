/** Runs a script under tessera-run, as users do, and collects what every rank printed. */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hasMpi } from '@tessera/distributed';

export const LAUNCHER = fileURLToPath(new URL('../bin/tessera-run.mjs', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** `seconds` is wall time, for the failure tests' "within the timeout" bound only (not a speed figure). */
export interface Launched { code: number | null; stdout: string; stderr: string; seconds: number }

export function launch(transport: 'shm' | 'mpi', script: string, args: string[] = [], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<Launched> {
  const t0 = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [LAUNCHER, '--nproc', '2', '--backend', transport, script, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => { child.kill('SIGKILL'); fail(new Error(`tessera-run ${script} did not finish within ${timeoutMs / 1000} s\n${stdout}\n${stderr}`)); }, timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); done({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000 }); });
  });
}

/** JSON lines a worker printed. */
export const records = (out: string): Record<string, unknown>[] => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

const mpirun = spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status === 0;
/** Why the 'mpi' transport cannot run here, or undefined when it can. */
export const mpiMissing: string | undefined = !mpirun ? 'mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)' : !hasMpi() ? 'the distributed addon was built without MPI' : undefined;
/** CI names 'mpi' in TESSERA_REQUIRE_BACKENDS: there a missing MPI fails instead of skipping. */
export const mpiRequired = (process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').split(',').includes('mpi');
export const TRANSPORTS = (['shm', 'mpi'] as const).filter((t) => t === 'shm' || !mpiMissing || mpiRequired);
