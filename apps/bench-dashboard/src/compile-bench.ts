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
 * The native rows and PyTorch's are timed in `--rounds` rounds (default 5), each round Tessera's rows
 * then PyTorch's, so both sides of a ratio are measured within a minute of each other on a shared
 * machine whose load drifts over minutes. A row's time is the median of its rounds' means, and its
 * ratio the median of the rounds' ratios (each against that round's best PyTorch row).
 *
 * Tessera is measured as a user installs it: its built packages (dist/, plain tsc output), which
 * the nx target builds first and runs this file against (`node --import tsx`, which resolves the
 * packages by their default exports). Under the `tsx` command the monorepo's `tessera-source`
 * condition loads their TypeScript sources instead, transformed by esbuild with names kept: a
 * `__name` call on every function a call creates, a few percent of a step's time here and more on
 * small steps than large ones; the output and results say which was measured (`tessera`).
 *
 *   npx nx run bench-dashboard:bench-compile [-- --seconds 2 --rounds 5 --webgpu --gpujs]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
const rounds = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 5;
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds takes a positive integer, not ${args[args.indexOf('--rounds') + 1]}`);

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

interface Row { workload: string; impl: string; meanUs: number; rme: number; rounds?: number[]; ratios?: number[]; launches?: number; firstCallMs?: number; loss?: number | undefined }
const rows: Row[] = [];
const notes: string[] = [];

/** A workload's eager and compiled steps on one backend, set up (and warmed) once, timed per round. */
interface Prepared { readonly w: Workload; readonly tag: string; readonly eager: Step; readonly compiled: Step; readonly sync: (t: tsr.Tensor) => Promise<unknown>; readonly device?: tsr.DeviceKind; readonly launches: [number, number]; readonly firstCallMs: number }

/** Builds, compiles and profiles `w`'s steps on the current backend (`tag` names it). */
async function prepare(w: Workload, tag: string, sync: (t: tsr.Tensor) => Promise<unknown>, device?: tsr.DeviceKind): Promise<Prepared> {
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
  return { w, tag, eager, compiled, sync, ...(device === undefined ? {} : { device }), launches: [le.launches, lc.launches], firstCallMs };
}

/** One round's times of a prepared workload: eager then compiled (alternating on a device; see time). */
async function timeRound(p: Prepared): Promise<[Timing, Timing]> {
  const [e, c] = await time([p.eager, p.compiled], p.sync, p.device !== undefined);
  return [e!, c!];
}

/** The median of `xs` (the mean of the middle two for an even count). */
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};

/** Which of `xs` lies nearest their median (the round whose ±% a row reports). */
const nearestMedian = (xs: readonly number[]): number => {
  const m = median(xs);
  return xs.reduce((best, x, i) => (Math.abs(x - m) < Math.abs(xs[best]! - m) ? i : best), 0);
};

/** Adds the eager and compiled rows of `p` from its rounds' timings (±%: the round nearest the median's). */
async function addRows(p: Prepared, timings: readonly [Timing, Timing][]): Promise<void> {
  for (const [j, impl, step] of [[0, p.tag, p.eager], [1, `${p.tag}-compiled`, p.compiled]] as const) {
    const ts = timings.map((t) => t[j]);
    const means = ts.map((t) => t.meanUs);
    const mid = ts[nearestMedian(means)]!;
    const out = step();
    const loss = out.numel === 1 ? Number(await out.item()) : undefined;
    rows.push({ workload: p.w.name, impl, meanUs: median(means), rme: mid.rme, ...(ts.length > 1 ? { rounds: means } : {}), launches: p.launches[j], ...(j === 1 ? { firstCallMs: p.firstCallMs } : {}), loss });
    console.error(`  ${p.w.name} ${impl}: ${(median(means) / 1000).toFixed(2)} ms (rounds: ${means.map((m) => (m / 1000).toFixed(2)).join(', ')}), ${p.launches[j]} launches`);
  }
}

/** A call at a batch size the step had not met: its time, its later calls' best, and fused launches interpreted meanwhile (kernels the size made anew). */
interface NewSize { readonly batch: number; readonly firstMs: number; readonly laterMs: number; readonly interpreted: number }

/**
 * The GPT step's first compiled call in fresh processes (no JS warmed by earlier workloads): with an
 * empty plan cache, then again in a second process that finds the first one's plans on disk. The
 * first process then also calls the step at new batch sizes (sizes are concrete: each is scheduled
 * anew, README "compile").
 */
function firstCallInFreshProcesses(): { scheduledMs: number; diskMs: number; plans: string[][]; newSizes: NewSize[] } {
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
    let ids = tsr.randint(0, GPT.vocab, [16, GPT.context]), target = tsr.randint(0, GPT.vocab, [16 * GPT.context]);
    const step = tsr.compile(() => { opt.zeroGrad(); const loss = nn.crossEntropy(model.forward(ids).reshape(-1, GPT.vocab), target); loss.backward(); opt.step(); return loss; });
    const t0 = performance.now();
    const r = tsr.explain(step);
    r.result.itemSync();
    const ms = performance.now() - t0;
    // Let the background C compile the call started finish, so it neither runs into the next process
    // nor is lost: the next process finds its libraries on disk, as a user's second run would.
    step();
    await native.compiler.settled();
    const newSizes = [];
    for (const batch of [9, 12, 5]) {
      ids = tsr.randint(0, GPT.vocab, [batch, GPT.context]); target = tsr.randint(0, GPT.vocab, [batch * GPT.context]);
      const before = native.compiler.launches.interpreted;
      const t1 = performance.now();
      step().itemSync();
      const firstMs = performance.now() - t1;
      let laterMs = Infinity;
      for (let i = 0; i < 5; i++) { const t2 = performance.now(); step().itemSync(); laterMs = Math.min(laterMs, performance.now() - t2); }
      newSizes.push({ batch, firstMs, laterMs, interpreted: native.compiler.launches.interpreted - before });
      await native.compiler.settled();
    }
    process.stdout.write(JSON.stringify({ ms, plans: r.programs.map((p) => p.plan), newSizes }));
  `;
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  const run = () => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, TESSERA_CACHE_DIR: cache } })) as { ms: number; plans: string[]; newSizes: NewSize[] };
  try {
    const cold = run(), warm = run();
    return { scheduledMs: cold.ms, diskMs: warm.ms, plans: [cold.plans, warm.plans], newSizes: cold.newSizes };
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

/**
 * Which Tessera this process runs: 'dist' (the built packages, as installed), or 'src' (TypeScript
 * sources through tsx). Built packages older than a source file are refused: they would measure
 * code that is not the commit's.
 */
function whichTessera(): 'dist' | 'src' {
  const entry = fileURLToPath(import.meta.resolve('tessera'));
  if (!entry.includes(`${path.sep}dist${path.sep}`)) return 'src';
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  const newest = (dir: string): number => readdirSync(dir, { withFileTypes: true })
    .reduce((t, e) => Math.max(t, e.isDirectory() ? newest(path.join(dir, e.name)) : e.name.endsWith('.ts') ? statSync(path.join(dir, e.name)).mtimeMs : 0), 0);
  for (const lib of readdirSync(path.join(root, 'libs'))) {
    const built = path.join(root, 'libs', lib, 'dist', '.tsbuildinfo');
    if (existsSync(built) && newest(path.join(root, 'libs', lib, 'src')) > statSync(built).mtimeMs) {
      throw new Error(`libs/${lib}/dist is older than its sources: run npm run build (or the nx target, which builds first)`);
    }
  }
  return 'dist';
}

// A cache of this run's own (plans, compiled C), so first calls and compile times are cold ones.
const runCache = mkdtempSync(path.join(tmpdir(), 'tessera-bench-cache-'));
process.env['TESSERA_CACHE_DIR'] = runCache;
process.once('exit', () => rmSync(runCache, { recursive: true, force: true }));

const machine = machineInfo();
const measured = whichTessera();
console.log(`Tessera compile benchmark: ${machine.cpus} x${machine.cores}, node ${machine.node}${machine.simd ? `, native SIMD ${machine.simd}` : ''}, commit ${gitCommit()}, tessera ${measured}`);
const workloads = [block(), gpt(), cnn()];
const native = createNativeBackend();
if (typeof native === 'string') notes.push(`tessera-native skipped: ${native}`);
const prepared = typeof native === 'string' ? [] : await withBackend(native, async () => {
  const out: Prepared[] = [];
  for (const w of workloads) out.push(await prepare(w, 'tessera-native', async (t) => t));
  return out;
});

// Rounds: Tessera's native rows, then PyTorch's, `rounds` times.
const nativeTimings = prepared.map((): [Timing, Timing][] => []);
const torchRounds: ReturnType<typeof runTorchCompilePeers>[] = [];
const peers = new Map(workloads.map((w) => [w.name, { suite: 'train-step' as const, size: 0, params: w.params }]));
for (let r = 0; r < rounds; r++) {
  console.error(`round ${r + 1} of ${rounds}`);
  if (typeof native !== 'string') {
    await withBackend(native, async () => { for (const [i, p] of prepared.entries()) nativeTimings[i]!.push(await timeRound(p)); });
  }
  torchRounds.push(runTorchCompilePeers(peers, seconds));
}
for (const [i, p] of prepared.entries()) await withBackend(native as tsr.Backend, () => addRows(p, nativeTimings[i]!));
// PyTorch's rows: per impl and case, the median of its rounds (a row every round had, or none).
const torchRows = new Map<string, { case: string; impl: string; means: number[]; rmes: number[] }>();
for (const run of torchRounds) {
  for (const r of run.results) {
    const key = `${r.case} ${r.impl}`;
    const row = torchRows.get(key) ?? { case: r.case, impl: r.impl, means: [], rmes: [] };
    row.means.push(r.meanUs); row.rmes.push(r.rme);
    torchRows.set(key, row);
  }
}
for (const r of torchRows.values()) {
  const m = median(r.means);
  rows.push({ workload: r.case, impl: r.impl, meanUs: m, rme: r.rmes[nearestMedian(r.means)]!, ...(r.means.length > 1 ? { rounds: r.means } : {}) });
}
notes.push(...new Set(torchRounds.flatMap((t) => t.notes)));
// Each native row's ratio per round: that round's best PyTorch time for the workload over the row's.
for (const [i, p] of prepared.entries()) {
  for (const [j, impl] of [[0, p.tag], [1, `${p.tag}-compiled`]] as const) {
    const row = rows.find((x) => x.workload === p.w.name && x.impl === impl)!;
    const ratios = nativeTimings[i]!.flatMap((t, r) => {
      const best = torchRounds[r]!.results.filter((x) => x.case === p.w.name).map((x) => x.meanUs);
      return best.length ? [Math.min(...best) / t[j].meanUs] : [];
    });
    if (ratios.length) row.ratios = ratios;
  }
}

const fresh = typeof native === 'string' ? undefined : firstCallInFreshProcesses();
if (fresh) {
  notes.push(`GPT step, first compiled call in a fresh process (native): ${fresh.scheduledMs.toFixed(0)} ms with an empty plan cache (plans: ${fresh.plans[0]!.join(', ')}), ${fresh.diskMs.toFixed(0)} ms in a second process (plans: ${fresh.plans[1]!.join(', ')})`);
  for (const n of fresh.newSizes) {
    notes.push(`GPT step at a new batch size ${n.batch} (scheduled anew): first call ${n.firstMs.toFixed(1)} ms, later calls ${n.laterMs.toFixed(1)} ms (best of 5), ${n.interpreted} fused launches interpreted meanwhile (0: no kernel made anew)`);
  }
}

// Devices: one round (a gpu.js step takes seconds), no PyTorch peer on this machine.
for (const [flag, tag, device, init] of [[withWebgpu, 'tessera-webgpu', 'webgpu', () => tsr.initWebGPU()], [withGpujs, 'tessera-gpujs', 'gpujs', () => tsr.initGpuJs({ mode: 'headlessgl' })]] as const) {
  if (!flag) continue;
  await init();
  const p = await prepare(gpt(), tag, (t) => t.data(), device);
  await addRows(p, [await timeRound(p)]);
}

// Ratios: PyTorch's time over Tessera's (above 1: Tessera is faster). Native rows: the median of
// the rounds' ratios (each round against its best PyTorch row); other rows: against the best
// PyTorch row's median.
console.log(`\n| workload | impl | ms/call | ±% | launches/call | first call ms | vs PyTorch eager | rounds' ratios |\n|---|---|---|---|---|---|---|---|`);
for (const w of workloads) {
  const peers = rows.filter((r) => r.workload === w.name && r.impl.startsWith('pytorch'));
  const best = peers.length ? Math.min(...peers.map((r) => r.meanUs)) : undefined;
  for (const r of rows.filter((x) => x.workload === w.name)) {
    const ratio = r.ratios ? median(r.ratios) : best !== undefined && !r.impl.startsWith('pytorch') ? best / r.meanUs : undefined;
    const spread = r.ratios ? r.ratios.map((x) => x.toFixed(2)).join(', ') : '';
    console.log(`| ${w.name} | ${r.impl} | ${(r.meanUs / 1000).toFixed(2)} | ${r.rme.toFixed(1)} | ${r.launches ?? ''} | ${r.firstCallMs?.toFixed(0) ?? ''} | ${ratio === undefined ? '' : `${ratio.toFixed(2)}x`} | ${spread} |`);
  }
}
if (notes.length) console.log(`\n${notes.join('\n')}`);
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results/compile');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${new Date().toISOString().replace(/:/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ machine, commit: gitCommit(), tessera: measured, seconds, rounds, rows, firstCall: fresh, notes }, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
process.exit(0);
