/**
 * Run by the tests under tessera-run (2 ranks): every collective on each CPU backend, against values
 * this rank computes for all ranks itself. Prints one JSON line per backend; throws on a wrong value.
 */
import type { DType } from '@tessera/ops';
import { type Backend, type Tensor, arange, jsBackend, registerBackend, zeros } from 'tessera';
import { createNativeBackend } from '@tessera/kernels-native';
import { DistributedError, initProcessGroup } from '@tessera/distributed';

const group = await initProcessGroup();
const { rank, worldSize: world } = group;
// torchrun's variables, which tessera-run sets on either transport.
console.log(JSON.stringify({ rank, torchrun: { RANK: process.env['RANK'], LOCAL_RANK: process.env['LOCAL_RANK'], WORLD_SIZE: process.env['WORLD_SIZE'] } }));
const ranks = Array.from({ length: world }, (_, r) => r);

/** Rank r's input: small integers, so float sums are exact and comparisons can be too. */
const input = (r: number, n: number, dtype: DType): Tensor => arange(n).mul(r + 1).add(r).remainder(7).to(dtype);
const values = async (t: Tensor): Promise<number[]> => Array.from(await t.data(), Number);

let checks = 0;
function expectEqual(what: string, got: number[], want: number[]): void {
  checks++;
  const bad = got.findIndex((g, i) => !(g === want[i] || (Number.isNaN(g) && Number.isNaN(want[i]!))));
  if (got.length !== want.length || bad >= 0) throw new Error(`rank ${rank}: ${what}: element ${bad} is ${got[bad]}, expected ${want[bad]} (lengths ${got.length}/${want.length})`);
}

const combine: Record<string, (a: number, b: number) => number> = { sum: (a, b) => a + b, max: Math.max, min: Math.min, product: (a, b) => a * b };

async function allReduceCase(dtype: DType, op: 'sum' | 'max' | 'min' | 'product' | 'avg', n: number): Promise<void> {
  const t = input(rank, n, dtype);
  await group.allReduce(t, { op });
  const all = await Promise.all(ranks.map((r) => values(input(r, n, dtype))));
  let want = all.reduce((acc, v) => acc.map((a, i) => combine[op === 'avg' ? 'sum' : op]!(a, v[i]!)));
  if (op === 'avg') want = want.map((v) => v / world);
  if (dtype === 'bool') want = want.map((v) => Number(v !== 0));
  if (dtype === 'uint8') want = want.map((v) => v & 255);
  expectEqual(`allReduce(${op}) ${dtype} [${n}]`, await values(t), want);
}

async function run(backendName: string): Promise<void> {
  checks = 0;
  for (const dtype of ['float32', 'float64', 'int32', 'int64', 'uint8'] as const) {
    for (const op of ['sum', 'max', 'min', 'product'] as const) await allReduceCase(dtype, op, 37);
  }
  await allReduceCase('float32', 'avg', 37);
  await allReduceCase('float16', 'avg', 37);
  await allReduceCase('bool', 'sum', 37);
  await allReduceCase('bool', 'product', 37);
  await allReduceCase('float32', 'sum', 0);
  // Spans several of the shared-memory transport's 4 MiB rounds (and an odd tail).
  await allReduceCase('float32', 'sum', 3_000_001);

  // A strided view is reduced through a contiguous copy and written back in place.
  const base = input(rank, 24, 'float32').view([4, 6]);
  const view = base.t();
  await group.allReduce(view);
  const wantT = ranks.map((r) => input(r, 24, 'float32')).reduce((a, b) => a.add(b));
  expectEqual('allReduce on a transposed view', await values(base), await values(wantT));

  for (const dtype of ['float32', 'int64', 'float16', 'bool'] as const) {
    const t = input(rank, 10, dtype);
    await group.broadcast(t, world - 1);
    expectEqual(`broadcast ${dtype} from rank ${world - 1}`, await values(t), await values(input(world - 1, 10, dtype)));
  }

  const mine = input(rank, 5, 'int32').view([5]);
  const list = ranks.map(() => zeros([5], { dtype: 'int32' }));
  await group.allGather(list, mine);
  for (const r of ranks) expectEqual(`allGather list [${r}]`, await values(list[r]!), await values(input(r, 5, 'int32')));
  const flat = zeros([world * 5], { dtype: 'int32' });
  await group.allGather(flat, mine);
  expectEqual('allGather into one tensor', await values(flat), (await Promise.all(ranks.map((r) => values(input(r, 5, 'int32'))))).flat());

  for (const n of [6, 1_500_007]) {
    const out = zeros([n], { dtype: 'float64' });
    await group.reduceScatter(out, input(rank, world * n, 'float64'));
    const total = ranks.map((r) => input(r, world * n, 'float64')).reduce((a, b) => a.add(b));
    expectEqual(`reduceScatter [${world * n}] -> [${n}]`, await values(out), await values(total.narrow(0, rank * n, n)));
  }

  await group.barrier();
  console.log(JSON.stringify({ rank, backend: backendName, transport: group.backend, checks }));
}

const backends: [string, Backend | string][] = [['js', jsBackend], ['native', createNativeBackend({ minElements: 0 })]];
for (const [name, backend] of backends) {
  if (typeof backend === 'string') {
    if ((process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').split(',').includes(name)) throw new Error(`backend ${name} is required but unavailable: ${backend}`);
    console.log(JSON.stringify({ rank, backend: name, unavailable: backend }));
    continue;
  }
  registerBackend(backend);
  await run(name);
}

// Last, because it leaves the group unusable: ranks that disagree on a shape are told so, on every rank.
try {
  await group.allReduce(zeros([3 + rank], { dtype: 'float32' }));
  throw new Error(`rank ${rank}: a shape mismatch went unnoticed`);
} catch (e) {
  if (!(e instanceof DistributedError)) throw e;
  console.log(JSON.stringify({ rank, mismatch: e.message }));
}
