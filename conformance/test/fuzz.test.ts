/**
 * The differential fuzzer against PyTorch, CI-sized, on every backend that loads (the full runs are
 * `npm run fuzz`): no crash, hang, untyped throw or half-write, and raise-or-return disagreements and
 * value mismatches each at most 0.1% of the calls (the deliberate differences are listed in the README).
 */
import { describe, expect, it } from 'vitest';
import { CANDIDATES, loadCandidate } from '../src/backends.js';
import { type FuzzBackend, disagreements, fuzz, markdown } from '../src/fuzz/run.js';
import { torchUnavailable } from '../src/fuzz/torch.js';

const SEED = Number(process.env['TESSERA_SEED'] ?? 20261206);
/** Calls per backend: the CPU backends run fast, the device ones pay a launch per kernel. */
const CALLS: Readonly<Record<FuzzBackend, number>> = { js: 3000, native: 3000, webgpu: 600, gpujs: 400 };
const required = new Set((process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').split(',').filter(Boolean));
const noTorch = torchUnavailable();

describe('differential fuzz against PyTorch', () => {
  for (const backend of Object.keys(CALLS) as FuzzBackend[]) {
    const candidate = CANDIDATES.find((c) => c.name === backend || c.name.startsWith(`${backend} `));
    it(`${backend}: ${CALLS[backend]} calls`, async (ctx) => {
      if (noTorch) {
        if (required.size) throw new Error(noTorch);
        ctx.skip();
      }
      // The backend must load here (the child process opens it again on its own).
      const loaded = candidate ? await loadCandidate(candidate) : `no candidate ${backend}`;
      if (typeof loaded === 'string') ctx.skip();
      const r = await fuzz({ backend, calls: CALLS[backend], seed: SEED });
      console.log(markdown([r]));
      expect(r.counts.crash, 'crashes').toBe(0);
      expect(r.counts.hang, 'hangs').toBe(0);
      expect(r.counts.untyped, 'throws that are not TesseraError').toBe(0);
      expect(r.counts['half-write'], 'half-written in-place targets').toBe(0);
      expect(r.counts.setup, 'calls the generator could not build').toBe(0);
      expect(disagreements(r), 'raise-or-return disagreements').toBeLessThanOrEqual(Math.floor(r.calls / 1000));
      expect(r.counts.value, 'value mismatches').toBeLessThanOrEqual(Math.floor(r.calls / 1000));
    }, 300_000);
  }
});
