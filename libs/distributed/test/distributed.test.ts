/**
 * Collectives, failure behaviour and launching, each over shared memory and Open MPI, with 2 ranks
 * started by tessera-run as a user would. The 'mpi' cases skip only where Open MPI is missing; CI
 * requires it (TESSERA_REQUIRE_BACKENDS names 'mpi'), and setup installs it.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nativeUnavailable, ones, zeros } from 'tessera';
import { ArgumentError } from '@tessera/ops';
import { DistributedError, ProcessGroup, initProcessGroup, destroyProcessGroup } from '@tessera/distributed';
import { launch, mpiMissing, mpiRequired, records } from './launch.js';

const COLLECTIVES = 'libs/distributed/test/workers/collectives.ts';
const FAIL = 'libs/distributed/test/workers/fail.ts';
const TIMEOUT_MS = 4000;

for (const transport of ['shm', 'mpi'] as const) {
  const skip = transport === 'mpi' && mpiMissing !== undefined && !mpiRequired;
  describe.skipIf(skip)(`${transport} transport${skip ? ` (skipped: ${mpiMissing})` : ''}`, () => {
    it('runs every collective on each CPU backend, and reports ranks that disagree', async () => {
      const r = await launch(transport, COLLECTIVES);
      expect(r.code, r.stderr).toBe(0);
      const rec = records(r.stdout);
      for (const rank of [0, 1]) {
        for (const backend of ['js', 'native']) {
          const row = rec.find((x) => x['rank'] === rank && x['backend'] === backend);
          // Without the addon (not built, or TESSERA_NATIVE=0) the ranks say why native did not run;
          // CI requires it (TESSERA_REQUIRE_BACKENDS), and then a rank without it fails the job.
          const want = backend === 'native' && nativeUnavailable !== undefined ? { unavailable: nativeUnavailable } : { transport, checks: 36 };
          expect(row, `rank ${rank} on ${backend}:\n${r.stdout}\n${r.stderr}`).toMatchObject(want);
        }
        expect(rec.find((x) => x['rank'] === rank && 'torchrun' in x)?.['torchrun']).toEqual({ RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: '2' });
        const mismatch = rec.find((x) => x['rank'] === rank && 'mismatch' in x);
        expect(mismatch?.['mismatch']).toMatch(/the ranks disagree: rank 0 called allReduce on float32 \[3\] \(sum\); rank 1 called allReduce on float32 \[4\] \(sum\)/);
      }
    }, 120_000);

    it('a rank that dies makes the other exit non-zero with a clear message, within the timeout', async () => {
      const r = await launch(transport, FAIL, ['die'], { TESSERA_DIST_TIMEOUT_MS: String(TIMEOUT_MS * 5) });
      expect(r.code).not.toBe(0);
      expect(records(r.stdout).some((x) => x['finished'])).toBe(false);
      // shm notices the dead process itself; under MPI, mpirun stops the job and rank 0 says so.
      expect(r.stderr).toMatch(transport === 'shm' ? /rank 1 \(pid \d+\) exited while rank 0 waited for it in allReduce #5/ : /rank 0 of 2 terminated by mpirun/);
      // The issue's failure bar is "within the timeout": a bound on waiting forever, not a speed
      // figure (the failure is seen in well under a second; the bound is the 20 s timeout itself).
      expect(r.seconds).toBeLessThan((TIMEOUT_MS * 5) / 1000);
    }, 120_000);

    it('a rank that hangs makes the other fail after the timeout, and the job ends', async () => {
      const r = await launch(transport, FAIL, ['hang'], { TESSERA_DIST_TIMEOUT_MS: String(TIMEOUT_MS) });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(transport === 'shm'
        ? /DistributedError: allReduce\(sum\): rank 1 did not reach allReduce #5 within 4 s/
        : /rank 0 of 2 ends the MPI job: did not complete within 4 s/);
    }, 120_000);
  });
}

describe('process group errors (in this process)', () => {
  it('a world of one needs no peers', async () => {
    const g = await initProcessGroup({ backend: 'shm', rank: 0, worldSize: 1, name: `tessera-test-${process.pid}` });
    const t = ones([4]).mul(3);
    await g.allReduce(t, { op: 'avg' });
    expect(await t.tolist()).toEqual([3, 3, 3, 3]);
    destroyProcessGroup();
    expect(() => g.allReduce(t)).toThrow(DistributedError);
  });

  it('bad arguments are typed errors', async () => {
    await expect(ProcessGroup.create({ backend: 'shm', rank: 2, worldSize: 2, name: 'x' })).rejects.toThrow(ArgumentError);
    await expect(ProcessGroup.create({ backend: 'tcp' as 'shm' })).rejects.toThrow(/backend must be 'shm', 'mpi' or 'nccl'/);
    await expect(ProcessGroup.create({ backend: 'nccl' })).rejects.toThrow(/needs the CUDA backend/);
    const g = await ProcessGroup.create({ backend: 'shm', rank: 0, worldSize: 1, name: `tessera-test2-${process.pid}` });
    expect(() => g.allReduce(ones([2]).int(), { op: 'avg' })).toThrow(/op 'avg' needs a floating tensor, got int32/);
    expect(() => g.broadcast(ones([2]), 3)).toThrow(/rank 3 is outside the group of 1/);
    expect(() => g.reduceScatter(ones([3]), ones([2]))).toThrow(/output has shape/);
    g.destroy();
  });

  it('collectives that write a tensor invalidate what autograd saved from it; reading it does not', async () => {
    const g = await ProcessGroup.create({ backend: 'shm', rank: 0, worldSize: 1, name: `tessera-test3-${process.pid}` });
    const x = ones([3]).requiresGrad_();
    const y = x.mul(2);
    const read = y.square();
    await g.allGather(zeros([3]), y.detach());
    read.sum().backward();
    expect(await x.grad!.tolist()).toEqual([8, 8, 8]);
    const written = y.square();
    await g.allReduce(y.detach());
    expect(() => written.sum().backward()).toThrow(/modified by an in-place operation/);
    g.destroy();
  });

  it('a peer that never comes fails startup after the timeout, leaving no segment behind', async () => {
    await expect(ProcessGroup.create({ backend: 'shm', rank: 1, worldSize: 2, name: `tessera-absent-${process.pid}`, timeoutMs: 300 })).rejects.toThrow(/rank 0 did not create \/dev\/shm\/tessera-absent-\d+ within 0 s/);
    const name = `tessera-alone-${process.pid}`;
    await expect(ProcessGroup.create({ backend: 'shm', rank: 0, worldSize: 2, name, timeoutMs: 300 })).rejects.toThrow(/rank 1 did not reach the startup rendezvous within 0 s/);
    expect(existsSync(`/dev/shm/${name}`)).toBe(false);
  });

  it("averages a tensor that requires grad in place (the write-back is not an autograd op)", async () => {
    const g = await ProcessGroup.create({ backend: 'shm', rank: 0, worldSize: 1, name: `tessera-test4-${process.pid}` });
    const p = ones([2]).mul(4).detach().requiresGrad_();
    const w = g.allReduce(p, { op: 'avg' });
    await w;
    expect(w.isCompleted()).toBe(true);
    expect(await p.tolist()).toEqual([4, 4]);
    g.destroy();
  });
});

describe('allreduce benchmark (smoke: 1 MiB, a few iterations)', () => {
  for (const transport of ['shm', 'mpi'] as const) {
    const skip = transport === 'mpi' && mpiMissing !== undefined && !mpiRequired;
    it.skipIf(skip)(`reports bus bandwidth over ${transport}${skip ? ` (skipped: ${mpiMissing})` : ''}`, async () => {
      const r = await launch(transport, 'libs/distributed/bench/allreduce.ts', ['--sizes-mb', '1', '--min-ms', '20']);
      expect(r.code, r.stderr).toBe(0);
      const [row] = records(r.stdout);
      expect(row).toMatchObject({ transport, ranks: 2, bytes: 2 ** 20 });
      expect(row!['busbwGBs']).toBeGreaterThan(0);
    }, 60_000);
  }
});
