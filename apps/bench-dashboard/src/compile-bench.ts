/**
 * compile against eager, and both against PyTorch eager measured in the same run (Debian's PyTorch
 * 1.13 has no torch.compile):
 *   block  bias + tanh-GELU + residual + layerNorm on [16, 512, 256] float32, forward and backward
 *   gpt    a small-GPT training step (2 layers, 4 heads, width 64, context 64, batch 16; AdamW)
 *   cnn    a digits-CNN training step (batch 32, dropout off; AdamW)
 * on tessera-native, plus (--webgpu, --gpujs) the GPT step on webgpu and on gpu.js's headlessgl
 * mode, where the figures are launches and wall time per step (a smoke figure on lavapipe and Mesa's
 * software GL). Each Tessera row reports launches per call (profile) and the first compiled call's
 * time; the results go to results/compile/<timestamp>.json.
 *
 *   npx nx run bench-dashboard:bench-compile [-- --seconds 2 --webgpu --gpujs]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tsr from 'tessera';
import { type NativeBackend, createNativeBackend } from '@tessera/kernels-native';
import { Gpt } from '../../../examples/src/gpt-model.js';
import { makeModel as makeDigitsCnn } from '../../../examples/src/train-digits.js';
import { runTorchCompilePeers } from './pytorch.js';
import { gitCommit, machineInfo, withBackend } from './suites.js';

const { nn } = tsr;
const args = process.argv.slice(2);
const seconds = args.includes('--seconds') ? Number(args[args.indexOf('--seconds') + 1]) : 2;
const withWebgpu = args.includes('--webgpu');
const withGpujs = args.includes('--gpujs');

type Step = () => tsr.Tensor;
interface Workload { readonly name: string; readonly params: number; readonly make: (device?: tsr.DeviceKind) => Step }

/** The block: y = layerNorm(x + geluTanh(x + bias)), then y.backward(g) into x, bias and the norm's weights. */
function block(): Workload {
  const [n, t, d] = [16, 512, 256];
  return {
    name: 'block', params: 3 * d,
    make: () => {
      tsr.manualSeed(0);
      const x = tsr.randn([n, t, d], { requiresGrad: true }), bias = tsr.zeros([d], { requiresGrad: true });
      const ln = new nn.LayerNorm(d), g = tsr.randn([n, t, d]);
      const leaves = [x, bias, ...ln.parameters()];
      return () => {
        for (const p of leaves) p.grad = undefined;
        const y = ln.forward(x.add(x.add(bias).gelu({ approximate: 'tanh' })));
        y.backward(g);
        return y;
      };
    },
  };
}

const GPT = { vocab: 65, context: 64, dim: 64, heads: 4, layers: 2 };
function gpt(): Workload {
  return {
    name: 'gpt', params: tsr.noGrad(() => new Gpt(GPT).parameters().reduce((s, p) => s + p.numel, 0)),
    make: (device = 'cpu') => {
      tsr.manualSeed(0);
      const model = new Gpt(GPT);
      model.to(device);
      const opt = new nn.AdamW(model.parameters(), { lr: 1e-3 });
      const ids = tsr.randint(0, GPT.vocab, [16, GPT.context]).to(device), target = tsr.randint(0, GPT.vocab, [16 * GPT.context]).to(device);
      return () => {
        opt.zeroGrad();
        const loss = nn.crossEntropy(model.forward(ids).reshape(-1, GPT.vocab), target);
        loss.backward();
        opt.step();
        return loss;
      };
    },
  };
}

function cnn(): Workload {
  return {
    name: 'cnn', params: makeDigitsCnn().parameters().reduce((s, p) => s + p.numel, 0),
    make: () => {
      tsr.manualSeed(0);
      const model = makeDigitsCnn();
      model.eval(); // dropout off: both modes then compute the same step
      const opt = new nn.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 1e-4 });
      const x = tsr.randn([32, 1, 8, 8]), y = tsr.randint(0, 10, [32]);
      return () => {
        opt.zeroGrad();
        const loss = nn.crossEntropy(model.forward(x), y);
        loss.backward();
        opt.step();
        return loss;
      };
    },
  };
}

interface Timing { meanUs: number; rme: number; samples: number }

/**
 * Mean time per call of each step over about `seconds` each (samples of k calls, as
 * torch_compile_peers.py times), after a warm-up. With `alternate` the steps' samples alternate, so
 * a machine that slows down or speeds up meanwhile (shared, noisy) does so for both; without, each
 * step is timed alone, in its steady state as PyTorch's rows are (on the CPU, alternating two
 * models' steps evicts each one's working set from the caches: the compiled GPT step measured 21
 * ms alone and 29 ms alternating).
 */
async function time(steps: readonly Step[], sync: (t: tsr.Tensor) => Promise<unknown>, alternate: boolean): Promise<Timing[]> {
  if (!alternate && steps.length > 1) {
    const out: Timing[] = [];
    for (const step of steps) out.push(...await time([step], sync, true));
    return out;
  }
  const ks: number[] = [];
  for (const step of steps) {
    for (let i = 0; i < 3; i++) await sync(step());
    const t0 = performance.now();
    let warm = 0;
    while (warm < 1 || performance.now() - t0 < 100 * seconds) { await sync(step()); warm++; }
    const per = (performance.now() - t0) / warm;
    ks.push(Math.max(1, Math.round((seconds * 1000) / 30 / per)));
  }
  const means: number[][] = steps.map(() => []);
  const end = performance.now() + seconds * 1000 * steps.length;
  while (means[0]!.length < 5 || performance.now() < end) {
    for (const [j, step] of steps.entries()) {
      const t = performance.now();
      let last: tsr.Tensor | undefined;
      for (let i = 0; i < ks[j]!; i++) last = step();
      await sync(last!);
      means[j]!.push(((performance.now() - t) * 1000) / ks[j]!);
    }
  }
  return means.map((m) => {
    const mean = m.reduce((a, b) => a + b, 0) / m.length;
    const sd = Math.sqrt(m.reduce((a, b) => a + (b - mean) ** 2, 0) / (m.length - 1));
    return { meanUs: mean, rme: ((1.96 * sd) / Math.sqrt(m.length) / mean) * 100, samples: m.length };
  });
}

interface Row { workload: string; impl: string; meanUs: number; rme: number; launches?: number; firstCallMs?: number; loss?: number | undefined }
const rows: Row[] = [];
const notes: string[] = [];

/**
 * Eager and compiled rows of one workload on the current backend (`tag` names it); on a device
 * (`device` given) their samples alternate (see time).
 */
async function measure(w: Workload, tag: string, sync: (t: tsr.Tensor) => Promise<unknown>, device?: tsr.DeviceKind): Promise<void> {
  const eager = w.make(device);
  const compiled = tsr.compile(w.make(device));
  const t0 = performance.now();
  await sync(compiled());
  const firstCallMs = performance.now() - t0;
  // The native backend compiles fused kernels to C in the background once a step repeats (cc.ts):
  // time the steady state, after that, and say how long it took.
  const backend = tsr.getBackend(device ?? 'cpu') as Partial<NativeBackend>;
  if (backend.compiler) {
    const t1 = performance.now();
    await sync(compiled());
    await backend.compiler.settled();
    const off = backend.compiler.unavailable();
    notes.push(`${w.name} ${tag}: ${off ? `fused kernels interpreted (${off})` : `fused kernels compiled to C in ${(performance.now() - t1).toFixed(0)} ms, in the background from the second call`}`);
  }
  await sync(eager());
  const le = tsr.profile(eager), lc = tsr.profile(compiled);
  await sync(le.result); await sync(lc.result);
  const timings = await time([eager, compiled], sync, device !== undefined);
  for (const [impl, step, launches, first, t] of [[`${tag}`, eager, le.launches, undefined, timings[0]!], [`${tag}-compiled`, compiled, lc.launches, firstCallMs, timings[1]!]] as const) {
    const out = step();
    const loss = out.numel === 1 ? Number(await out.item()) : undefined;
    rows.push({ workload: w.name, impl, meanUs: t.meanUs, rme: t.rme, launches, ...(first === undefined ? {} : { firstCallMs: first }), loss });
    console.error(`  ${w.name} ${impl}: ${(t.meanUs / 1000).toFixed(2)} ms ±${t.rme.toFixed(1)}%, ${launches} launches`);
  }
}

/**
 * The GPT step's first compiled call in fresh processes (no JS warmed by earlier workloads): with an
 * empty plan cache, then again in a second process that finds the first one's plans on disk.
 */
function firstCallInFreshProcesses(): { scheduledMs: number; diskMs: number; plans: string[][] } {
  const cache = mkdtempSync(path.join(tmpdir(), 'tessera-bench-plans-'));
  const script = `
    import * as tsr from 'tessera';
    import { createNativeBackend } from '@tessera/kernels-native';
    import { Gpt } from './examples/src/gpt-model.js';
    const { nn } = tsr;
    const native = createNativeBackend();
    if (typeof native === 'string') throw new Error(native);
    tsr.registerBackend(native);
    const GPT = ${JSON.stringify(GPT)};
    tsr.manualSeed(0);
    const model = new Gpt(GPT), opt = new nn.AdamW(model.parameters(), { lr: 1e-3 });
    const ids = tsr.randint(0, GPT.vocab, [16, GPT.context]), target = tsr.randint(0, GPT.vocab, [16 * GPT.context]);
    const step = tsr.compile(() => { opt.zeroGrad(); const loss = nn.crossEntropy(model.forward(ids).reshape(-1, GPT.vocab), target); loss.backward(); opt.step(); return loss; });
    const t0 = performance.now();
    const r = tsr.explain(step);
    r.result.itemSync();
    const ms = performance.now() - t0;
    // Let the background C compile the call started finish, so it neither runs into the next process
    // nor is lost: the next process finds its libraries on disk, as a user's second run would.
    step();
    await native.compiler.settled();
    process.stdout.write(JSON.stringify({ ms, plans: r.programs.map((p) => p.plan) }));
  `;
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  const run = () => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, TESSERA_CACHE_DIR: cache } })) as { ms: number; plans: string[] };
  try {
    const cold = run(), warm = run();
    return { scheduledMs: cold.ms, diskMs: warm.ms, plans: [cold.plans, warm.plans] };
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

// A cache of this run's own (plans, compiled C), so first calls and compile times are cold ones.
const runCache = mkdtempSync(path.join(tmpdir(), 'tessera-bench-cache-'));
process.env['TESSERA_CACHE_DIR'] = runCache;
process.once('exit', () => rmSync(runCache, { recursive: true, force: true }));

const machine = machineInfo();
console.log(`Tessera compile benchmark: ${machine.cpus} x${machine.cores}, node ${machine.node}${machine.simd ? `, native SIMD ${machine.simd}` : ''}, commit ${gitCommit()}`);
const workloads = [block(), gpt(), cnn()];
const native = createNativeBackend();
if (typeof native === 'string') notes.push(`tessera-native skipped: ${native}`);
else await withBackend(native, async () => { for (const w of workloads) await measure(w, 'tessera-native', async (t) => t); });

const fresh = typeof native === 'string' ? undefined : firstCallInFreshProcesses();
if (fresh) {
  notes.push(`GPT step, first compiled call in a fresh process (native): ${fresh.scheduledMs.toFixed(0)} ms with an empty plan cache (plans: ${fresh.plans[0]!.join(', ')}), ${fresh.diskMs.toFixed(0)} ms in a second process (plans: ${fresh.plans[1]!.join(', ')})`);
}

if (withWebgpu) {
  await tsr.initWebGPU();
  await measure(gpt(), 'tessera-webgpu', (t) => t.data(), 'webgpu');
}
if (withGpujs) {
  await tsr.initGpuJs({ mode: 'headlessgl' });
  await measure(gpt(), 'tessera-gpujs', (t) => t.data(), 'gpujs');
}

const torch = runTorchCompilePeers(new Map(workloads.map((w) => [w.name, { suite: 'train-step' as const, size: 0, params: w.params }])), seconds);
for (const r of torch.results) rows.push({ workload: r.case, impl: r.impl, meanUs: r.meanUs, rme: r.rme });
notes.push(...torch.notes);

// Ratios: PyTorch's time over Tessera's (above 1: Tessera is faster), against the best PyTorch row of each workload.
console.log(`\n| workload | impl | ms/call | ±% | launches/call | first call ms | vs PyTorch eager |\n|---|---|---|---|---|---|---|`);
for (const w of workloads) {
  const peers = rows.filter((r) => r.workload === w.name && r.impl.startsWith('pytorch'));
  const best = peers.length ? Math.min(...peers.map((r) => r.meanUs)) : undefined;
  for (const r of rows.filter((x) => x.workload === w.name)) {
    const ratio = best !== undefined && !r.impl.startsWith('pytorch') ? `${(best / r.meanUs).toFixed(2)}x` : '';
    console.log(`| ${w.name} | ${r.impl} | ${(r.meanUs / 1000).toFixed(2)} | ${r.rme.toFixed(1)} | ${r.launches ?? ''} | ${r.firstCallMs?.toFixed(0) ?? ''} | ${ratio} |`);
  }
}
if (notes.length) console.log(`\n${notes.join('\n')}`);
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results/compile');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${new Date().toISOString().replace(/:/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ machine, commit: gitCommit(), seconds, rows, firstCall: fresh, notes }, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
process.exit(0);
