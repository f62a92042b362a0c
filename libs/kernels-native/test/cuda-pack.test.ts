/**
 * The folder `npm run cuda:pack` makes for a bare GPU machine works: it packs under 64 MiB, and its
 * bundled conformance suite runs (here on the native backend, as there is no GPU; on a GPU machine
 * the same bundle runs 'cuda').
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cudaStatus, nativeUnavailable } from '../src/index.js';

const root = new URL('../../../', import.meta.url).pathname;
// The bundled suite runs for most of a minute on the 2-core machine: run it without blocking the
// worker's event loop (vitest's RPC to the runner times out after 60 s).
const run = promisify(execFile);

describe.skipIf(nativeUnavailable !== undefined)('cuda pack', () => {
  it('packs Node, the addon and the bundle, and the bundled conformance suite passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cuda-pack-'));
    try {
      const packed = execFileSync(process.execPath, [join(root, 'tools/cuda-pack/pack.mjs'), dir], { encoding: 'utf8' });
      expect(packed).toMatch(/packed .*: \d+\.\d MiB/);
      const { stdout: out } = await run(join(dir, 'run.sh'), ['conformance'], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, TESSERA_CONFORMANCE_BACKENDS: 'native' } });
      const m = /conformance on native: (\d+) passed, (\d+) failed/.exec(out);
      expect(m, out).not.toBeNull();
      expect(Number(m![2])).toBe(0);
      expect(Number(m![1])).toBeGreaterThan(300);
      // Without a GPU the 'cuda' run stops at once, saying why (exit code 2).
      if (!cudaStatus().available) {
        let code = 0;
        try { execFileSync(join(dir, 'run.sh'), ['conformance'], { stdio: 'pipe' }); } catch (e) { code = (e as { status: number }).status; }
        expect(code).toBe(2);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
