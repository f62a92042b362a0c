/**
 * Data-parallel training of an MLP on the 8x8 digits:
 *   npx tessera-run --nproc 2 examples/src/train-digits-ddp.ts                  (shared memory)
 *   npx tessera-run --nproc 2 --backend mpi examples/src/train-digits-ddp.ts    (Open MPI's mpirun)
 * Each rank trains on its DistributedSampler share of every batch; DistributedDataParallel averages
 * the gradients across ranks during backward, so all replicas take the same steps as one process on
 * the whole batch would. Rank 0 writes the checkpoint. Options: --steps N (default: 3 epochs),
 * --batch N (global batch, default 64), --out FILE, --no-shuffle.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tsr from 'tessera';
import { loadDigits } from './digits.js';

const { nn, distributed: dist } = tsr;

export function makeMlp(): tsr.nn.Sequential {
  return new nn.Sequential(new nn.Flatten(), new nn.Linear(64, 128), new nn.ReLU(), new nn.Linear(128, 64), new nn.ReLU(), new nn.Linear(64, 10));
}

export interface RunOptions {
  steps?: number;
  /** The global batch: each of N ranks takes batch / N of it. */
  batch?: number;
  shuffle?: boolean;
  lr?: number;
}

/** One optimisation step per batch, `steps` in all, cycling over epochs. */
async function fit(model: tsr.nn.Module, loader: tsr.nn.DataLoader, steps: number, lr: number, onEpoch?: (epoch: number) => void): Promise<number> {
  const opt = new nn.SGD(model.parameters(), { lr, momentum: 0.9 });
  let step = 0, loss = tsr.zeros([]);
  for (let epoch = 0; step < steps; epoch++) {
    onEpoch?.(epoch);
    for (const [x, y] of loader) {
      if (step++ === steps) break;
      loss = nn.crossEntropy(model.forward(x!), y!);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    }
  }
  return (await loss.item()) as number;
}

/** The same training in one process on the whole batch: what data parallelism must reproduce. */
export async function trainSingle(o: RunOptions = {}): Promise<tsr.nn.Sequential> {
  tsr.manualSeed(0);
  const { train } = loadDigits();
  const model = makeMlp();
  const loader = new nn.DataLoader(new nn.TensorDataset(train.x, train.y), { batchSize: o.batch ?? 64 });
  await fit(model, loader, o.steps ?? 20, o.lr ?? 0.2);
  return model;
}

/** Runs on every rank of the default process group. */
export async function trainDataParallel(o: RunOptions = {}): Promise<{ model: tsr.nn.Sequential; loss: number }> {
  const group = dist.defaultGroup();
  const batch = o.batch ?? 64;
  if (batch % group.worldSize !== 0) throw new Error(`the global batch (${batch}) must divide among ${group.worldSize} ranks`);
  tsr.manualSeed(group.rank); // different on purpose: DDP must broadcast rank 0's initial weights
  const { train } = loadDigits();
  const model = makeMlp();
  const ddp = new dist.DistributedDataParallel(model);
  const dataset = new nn.TensorDataset(train.x, train.y);
  const sampler = new dist.DistributedSampler(dataset, { shuffle: o.shuffle ?? true });
  const loader = new nn.DataLoader(dataset, { batchSize: batch / group.worldSize, sampler });
  const steps = o.steps ?? 3 * loader.length;
  const loss = await fit(ddp, loader, steps, o.lr ?? 0.2, (epoch) => sampler.setEpoch(epoch));
  return { model, loss };
}

async function main(): Promise<void> {
  const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
  const group = await dist.initProcessGroup();
  const steps = arg('--steps') === undefined ? undefined : Number(arg('--steps'));
  const { model, loss } = await trainDataParallel({ steps, batch: Number(arg('--batch') ?? 64), shuffle: !process.argv.includes('--no-shuffle') });
  const { test } = loadDigits();
  const acc = (await tsr.noGrad(() => model.forward(test.x).argmax(1).eq(test.y).float().mean()).item()) as number;
  console.log(`rank ${group.rank}/${group.worldSize} (${group.backend}): last loss ${loss.toFixed(4)}, test accuracy ${(acc * 100).toFixed(1)}%`);
  const out = arg('--out') ?? 'examples/out/digits-ddp.safetensors';
  mkdirSync(dirname(out), { recursive: true });
  await dist.saveCheckpoint(out, model);
  dist.destroyProcessGroup();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
