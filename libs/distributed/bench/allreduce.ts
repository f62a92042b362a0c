/**
 * allReduce bandwidth on the current process group (run under tessera-run): float32 sums of 1 MiB to
 * 256 MiB, in place, after a barrier; rank 0 prints one JSON line per size. Bus bandwidth is
 * algorithm bandwidth x 2(n-1)/n, the convention of nccl-tests and OSU, so transports and world sizes
 * compare. Options: --sizes-mb 1,4,16 --min-ms 400 (time per size).
 */
import { zeros } from 'tessera';
import { destroyProcessGroup, initProcessGroup } from '@tessera/distributed';

const arg = (name: string, fallback: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1]! : fallback; };
const sizesMb = arg('--sizes-mb', '1,4,16,64,256').split(',').map(Number);
const minMs = Number(arg('--min-ms', '400'));

const group = await initProcessGroup();
const n = group.worldSize;
for (const mb of sizesMb) {
  const bytes = mb * 2 ** 20;
  const t = zeros([bytes / 4]);
  for (let i = 0; i < 2; i++) await group.allReduce(t);
  // Every rank runs the same number of iterations: rank 0 decides from a timed probe and broadcasts it.
  await group.barrier();
  let t0 = performance.now();
  await group.allReduce(t);
  const probe = performance.now() - t0;
  const iters = zeros([1]).add(Math.max(3, Math.ceil(minMs / Math.max(probe, 1e-3))));
  await group.broadcast(iters, 0);
  const count = (await iters.item()) as number;
  await group.barrier();
  t0 = performance.now();
  for (let i = 0; i < count; i++) await group.allReduce(t);
  const seconds = (performance.now() - t0) / 1000 / count;
  const algbw = bytes / seconds / 1e9;
  if (group.rank === 0) console.log(JSON.stringify({ transport: group.backend, ranks: n, bytes, iters: count, usPerOp: seconds * 1e6, algbwGBs: algbw, busbwGBs: (algbw * 2 * (n - 1)) / n }));
}
destroyProcessGroup();
