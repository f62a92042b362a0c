/** Debian's PyTorch (python3-torch, installed by scripts/setup.mjs as root), which the equivalence tests compare against. */
import { execFileSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/** Whether torch imports here. */
export function hasTorch(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
