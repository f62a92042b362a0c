/**
 * The PyTorch oracle: one long-lived `/usr/bin/python3 torch_worker.py` child (Debian's
 * python3-torch), fed batches of calls as JSON lines.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Call, Outcome } from './call.js';

const WORKER = fileURLToPath(new URL('./torch_worker.py', import.meta.url));
export const PYTHON = process.env['TESSERA_TORCH_PYTHON'] ?? '/usr/bin/python3';

/** Why PyTorch cannot be used here, or undefined when it can. */
export function torchUnavailable(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `PyTorch is not importable by ${PYTHON} (install Debian's python3-torch): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
}

export class TorchOracle {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;

  constructor() {
    // One thread: the calls are tiny, and the Tessera side needs the machine's other core.
    this.child = spawn(PYTHON, [WORKER], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
    this.child.stderr.on('data', () => {});
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  /** torch's outcome for each call, in order. */
  async run(calls: readonly Call[]): Promise<Outcome[]> {
    this.child.stdin.write(`${JSON.stringify(calls)}\n`);
    const line = await this.lines.next();
    if (line.done) throw new Error('the PyTorch worker exited');
    return JSON.parse(line.value) as Outcome[];
  }

  close(): void { this.child.kill(); }
}
