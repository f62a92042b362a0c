/**
 * Runs the differential fuzzer on one backend: generates calls, asks PyTorch, runs them on Tessera in
 * a child process watched for crashes and hangs, judges each pair, and tallies the classes.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Call, Outcome } from './call.js';
import { type Caps, generate } from './gen.js';
import { TorchOracle } from './torch.js';
import { type Verdict, judge } from './verdict.js';

export const BACKENDS = ['js', 'native', 'webgpu', 'gpujs'] as const;
export type FuzzBackend = (typeof BACKENDS)[number];

/** The dtypes each backend holds (the generator draws only those; the others are refused by design). */
export const CAPS: Readonly<Record<FuzzBackend, Caps>> = {
  js: { dtypes: ['float32', 'float64', 'float16', 'int32', 'int64', 'uint8', 'bool'], int64Bits: 64 },
  native: { dtypes: ['float32', 'float64', 'float16', 'int32', 'int64', 'uint8', 'bool'], int64Bits: 64 },
  webgpu: { dtypes: ['float32', 'float16', 'int32', 'uint8', 'bool'], int64Bits: 32 },
  gpujs: { dtypes: ['float32', 'int32', 'uint8', 'bool'], int64Bits: 32 },
};

export interface FuzzOptions {
  readonly backend: FuzzBackend;
  readonly calls: number;
  readonly seed: number;
  /** Calls per round trip to both sides. */
  readonly chunk?: number;
  /** A call that runs longer than this is a hang (the child is killed and restarted). */
  readonly hangMs?: number;
  readonly onProgress?: (done: number) => void;
}

export interface ClassCount { count: number; example: { id: number; detail: string } }
export interface FuzzReport {
  readonly backend: FuzzBackend;
  readonly seed: number;
  readonly calls: number;
  readonly seconds: number;
  /** Calls per verdict kind. */
  readonly counts: Record<Verdict['kind'], number>;
  /** Per verdict kind (all but agree), the classes with their counts and one example call. */
  readonly classes: Record<string, Record<string, ClassCount>>;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

/** The Tessera child: runs calls, reports each start and outcome; dies alone when a call crashes it. */
class TesseraChild {
  private proc!: ChildProcess;
  private ready!: Promise<void>;
  private onMessage: ((m: { start?: number; id?: number; outcome?: Outcome }) => void) | undefined;
  private onExit: ((code: number | null, signal: string | null) => void) | undefined;

  constructor(private readonly backend: FuzzBackend) { this.spawn(); }

  private spawn(): void {
    this.proc = fork(CHILD, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, FUZZ_BACKEND: this.backend }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    this.proc.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    this.ready = new Promise((resolve, reject) => {
      const first = (m: { ready?: boolean }) => { if (m.ready) { this.proc.off('message', first); resolve(); } };
      this.proc.on('message', first);
      this.proc.once('exit', (code) => reject(new Error(`the ${this.backend} fuzz child exited (${code}) before it was ready: ${stderr}`)));
    });
    this.proc.on('message', (m) => this.onMessage?.(m as never));
    this.proc.on('exit', (code, signal) => this.onExit?.(code, signal));
  }

  restart(): void {
    this.onMessage = undefined;
    this.onExit = undefined;
    this.proc.removeAllListeners('exit');
    this.proc.kill('SIGKILL');
    this.spawn();
  }

  /**
   * Runs `calls`; resolves with an outcome per call, where a call that killed the child or ran past
   * hangMs gets a 'crash' or 'hang' verdict instead (the child is restarted after it).
   */
  async run(calls: readonly Call[], hangMs: number): Promise<(Outcome | { harness: 'crash' | 'hang'; detail: string })[]> {
    const results: (Outcome | { harness: 'crash' | 'hang'; detail: string })[] = [];
    let rest = calls.slice();
    while (rest.length) {
      await this.ready;
      const batch = rest;
      const got = await new Promise<{ done: Outcome[]; failed?: { harness: 'crash' | 'hang'; detail: string } }>((resolve) => {
        const done: Outcome[] = [];
        let timer: NodeJS.Timeout | undefined;
        const arm = () => { clearTimeout(timer); timer = setTimeout(() => finish({ harness: 'hang', detail: `no answer within ${hangMs} ms` }), hangMs); };
        const finish = (failed?: { harness: 'crash' | 'hang'; detail: string }) => { clearTimeout(timer); this.onMessage = undefined; this.onExit = undefined; resolve({ done, failed }); };
        this.onMessage = (m) => {
          if (m.outcome) { done.push(m.outcome); if (done.length === batch.length) finish(); else arm(); } else arm();
        };
        this.onExit = (code, signal) => finish({ harness: 'crash', detail: `the process exited (code ${code}, signal ${signal})` });
        arm();
        this.proc.send({ calls: batch });
      });
      results.push(...got.done);
      rest = batch.slice(got.done.length);
      if (got.failed) {
        results.push(got.failed);
        rest = rest.slice(1);
        this.restart();
      }
    }
    return results;
  }

  close(): void { this.proc.kill(); }
}

export async function fuzz(opt: FuzzOptions): Promise<FuzzReport> {
  const t0 = performance.now();
  const chunk = opt.chunk ?? 250, hangMs = opt.hangMs ?? 30_000;
  const counts = Object.fromEntries(['agree', 'documented', 'unsupported', 'torch cannot', 'setup', 'tessera raises', 'torch raises', 'value', 'untyped', 'half-write', 'crash', 'hang'].map((k) => [k, 0])) as FuzzReport['counts'];
  const classes: FuzzReport['classes'] = {};
  const torch = new TorchOracle();
  const child = new TesseraChild(opt.backend);
  try {
    for (let from = 0; from < opt.calls; from += chunk) {
      const calls = generate(opt.seed, from, Math.min(chunk, opt.calls - from), CAPS[opt.backend]);
      const [theirs, ours] = await Promise.all([torch.run(calls), child.run(calls, hangMs)]);
      calls.forEach((call, i) => {
        const o = ours[i]!;
        const v: Verdict = 'harness' in o ? { kind: o.harness, cls: `${call.family}/${call.op}`, detail: o.detail } : judge(call, o, theirs[i]!);
        counts[v.kind]++;
        if (v.kind === 'agree') return;
        const byKind = (classes[v.kind] ??= {});
        const c = (byKind[v.cls] ??= { count: 0, example: { id: call.id, detail: 'detail' in v ? v.detail : '' } });
        c.count++;
      });
      opt.onProgress?.(from + calls.length);
    }
  } finally {
    torch.close();
    child.close();
  }
  return { backend: opt.backend, seed: opt.seed, calls: opt.calls, seconds: (performance.now() - t0) / 1000, counts, classes };
}

/** Calls that count against the bar: raise-or-return disagreements (value mismatches are listed apart). */
export const disagreements = (r: FuzzReport): number => r.counts['tessera raises'] + r.counts['torch raises'];

/** The report as Markdown: the counts row, then every non-agreeing class with its count and an example call id. */
export function markdown(reports: readonly FuzzReport[]): string {
  const head = '| backend | calls | crashes | hangs | non-typed throws | half-writes | raise-or-return disagreements | value mismatches | documented differences | unsupported on the backend | torch 1.13 has no kernel | seconds |';
  const rows = reports.map((r) => {
    const c = r.counts, pct = (n: number) => `${n} (${((100 * n) / r.calls).toFixed(3)}%)`;
    return `| ${r.backend} | ${r.calls} | ${c.crash} | ${c.hang} | ${c.untyped} | ${c['half-write']} | ${pct(disagreements(r))} | ${pct(c.value)} | ${c.documented} | ${c.unsupported} | ${c['torch cannot']} | ${r.seconds.toFixed(0)} |`;
  });
  const lists = reports.flatMap((r) => Object.entries(r.classes).flatMap(([kind, cls]) => [
    '', `### ${r.backend}: ${kind}`, '',
    ...Object.entries(cls).sort((a, b) => b[1].count - a[1].count).map(([name, c]) => `- ${c.count} x ${name} (e.g. call ${c.example.id}${c.example.detail ? `: ${c.example.detail.slice(0, 160)}` : ''})`),
  ]));
  return [head, '|---|---|---|---|---|---|---|---|---|---|---|---|', ...rows, ...lists].join('\n');
}
