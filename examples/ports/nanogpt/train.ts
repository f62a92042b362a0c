/**
 * A port of karpathy/nanoGPT's train.py (MIT licence): the training loop with gradient accumulation
 * and clipping, warmup + cosine learning rate, estimateLoss under noGrad, checkpoint and resume, and
 * DistributedDataParallel when launched as several ranks. Settings are overridden as upstream's
 * configurator.py allows: `npx tsx examples/ports/nanogpt/train.ts --maxIters=200 --initFrom=resume`.
 * The dataset is character-level Shakespeare (examples/text/sonnets.txt), encoded here rather than
 * by a prepare.py. What differs from upstream beyond renames is listed in NOTES.md.
 *
 * To run on a single GPU (WebGPU), example:
 * $ npx tsx examples/ports/nanogpt/train.ts --device=webgpu --compile=false
 *
 * To run with DDP on 2 processes of one machine, example:
 * $ npx tessera-run --nproc 2 examples/ports/nanogpt/train.ts
 *
 * To run with DDP over Open MPI (also across machines: tessera-run --hostfile), example:
 * $ npx tessera-run --nproc 2 --backend mpi examples/ports/nanogpt/train.ts --backend=mpi
 */
import assert from 'node:assert';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tsr from 'tessera';
import { DistributedDataParallel as DDP, initProcessGroup, destroyProcessGroup, type DistBackend } from '@tessera/distributed';
import { GPT, GPTConfig } from './model.js';

// -----------------------------------------------------------------------------
// default config values designed to train a small character-level GPT on Shakespeare's sonnets
// I/O
let outDir = 'examples/out/nanogpt';
let evalInterval = 100;
let logInterval = 10;
let evalIters = 20;
let evalOnly = false; // if True, script exits right after the first eval
let alwaysSaveCheckpoint = true; // if True, always save a checkpoint after each eval
let initFrom = 'scratch'; // 'scratch' or 'resume'
// data
let gradientAccumulationSteps = 2; // used to simulate larger batch sizes
let batchSize = 12; // if gradientAccumulationSteps > 1, this is the micro-batch size
let blockSize = 64;
// model
let nLayer = 2;
let nHead = 4;
let nEmbd = 64;
let dropout = 0.0; // for pretraining 0 is good, for finetuning try 0.1+
let bias = false; // do we use bias inside LayerNorm and Linear layers?
// adamw optimizer
let learningRate = 1e-3; // max learning rate
let maxIters = 300; // total number of training iterations
let weightDecay = 1e-1;
let beta1 = 0.9;
let beta2 = 0.95;
let gradClip = 1.0; // clip gradients at this value, or disable if == 0.0
// learning rate decay settings
let decayLr = true; // whether to decay the learning rate
let warmupIters = 20; // how many steps to warm up for
let lrDecayIters = 300; // should be ~= maxIters per Chinchilla
let minLr = 1e-4; // minimum learning rate, should be ~= learningRate/10 per Chinchilla
// DDP settings
let backend = 'shm'; // 'shm', 'mpi', as tessera-run's --backend
// system
let device = 'cpu'; // examples: 'cpu', 'webgpu'
let compile = true; // use tsr.compile to compile the model to be faster
// -----------------------------------------------------------------------------
// overrides from the command line (upstream's configurator.py): --key=value
const config: Record<string, unknown> = { outDir, evalInterval, logInterval, evalIters, evalOnly, alwaysSaveCheckpoint, initFrom, gradientAccumulationSteps, batchSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, learningRate, maxIters, weightDecay, beta1, beta2, gradClip, decayLr, warmupIters, lrDecayIters, minLr, backend, device, compile };
for (const arg of process.argv.slice(2)) {
  const [key, val] = arg.replace(/^--/, '').split('=') as [string, string];
  if (!(key in config)) throw new Error(`Unknown config key: ${key}`);
  config[key] = typeof config[key] === 'number' ? Number(val) : typeof config[key] === 'boolean' ? val === 'true' : val;
  console.log(`Overriding: ${key} = ${val}`);
}
({ outDir, evalInterval, logInterval, evalIters, evalOnly, alwaysSaveCheckpoint, initFrom, gradientAccumulationSteps, batchSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, learningRate, maxIters, weightDecay, beta1, beta2, gradClip, decayLr, warmupIters, lrDecayIters, minLr, backend, device, compile } = config as typeof config & { outDir: string; evalInterval: number; logInterval: number; evalIters: number; evalOnly: boolean; alwaysSaveCheckpoint: boolean; initFrom: string; gradientAccumulationSteps: number; batchSize: number; blockSize: number; nLayer: number; nHead: number; nEmbd: number; dropout: number; bias: boolean; learningRate: number; maxIters: number; weightDecay: number; beta1: number; beta2: number; gradClip: number; decayLr: boolean; warmupIters: number; lrDecayIters: number; minLr: number; backend: string; device: string; compile: boolean });
// -----------------------------------------------------------------------------

// various inits, derived attributes, I/O setup
const ddp = Number(process.env['RANK'] ?? -1) !== -1; // is this a ddp run?
let masterProcess: boolean, seedOffset: number, ddpWorldSize: number;
if (ddp) {
  await initProcessGroup({ backend: backend as DistBackend });
  const ddpRank = Number(process.env['RANK']);
  ddpWorldSize = Number(process.env['WORLD_SIZE']);
  masterProcess = ddpRank === 0; // this process will do logging, checkpointing etc.
  seedOffset = ddpRank; // each process gets a different seed
  // worldSize number of processes will be training simultaneously, so we can scale
  // down the desired gradient accumulation iterations per process proportionally
  assert(gradientAccumulationSteps % ddpWorldSize === 0);
  gradientAccumulationSteps = Math.floor(gradientAccumulationSteps / ddpWorldSize);
} else {
  // if not ddp, we are running on a single gpu, and one process
  masterProcess = true;
  seedOffset = 0;
  ddpWorldSize = 1;
}
const tokensPerIter = gradientAccumulationSteps * ddpWorldSize * batchSize * blockSize;
console.log(`tokens per iteration will be: ${tokensPerIter}`);

if (masterProcess) mkdirSync(outDir, { recursive: true });
tsr.manualSeed(1337 + seedOffset);
if (device === 'webgpu') await tsr.initWebGPU();
const dev = device as tsr.DeviceKind;

// poor man's data loader: the characters of the text, 90% to train on, the rest to validate on
const text = readFileSync(new URL('../../text/sonnets.txt', import.meta.url), 'utf8');
const chars = [...new Set(text)].sort();
const stoi = new Map(chars.map((c, i) => [c, i]));
const encoded = Int32Array.from(text, (c) => stoi.get(c)!);
const n = Math.floor(0.9 * encoded.length);
const data = { train: encoded.subarray(0, n), val: encoded.subarray(n) };
function getBatch(split: 'train' | 'val'): [tsr.Tensor, tsr.Tensor] {
  const d = data[split];
  const ix = tsr.randint(0, d.length - blockSize, [batchSize]).tolistSync() as number[];
  const x = tsr.stack(ix.map((i) => tsr.tensor(Array.from(d.subarray(i, i + blockSize)), { dtype: 'int64' })));
  const y = tsr.stack(ix.map((i) => tsr.tensor(Array.from(d.subarray(i + 1, i + 1 + blockSize)), { dtype: 'int64' })));
  return [x.to(dev), y.to(dev)];
}

// init these up here, can override if initFrom='resume' (i.e. from a checkpoint)
let iterNum = 0;
let bestValLoss = 1e9;

// the vocab size of this dataset
const metaVocabSize = chars.length;
console.log(`found vocabSize = ${metaVocabSize}`);

// model init
const modelArgs: Partial<GPTConfig> = { nLayer, nHead, nEmbd, blockSize, bias, vocabSize: undefined, dropout }; // start with modelArgs from command line
let model: GPT | DDP<GPT>;
let checkpoint: { model: Record<string, tsr.Tensor>; optimizer: ReturnType<tsr.nn.AdamW['stateDict']>; modelArgs: Partial<GPTConfig>; iterNum: number; bestValLoss: number; config: Record<string, unknown> } | undefined;
if (initFrom === 'scratch') {
  // init a new model from scratch
  console.log('Initializing a new model from scratch');
  modelArgs.vocabSize = metaVocabSize;
  const gptconf = new GPTConfig(modelArgs);
  model = new GPT(gptconf);
} else if (initFrom === 'resume') {
  console.log(`Resuming training from ${outDir}`);
  // resume training from a checkpoint.
  const ckptPath = path.join(outDir, 'ckpt.safetensors');
  checkpoint = tsr.load<NonNullable<typeof checkpoint>>(ckptPath);
  const checkpointModelArgs = checkpoint.modelArgs;
  // force these config attributes to be equal otherwise we can't even resume training
  // the rest of the attributes (e.g. dropout) can stay as desired from command line
  for (const k of ['nLayer', 'nHead', 'nEmbd', 'blockSize', 'bias', 'vocabSize'] as const) {
    (modelArgs as Record<string, unknown>)[k] = checkpointModelArgs[k];
  }
  // create the model
  const gptconf = new GPTConfig(modelArgs);
  model = new GPT(gptconf);
  const stateDict = checkpoint.model;
  model.loadStateDict(stateDict);
  iterNum = checkpoint.iterNum;
  bestValLoss = checkpoint.bestValLoss;
} else {
  throw new Error(`initFrom must be 'scratch' or 'resume', got ${initFrom}`);
}
model.to(dev);

// optimizer
const optimizer = model.configureOptimizers(weightDecay, learningRate, [beta1, beta2], device);
if (initFrom === 'resume') optimizer.loadStateDict(checkpoint!.optimizer);
checkpoint = undefined; // free up memory

// compile the model
if (compile) {
  console.log('compiling the model...');
  model = tsr.compile(model);
}

// wrap model into DDP container
if (ddp) model = new DDP(model);

/** helps estimate an arbitrarily accurate loss over either split using many batches */
const estimateLoss = (): Promise<Record<'train' | 'val', number>> => tsr.noGrad(async () => {
  const out = { train: 0, val: 0 };
  model.eval();
  for (const split of ['train', 'val'] as const) {
    const losses = tsr.zeros(evalIters);
    for (let k = 0; k < evalIters; k++) {
      const [X, Y] = getBatch(split);
      const [, loss] = model.forward(X, Y);
      losses.indexPut_([k], await loss!.item() as number);
    }
    out[split] = await losses.mean().item() as number;
  }
  model.train();
  return out;
});

/** learning rate decay scheduler (cosine with warmup) */
function getLr(it: number): number {
  // 1) linear warmup for warmupIters steps
  if (it < warmupIters) return learningRate * (it + 1) / (warmupIters + 1);
  // 2) if it > lrDecayIters, return min learning rate
  if (it > lrDecayIters) return minLr;
  // 3) in between, use cosine decay down to min learning rate
  const decayRatio = (it - warmupIters) / (lrDecayIters - warmupIters);
  if (!(decayRatio >= 0 && decayRatio <= 1)) throw new Error('assert 0 <= decayRatio <= 1');
  const coeff = 0.5 * (1.0 + Math.cos(Math.PI * decayRatio)); // coeff ranges 0..1
  return minLr + coeff * (learningRate - minLr);
}

// training loop
let [X, Y] = getBatch('train'); // fetch the very first batch
let t0 = performance.now();
let localIterNum = 0; // number of iterations in the lifetime of this process
let runningMfu = -1.0;
const rawModel = model instanceof DDP ? model.module : model; // unwrap DDP container if needed
for (;;) {
  // determine and set the learning rate for this iteration
  const lr = decayLr ? getLr(iterNum) : learningRate;
  for (const paramGroup of optimizer.paramGroups) paramGroup.lr = lr;

  // evaluate the loss on train/val sets and write checkpoints
  if (iterNum % evalInterval === 0 && masterProcess) {
    const losses = await estimateLoss();
    console.log(`step ${iterNum}: train loss ${losses.train.toFixed(4)}, val loss ${losses.val.toFixed(4)}`);
    if (losses.val < bestValLoss || alwaysSaveCheckpoint) {
      bestValLoss = losses.val;
      if (iterNum > 0) {
        const ckpt = { model: rawModel.stateDict(), optimizer: optimizer.stateDict(), modelArgs, iterNum, bestValLoss, config };
        console.log(`saving checkpoint to ${outDir}`);
        tsr.save(ckpt, path.join(outDir, 'ckpt.safetensors'));
      }
    }
  }
  if (iterNum === 0 && evalOnly) break;

  // forward backward update, with optional gradient accumulation to simulate larger batch size
  let loss!: tsr.Tensor;
  for (let microStep = 0; microStep < gradientAccumulationSteps; microStep++) {
    if (ddp) {
      // in DDP training we only need to sync gradients at the last micro step.
      // the official way to do this is with model.noSync() context manager, but
      // I really dislike that this bloats the code and forces us to repeat code
      // looking at the source of that context manager, it just toggles this variable
      (model as DDP<GPT>).requireBackwardGradSync = (microStep === gradientAccumulationSteps - 1);
    }
    [, loss] = model.forward(X, Y) as [tsr.Tensor, tsr.Tensor];
    loss = loss.div(gradientAccumulationSteps); // scale the loss to account for gradient accumulation
    // immediately async prefetch next batch while model is doing the forward pass
    [X, Y] = getBatch('train');
    // backward pass
    loss.backward();
  }
  // clip the gradient
  if (gradClip !== 0.0) tsr.nn.clipGradNorm_(model.parameters(), gradClip);
  // step the optimizer
  optimizer.step();
  // flush the gradients as soon as we can, no need for this memory anymore
  optimizer.zeroGrad();

  // timing and logging
  const t1 = performance.now();
  const dt = t1 - t0;
  t0 = t1;
  if (iterNum % logInterval === 0 && masterProcess) {
    // get loss as float. note: this is a CPU-GPU sync point
    // scale up to undo the division above, approximating the true total loss (exact would have been a sum)
    const lossf = (await loss.item() as number) * gradientAccumulationSteps;
    if (localIterNum >= 5) { // let the training loop settle a bit
      const mfu = rawModel.estimateMfu(batchSize * gradientAccumulationSteps, dt / 1000);
      runningMfu = runningMfu === -1.0 ? mfu : 0.9 * runningMfu + 0.1 * mfu;
    }
    console.log(`iter ${iterNum}: loss ${lossf.toFixed(4)}, time ${dt.toFixed(2)}ms, mfu ${(runningMfu * 100).toFixed(2)}%`);
  }
  iterNum += 1;
  localIterNum += 1;

  // termination conditions
  if (iterNum > maxIters) break;
}

if (ddp) destroyProcessGroup();

// a sample from the trained model, with top-k sampling (upstream's sample.py)
if (masterProcess) {
  rawModel.eval();
  const start = tsr.tensor([[stoi.get('\n')!]], { dtype: 'int64', device: dev });
  const sample = rawModel.generate(start, 200, 0.8, 10);
  console.log((await sample.index(0).tolist() as number[]).map((i) => chars[i]).join(''));
}
