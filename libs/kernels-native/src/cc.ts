/**
 * Fused kernels compiled to machine code by the system C compiler, where there is one (Inductor's
 * approach; the interpreter, interp.ts, is the fallback and what runs until the code is ready).
 *
 * Each fused kernel's bytecode is written out as a C function over one tile of a launch: the same
 * instructions, in the same float type, with the same functions (the straight-line exp, tanh and erf
 * of rust/math.rs, libm's for the rest) and no contraction into FMAs, so it computes what the
 * interpreter computes, bit for bit, but keeps its values in vector registers rather than passing
 * each through a block of memory. A function is made for its views' dtypes and the steps of their
 * last dim (0, 1, or any): its signature, checked by the addon at every launch (rust/cc.rs).
 *
 * Kernels met for the first time are queued; the queue is compiled as one batch (split across the
 * CPU's cores) when a queued kernel comes round again, as the second call of a compiled step does,
 * or when the event loop next turns. By default (TESSERA_CC unset) the compiler runs in the
 * background and launches keep interpreting until its library appears on disk; TESSERA_CC=wait
 * compiles in the foreground, TESSERA_CC=off never compiles. The compiler is $CC, else `cc`.
 * Libraries are cached on disk under Tessera's cache directory by a hash of their code, the
 * compiler's identity and the flags (-march=native makes them specific to this CPU), so a second
 * process loads them instead of compiling; past 256 libraries the oldest are removed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { cacheRoot } from '@tessera/tensor';
import { type Bytecode, OP } from './interp.js';

/** The addon's entry points for compiled kernels (rust/cc.rs). */
export interface CcAddon {
  ccLoad(path: string, symbols: string[], signatures: string[]): number[];
}

/**
 * libm functions the interpreter calls at run time. The compiler must call them too rather than fold
 * them into constants, which it rounds correctly where glibc may be an ulp off (expm1f(1)).
 */
const LIBM = ['exp', 'log', 'log1p', 'expm1', 'sin', 'cos', 'tanh', 'erf', 'pow', 'atan2', 'fmod'];
/** Flags every library is built with; part of the cache key. No FMA contraction: the interpreter makes none. */
const FLAGS = ['-O3', '-march=native', '-fPIC', '-shared', '-fno-math-errno', '-fno-trapping-math', '-ffp-contract=off', '-std=c11', '-w',
  ...LIBM.flatMap((f) => [`-fno-builtin-${f}`, `-fno-builtin-${f}f`])];
/** Values of a tile's row computed before they are stored: enough for full vectors, few enough for L1. */
const CHUNK = 256;

// ---------------------------------------------------------------- C from bytecode

/** The functions of rust/math.rs, transcribed operation for operation (same order, same constants). */
const PRELUDE = `#include <math.h>
#include <stdint.h>
#include <string.h>
static inline uint32_t tsr_bits32(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float tsr_float(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
static inline uint64_t tsr_bits64(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double tsr_double(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }
static inline float tsr_exp_f32(float x) {
  const float LOG2E = 1.44269504088896340736f, LN2_HI = 0.6933594f, LN2_LO = -2.1219444e-4f, ROUND = 12582912.0f;
  x = x < -104.0f ? -104.0f : x;
  x = x > 89.0f ? 89.0f : x;
  float shifted = x * LOG2E + ROUND;
  float n = shifted - ROUND;
  float r = x - n * LN2_HI - n * LN2_LO;
  float r2 = r * r;
  float a = 1.6666665e-1f * r + 5.0000001e-1f;
  float b = 8.333452e-3f * r + 4.1665796e-2f;
  float c = 1.9875691e-4f * r + 1.3981999e-3f;
  float er = (a + r2 * (b + r2 * c)) * r2 + r + 1.0f;
  int32_t ni = (int32_t)(tsr_bits32(shifted) - tsr_bits32(ROUND));
  int32_t h = ni >> 1;
  return er * tsr_float(((uint32_t)h + 127u) << 23) * tsr_float(((uint32_t)(ni - h) + 127u) << 23);
}
static inline float tsr_tanh_f32(float x) {
  float a = fabsf(x);
  float z = x * x;
  float small = ((((-5.7049887e-3f * z + 2.0639089e-2f) * z - 5.3739716e-2f) * z + 1.3331442e-1f) * z - 3.3333282e-1f) * z * a + a;
  float large = 1.0f - 2.0f / (tsr_exp_f32(2.0f * a) + 1.0f);
  return copysignf(a < 0.625f ? small : large, x);
}
static inline float tsr_erf_f32(float x) {
  float a = fabsf(x);
  a = a < 4.0f ? a : 4.0f;
  float s = a * a;
  float small = a + a * ${hornerF32([0.12837917, -0.37612626, 0.112835854, -0.026853811, 0.0051883277, -0.0008010192, 7.8538564e-05], 's')};
  float large = 1.0f - ${hornerF32([0.21080759, -0.11152107, 0.056000214, -0.027542455, 0.011904921, -0.0038831949, 0.007860387, 0.004960411, 0.003024141], '((a - 2.5f) * 0.6666667f)')} * tsr_exp_f32(-s);
  float r = a < 1.0f ? small : large;
  return x != x ? x : copysignf(r, x);
}
static inline float tsr_maxf(float a, float b) { return a != a ? a : b != b ? b : a > b ? a : b; }
static inline float tsr_minf(float a, float b) { return a != a ? a : b != b ? b : a < b ? a : b; }
static inline double tsr_max(double a, double b) { return a != a ? a : b != b ? b : a > b ? a : b; }
static inline double tsr_min(double a, double b) { return a != a ? a : b != b ? b : a < b ? a : b; }
`;

/** Horner's rule in float as rust/math.rs folds it: acc = 0, then acc * t + c from the last coefficient to the first. */
function hornerF32(c: readonly number[], t: string): string {
  let acc = '0.0f';
  for (let i = c.length - 1; i >= 0; i--) acc = `(${acc} * ${t} + ${lit(Math.fround(c[i]!))}f)`;
  return acc;
}

/** A double literal that reads back as exactly `v`. */
function lit(v: number): string {
  if (Number.isNaN(v)) return 'NAN';
  if (!Number.isFinite(v)) return v > 0 ? 'INFINITY' : '-INFINITY';
  if (Object.is(v, -0)) return '-0.0';
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** What a compiled function assumes of one view: its dtype code (interp.ts DTYPE_CODE) and its last dim's step. */
export interface ViewShape { readonly dtype: number; readonly step: 0 | 1 | '*' }

/** "f1,d0,b*": the signature rust/cc.rs checks launches against (dtype letters in DTYPE_CODE's order). */
export const signatureOf = (views: readonly ViewShape[]): string => views.map((v) => `${'fdbilu'[v.dtype]}${v.step}`).join(',');

/** C element types in DTYPE_CODE's order. */
const C_TYPES = ['float', 'double', 'uint8_t', 'int32_t', 'int64_t', 'uint8_t'];

/**
 * The C function `name` computing bytecode `b` over one tile, for views shaped as `views` (leaves,
 * then outputs): rows of `nr`, columns of `nc`; `p` the views' first elements, `rs`/`cs` their row
 * and column steps, `k` the constants then the launch's params.
 */
export function emitC(b: Bytecode, views: readonly ViewShape[], leaves: number, name: string): string {
  const T = b.wide ? 'double' : 'float';
  const f = b.wide ? '' : 'f';
  const one = `(${T})1`, zero = `(${T})0`;
  const ins: number[][] = [];
  for (let i = 0; i < b.code.length; i += 5) ins.push(b.code.slice(i, i + 5));
  let hoisted = 0;
  while (hoisted < ins.length && ins[hoisted]![0] === OP.const) hoisted++;
  // A constant of the kernel's own is written into the code (so the compiler can fold it); a param is read from k.
  const constant = (at: number): string => (at < b.consts.length ? `(${T})${lit(b.consts[at]!)}` : `(${T})k[${at}]`);
  const unary: Partial<Record<number, (x: string) => string>> = {
    [OP.neg]: (x) => `-${x}`, [OP.abs]: (x) => `fabs${f}(${x})`,
    [OP.exp]: (x) => (b.wide ? `exp(${x})` : `tsr_exp_f32(${x})`), [OP.log]: (x) => `log${f}(${x})`,
    [OP.log1p]: (x) => `log1p${f}(${x})`, [OP.expm1]: (x) => `expm1${f}(${x})`, [OP.sqrt]: (x) => `sqrt${f}(${x})`,
    [OP.rsqrt]: (x) => `${one} / sqrt${f}(${x})`, [OP.sin]: (x) => `sin${f}(${x})`, [OP.cos]: (x) => `cos${f}(${x})`,
    [OP.tanh]: (x) => (b.wide ? `tanh(${x})` : `tsr_tanh_f32(${x})`), [OP.erf]: (x) => (b.wide ? `erf(${x})` : `tsr_erf_f32(${x})`),
    [OP.floor]: (x) => `floor${f}(${x})`, [OP.ceil]: (x) => `ceil${f}(${x})`, [OP.rint]: (x) => `rint${f}(${x})`,
    [OP.trunc]: (x) => `trunc${f}(${x})`, [OP.recip]: (x) => `${one} / ${x}`, [OP.not]: (x) => `(${T})(${x} == ${zero})`,
    [OP.isnan]: (x) => `(${T})(${x} != ${x})`, [OP.toBool]: (x) => `(${T})(${x} != ${zero})`,
    [OP.roundF32]: (x) => `(${T})(float)${x}`, [OP.copy]: (x) => x,
  };
  const infix: Partial<Record<number, string>> = { [OP.add]: '+', [OP.sub]: '-', [OP.mul]: '*', [OP.div]: '/' };
  const compare: Partial<Record<number, string>> = { [OP.lt]: '<', [OP.le]: '<=', [OP.gt]: '>', [OP.ge]: '>=', [OP.eq]: '==', [OP.ne]: '!=' };
  const binary = (o: number, a: string, c: string): string => {
    if (infix[o]) return `${a} ${infix[o]} ${c}`;
    if (compare[o]) return `(${T})(${a} ${compare[o]} ${c})`;
    switch (o) {
      case OP.pow: return `pow${f}(${a}, ${c})`;
      case OP.max: return `tsr_max${f}(${a}, ${c})`;
      case OP.min: return `tsr_min${f}(${a}, ${c})`;
      case OP.atan2: return `atan2${f}(${a}, ${c})`;
      case OP.fmod: return `fmod${f}(${a}, ${c})`;
      case OP.and: return `(${T})((${a} != ${zero}) & (${c} != ${zero}))`;
      case OP.or: return `(${T})((${a} != ${zero}) | (${c} != ${zero}))`;
      default: throw new Error(`cc: no C for opcode ${o}`);
    }
  };
  const index = (v: number): string => (views[v]!.step === 0 ? '0' : views[v]!.step === 1 ? 'j' : `j * cs${v}`);
  const outs = views.length - leaves;
  const result = [...ins].reverse().find((i) => i[0] !== OP.store)![1]!;

  const body: string[] = [];
  const written = new Set<number>();
  for (const [o, d, a, x, y] of ins.slice(hoisted) as [number, number, number, number, number][]) {
    if (o === OP.store) { body.push(`s${a}[i] = r${x};`); continue; }
    written.add(d);
    let e: string;
    if (o === OP.load) {
      const at = `V${a}[${index(a)}]`;
      e = views[a]!.dtype === 2 ? `(${T})(${at} != 0)` : `(${T})${at}`;
    } else if (o === OP.const) e = constant(a);
    else if (o === OP.where) e = `r${a} != ${zero} ? r${x} : r${y}`;
    else if (o >= OP.add && o <= OP.or) e = binary(o, `r${a}`, `r${x}`);
    else e = unary[o]!(`r${a}`);
    body.push(`r${d} = ${e};`);
  }
  body.push(`s0[i] = r${result};`);

  const lines = [`void ${name}(int64_t nr, int64_t nc, char* const* p, const int64_t* rs, const int64_t* cs, const double* k) {`];
  lines.push('  (void)cs; (void)k;');
  for (const [, d, a] of ins.slice(0, hoisted)) lines.push(`  const ${T} r${d} = ${constant(a!)};`);
  views.forEach((v, i) => { if (v.step === '*') lines.push(`  const int64_t cs${i} = cs[${i}];`); });
  lines.push('  for (int64_t r = 0; r < nr; r++) {');
  views.forEach((v, i) => lines.push(`    ${i < leaves ? 'const ' : ''}${C_TYPES[v.dtype]}* V${i} = (${i < leaves ? 'const ' : ''}${C_TYPES[v.dtype]}*)p[${i}] + r * rs[${i}];`));
  lines.push(`    for (int64_t j0 = 0; j0 < nc; j0 += ${CHUNK}) {`);
  lines.push(`      const int64_t n = nc - j0 < ${CHUNK} ? nc - j0 : ${CHUNK};`);
  lines.push(`      ${T} ${[...Array(outs).keys()].map((o) => `s${o}[${CHUNK}]`).join(', ')};`);
  lines.push('      for (int64_t i = 0; i < n; i++) {');
  lines.push('        const int64_t j = j0 + i; (void)j;');
  if (written.size) lines.push(`        ${T} ${[...written].sort((x, y) => x - y).map((r) => `r${r}`).join(', ')};`);
  for (const l of body) lines.push(`        ${l}`);
  lines.push('      }');
  // Further results first, then the result, as the interpreter stores them (so where two write one
  // element, the result is what remains).
  for (const o of [...Array(outs).keys()].map((o) => (o + 1) % outs)) {
    const v = leaves + o;
    const at = `V${v}[${views[v]!.step === 0 ? '0' : views[v]!.step === 1 ? '(j0 + i)' : `(j0 + i) * cs${v}`}]`;
    const value = views[v]!.dtype === 2 ? `(uint8_t)(s${o}[i] != ${zero})` : `(${C_TYPES[views[v]!.dtype]})s${o}[i]`;
    lines.push(`      for (int64_t i = 0; i < n; i++) ${at} = ${value};`);
  }
  lines.push('    }', '  }', '}');
  return lines.join('\n');
}

// ---------------------------------------------------------------- compiling, loading, caching

/** A kernel's state: waiting for a batch, being compiled, loaded (its id in the addon), or refused. */
type State = { kind: 'queued' } | { kind: 'building'; batch: Batch } | { kind: 'ready'; id: number } | { kind: 'failed' };

interface Entry { readonly symbol: string; readonly signature: string; readonly source: string; state: State }
interface Batch { readonly library: string; readonly failed: string; readonly entries: Entry[] }

export type CcMode = 'off' | 'async' | 'wait';

/** Compiles fused kernels to C and loads them into the addon; one per native backend. */
export class CCompiler {
  private readonly entries = new Map<string, Entry>();
  private readonly bySymbol = new Map<string, Entry>();
  private readonly queue: Entry[] = [];
  private readonly building = new Set<Batch>();
  private flushScheduled = false;
  private lastPoll = 0;
  /** Why compiling is off, once known (no compiler, TESSERA_CC=off, no writable cache). */
  private off: string | undefined;
  private dir: string | undefined;
  private compilerId: string | undefined;

  /** Fused launches so far, by how they ran. */
  readonly launches = { compiled: 0, interpreted: 0 };

  /** The compiler command: $CC split into words ("ccache gcc" works), else cc. */
  private readonly command: readonly string[];

  constructor(private readonly addon: CcAddon, readonly mode: CcMode = ccMode(), private readonly cc = process.env['CC'] || 'cc') {
    this.command = cc.trim().split(/\s+/);
    if (mode === 'off') this.off = 'TESSERA_CC=off';
  }

  /** Why kernels are interpreted rather than compiled here, or undefined when they are compiled. */
  unavailable(): string | undefined {
    this.setUp();
    return this.off;
  }

  /**
   * The addon id of the compiled function for `key` (a kernel and its views' signature), or
   * undefined while it is not ready; `source` makes its C the first time the key is seen.
   */
  lookup(key: string, signature: string, source: (name: string) => string): number | undefined {
    let e = this.entries.get(key);
    if (e?.state.kind === 'ready') return e.state.id;
    if (e === undefined) {
      if (!this.setUp()) return undefined;
      const text = source('KERNEL');
      // The prelude is part of the key: a kernel compiled against other math functions is another kernel.
      const symbol = `tsr_${hash(this.compilerId!, FLAGS.join(' '), PRELUDE, signature, text).slice(0, 24)}`;
      // Kernels that differ only in what C does not see (their ids) share one function.
      const twin = this.bySymbol.get(symbol);
      if (twin) { this.entries.set(key, twin); return readyId(twin); }
      e = { symbol, signature, source: text.replace('KERNEL', symbol), state: { kind: 'queued' } };
      this.entries.set(key, e);
      this.bySymbol.set(symbol, e);
      if (this.loadCached(e)) return readyId(e);
      this.queue.push(e);
      if (this.mode === 'async' && !this.flushScheduled) { this.flushScheduled = true; setImmediate(() => this.flush()); }
      return undefined;
    }
    // Seen before: a queued kernel coming round again means its step repeats, so compile the queue now.
    if (e.state.kind === 'queued') this.flush();
    else if (e.state.kind === 'building') this.poll();
    return readyId(e); // flush and poll may have moved it on
  }

  /** Compiles whatever is queued: in the background (async), or now (wait). */
  flush(): void {
    this.flushScheduled = false;
    if (this.queue.length === 0) return;
    const all = this.queue.splice(0);
    // One library per core's share, so a large step compiles in parallel.
    const parts = Math.max(1, Math.min(availableParallelism(), Math.ceil(all.length / 8)));
    for (let i = 0; i < parts; i++) {
      const entries = all.filter((_, j) => j % parts === i);
      const code = `${PRELUDE}\n${entries.map((e) => e.source).join('\n\n')}\n`;
      const name = `lib_${hash(this.compilerId!, FLAGS.join(' '), code).slice(0, 32)}`;
      const batch: Batch = { library: path.join(this.dir!, `${name}.so`), failed: path.join(this.dir!, `${name}.err`), entries };
      for (const e of entries) e.state = { kind: 'building', batch };
      const source = path.join(this.dir!, `${name}.c`);
      // Written whole then renamed: another process compiling the same batch never reads half a file.
      const part = `${source}.${process.pid}.tmp`;
      writeFileSync(part, code);
      renameSync(part, source);
      if (i === 0) evict(this.dir!);
      const tmp = `${batch.library}.${process.pid}.tmp`;
      if (this.mode === 'wait') {
        const [cc, ...args] = this.command;
        const r = spawnSync(cc!, [...args, ...FLAGS, '-o', tmp, source, '-lm'], { encoding: 'utf8' });
        if (r.status === 0) renameSync(tmp, batch.library);
        else writeFileSync(batch.failed, r.stderr || String(r.error));
        this.finish(batch);
      } else {
        // The library appears under its final name only when complete (a rename), so a launch can
        // poll for it without the event loop (a compiled step may run many times without yielding).
        const script = `"$0" "$@" -o "${tmp}" 2>"${batch.failed}.tmp" && mv "${tmp}" "${batch.library}" || mv "${batch.failed}.tmp" "${batch.failed}"`;
        const child = spawn('sh', ['-c', script, ...this.command, ...FLAGS, source, '-lm'], { stdio: 'ignore', detached: false });
        child.unref();
        child.on('exit', () => this.poll(true));
        this.building.add(batch);
      }
    }
  }

  /** Compiles what is queued and resolves once every library being built has loaded (or failed). */
  async settled(): Promise<void> {
    this.flush();
    while (this.building.size > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      this.poll(true);
    }
  }

  /** Loads the libraries that have appeared (at most every few milliseconds unless forced). */
  private poll(force = false): void {
    const now = performance.now();
    if (!force && now - this.lastPoll < 5) return;
    this.lastPoll = now;
    for (const batch of this.building) if (existsSync(batch.library) || existsSync(batch.failed)) this.finish(batch);
  }

  private finish(batch: Batch): void {
    this.building.delete(batch);
    if (!existsSync(batch.library)) {
      const why = existsSync(batch.failed) ? readFileSync(batch.failed, 'utf8').split('\n').slice(0, 6).join('\n') : 'no library';
      for (const e of batch.entries) e.state = { kind: 'failed' };
      // Generated C the compiler refuses is a bug in this file: loud in wait mode (tests), a warning otherwise.
      const message = `tessera: compiling fused kernels with ${this.cc} failed; they stay interpreted:\n${why}`;
      if (this.mode === 'wait') throw new Error(message);
      console.warn(message);
      return;
    }
    const ids = this.addon.ccLoad(batch.library, batch.entries.map((e) => e.symbol), batch.entries.map((e) => e.signature));
    batch.entries.forEach((e, i) => {
      e.state = { kind: 'ready', id: ids[i]! };
      writeFileSync(path.join(this.dir!, `${e.symbol}.ref`), path.basename(batch.library));
    });
  }

  /** Loads `e` from a library an earlier process compiled, if its marker names one still there. */
  private loadCached(e: Entry): boolean {
    const ref = path.join(this.dir!, `${e.symbol}.ref`);
    if (!existsSync(ref)) return false;
    const library = path.join(this.dir!, readFileSync(ref, 'utf8').trim());
    if (!existsSync(library)) return false;
    try {
      e.state = { kind: 'ready', id: this.addon.ccLoad(library, [e.symbol], [e.signature])[0]! };
      return true;
    } catch {
      return false; // a stale or damaged library: compile again
    }
  }

  /** Finds the compiler and the cache directory once; false (with `off` saying why) when either is missing. */
  private setUp(): boolean {
    if (this.off !== undefined) return false;
    if (this.compilerId !== undefined) return true;
    const [cc, ...args] = this.command;
    const v = spawnSync(cc!, [...args, '--version'], { encoding: 'utf8' });
    if (v.status !== 0) { this.off = `no C compiler (${this.cc}: ${v.error?.message ?? v.stderr.trim()})`; return false; }
    const root = cacheRoot() ?? path.join(tmpdir(), `tessera-cc-${process.pid}`);
    this.dir = path.join(root, 'c');
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      this.off = `cannot write ${this.dir}: ${(err as Error).message}`;
      return false;
    }
    this.compilerId = `${this.cc} ${v.stdout.split('\n')[0]}`;
    return true;
  }
}

/** Libraries kept on disk: past this many, the least recently written go (with their sources; markers naming them then miss). */
const MAX_LIBRARIES = 256;

/** Removes the oldest libraries when the directory holds more than MAX_LIBRARIES (best effort). */
function evict(dir: string): void {
  try {
    const libs = readdirSync(dir).filter((n) => n.endsWith('.so'));
    if (libs.length <= MAX_LIBRARIES) return;
    const aged = libs.map((n) => ({ n, t: statSync(path.join(dir, n)).mtimeMs })).sort((a, b) => a.t - b.t);
    for (const { n } of aged.slice(0, libs.length - (MAX_LIBRARIES * 3) / 4)) {
      for (const f of [n, n.replace(/\.so$/, '.c')]) rmSync(path.join(dir, f), { force: true });
    }
  } catch {
    // another process evicting at the same time, or a read-only directory: nothing lost
  }
}

/** TESSERA_CC: off, wait, or (default) async. */
export function ccMode(): CcMode {
  const v = process.env['TESSERA_CC'];
  if (v === undefined || v === '' || v === 'async') return 'async';
  if (v === 'off' || v === 'wait') return v;
  throw new Error(`TESSERA_CC=${v}: expected off, wait or async`);
}

const readyId = (e: Entry): number | undefined => (e.state.kind === 'ready' ? e.state.id : undefined);

const hash = (...parts: string[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
};
