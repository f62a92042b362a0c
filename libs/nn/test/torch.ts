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

/**
 * Whether the torch comparisons skip: only where torch is missing and the run does not require its
 * backends (as a non-root `npm test`, where setup cannot install python3-torch and says how). CI sets
 * TESSERA_REQUIRE_BACKENDS, so there a missing torch fails these tests instead of skipping them.
 */
export const skipWithoutTorch = (): boolean => !hasTorch() && !process.env['TESSERA_REQUIRE_BACKENDS'];
