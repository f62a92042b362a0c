/**
 * Plans across processes. A plan (plan.ts) is plain data: kernels as IR, views as numbers, storages
 * and scalars as positions in the program. So a plan is also written to disk, under a hash of what
 * decides it: the program's key, the IR of every kernel the program's steps name (a changed op spec
 * changes it), and the code of this package, which holds the scheduler. A second process that records
 * a program of the same structure reads the plan instead of scheduling again, as Inductor's FX graph
 * cache does. The file holds the key itself, so a hash collision is a miss, not a wrong plan; an
 * unreadable or malformed file is a miss too, and is written again.
 *
 * Where: $TESSERA_CACHE_DIR/plans, else $XDG_CACHE_HOME/tessera/plans, else ~/.cache/tessera/plans.
 * TESSERA_CACHE_DIR=off keeps plans in memory only. Past 2,000 files the oldest are removed.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DTYPES, type DType, type Expr, PRIMS, type Prim, topoSort } from '@tessera/ops';
import type { ElementwiseKernel } from '../backend.js';
import type { Program } from './program.js';
import type { Plan, PlannedElementwise } from './plan.js';

/** Bumped when the file format changes. */
const FORMAT = 3;

/** Tessera's cache directory (plans, and compiled kernels where a backend compiles them), or undefined when the disk cache is off. */
export function cacheRoot(): string | undefined {
  const env = process.env['TESSERA_CACHE_DIR'];
  if (env === 'off') return undefined;
  return env || path.join(process.env['XDG_CACHE_HOME'] || path.join(homedir(), '.cache'), 'tessera');
}

/** The plans directory, or undefined when the disk cache is off. */
export function cacheDir(): string | undefined {
  const root = cacheRoot();
  return root === undefined ? undefined : path.join(root, 'plans');
}

let codeHash: string | undefined;
/** A hash of this package's code (its source or built files), computed once per process. */
function packageCode(): string {
  if (codeHash !== undefined) return codeHash;
  const h = createHash('sha256');
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      if (statSync(file).isDirectory()) walk(file);
      else if (/\.[cm]?[jt]s$/.test(name)) h.update(name).update(readFileSync(file));
    }
  };
  walk(root);
  return (codeHash = h.digest('hex'));
}

// ---------------------------------------------------------------- IR as JSON

/** Numbers JSON cannot hold (NaN, infinities, -0) as strings. */
const num = (v: number): number | string => (Number.isFinite(v) && !Object.is(v, -0) ? v : Object.is(v, -0) ? '-0' : String(v));
const unnum = (v: unknown): number => {
  if (typeof v === 'number') return v;
  if (v === '-0') return -0;
  if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v);
  throw new Error(`not a number: ${String(v)}`);
};

type Node = readonly unknown[];

/** Expressions as one node list (shared nodes once): ['c', dtype, value] | ['i', dtype, index] | ['p', dtype, name] | [op, dtype, ...argIndices]. */
function encodeExprs(roots: readonly Expr[]): { nodes: Node[]; roots: number[] } {
  const at = new Map<Expr, number>();
  const nodes: Node[] = [];
  for (const e of topoSort(roots)) {
    at.set(e, nodes.length);
    if (e.kind === 'const') nodes.push(['c', e.dtype, num(e.value)]);
    else if (e.kind === 'input') nodes.push(['i', e.dtype, e.index]);
    else if (e.kind === 'param') nodes.push(['p', e.dtype, e.name]);
    else nodes.push([e.op, e.dtype, ...e.args.map((a) => at.get(a)!)]);
  }
  return { nodes, roots: roots.map((r) => at.get(r)!) };
}

const isDType = (d: unknown): d is DType => typeof d === 'string' && Object.hasOwn(DTYPES, d);
const isInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

function decodeExprs(nodes: unknown, roots: unknown): Expr[] {
  if (!Array.isArray(nodes) || !Array.isArray(roots)) throw new Error('malformed expressions');
  const built: Expr[] = [];
  for (const n of nodes) {
    if (!Array.isArray(n) || !isDType(n[1])) throw new Error('malformed node');
    const [kind, dtype] = n as [string, DType];
    if (kind === 'c') built.push({ kind: 'const', dtype, value: unnum(n[2]) });
    else if (kind === 'i' && isInt(n[2])) built.push({ kind: 'input', dtype, index: n[2] });
    else if (kind === 'p' && typeof n[2] === 'string') built.push({ kind: 'param', dtype, name: n[2] });
    else if (Object.hasOwn(PRIMS, kind) && n.slice(2).every((a) => isInt(a) && a < built.length)) {
      built.push({ kind: 'op', op: kind as Prim, dtype, args: n.slice(2).map((a) => built[a as number]!) });
    } else throw new Error(`malformed node ${JSON.stringify(n)}`);
  }
  return roots.map((r) => {
    if (!isInt(r) || r >= built.length) throw new Error('malformed root');
    return built[r]!;
  });
}

function encodeKernel(k: ElementwiseKernel): unknown {
  const outputs = k.outputs ?? [];
  const { nodes, roots } = encodeExprs([k.expr, ...outputs.map((o) => o.expr)]);
  return { id: k.id, inputs: k.inputs, out: k.out, params: k.params, outputs: outputs.map((o) => o.dtype), nodes, roots };
}

function decodeKernel(j: Record<string, unknown>): ElementwiseKernel {
  const { id, inputs, out, params, outputs } = j;
  const dtypes = (v: unknown): DType[] => {
    if (!Array.isArray(v) || !v.every(isDType)) throw new Error('malformed dtypes');
    return v;
  };
  if (typeof id !== 'string' || !isDType(out) || !Array.isArray(params) || !params.every((p) => typeof p === 'string')) throw new Error('malformed kernel');
  const [expr, ...more] = decodeExprs(j['nodes'], j['roots']);
  const extra = dtypes(outputs);
  if (!expr || more.length !== extra.length) throw new Error('malformed kernel results');
  return { id, expr, inputs: dtypes(inputs), out, params, ...(extra.length ? { outputs: extra.map((dtype, i) => ({ expr: more[i]!, dtype })) } : {}) };
}

// ---------------------------------------------------------------- plans

/** The file a program's plan lives in: named by what decides the plan. */
function fileOf(dir: string, key: string, p: Program): string {
  const h = createHash('sha256').update(`${FORMAT}\n${packageCode()}\n${key}\n`);
  // The step kernels' IR: the key names kernels by id, which says nothing of what a spec computes.
  const seen = new Set<string>();
  // What the scheduler asks of each backend decides the plan too: its limits, and the code of the
  // answers it gives about kernels not known until the program is scheduled (a backend that starts
  // fusing an epilogue or grouping a kernel gets new plans, not the ones made without).
  for (const b of new Set(p.steps.map((s) => s.backend))) {
    h.update(`${b.name}:${b.planVariant ?? ''}:${b.multiOutput ?? false}:${b.maxKernelInputs ?? ''}:${b.maxKernelBuffers ?? ''}:${b.maxKernelOutputs ?? ''}\n`);
    h.update(`${String(b.fusesEpilogue ?? '')}\n${String(b.groupable ?? '')}\n`);
  }
  for (const s of p.steps) {
    if (s.kind !== 'elementwise' || seen.has(s.kernel.id)) continue;
    seen.add(s.kernel.id);
    h.update(JSON.stringify(encodeKernel(s.kernel))).update('\n');
  }
  return path.join(dir, `${h.digest('hex')}.json`);
}

/** The plan a previous process stored for this program (whose key is `key`, over `storages` storages), or undefined. */
export function loadPlan(key: string, p: Program, storages: number): Plan | undefined {
  const dir = cacheDir();
  if (!dir) return undefined;
  let text: string;
  try {
    text = readFileSync(fileOf(dir, key, p), 'utf8');
  } catch {
    return undefined; // not there (or this package's code cannot be read to name it)
  }
  try {
    const j = JSON.parse(text) as { format?: unknown; key?: unknown; kernels?: unknown };
    if (j.format !== FORMAT || j.key !== key || !Array.isArray(j.kernels)) return undefined;
    const kernels = j.kernels.map((k: Record<string, unknown>) => decodePlanned(k, p, storages));
    // A group's members follow it: elementwise launches of its kernel on a backend that runs groups.
    kernels.forEach((k, i) => {
      if (k.kind !== 'elementwise' || !k.group) return;
      const members = kernels.slice(i, i + k.group);
      const backend = (p.steps[k.at] as { backend: { groupable?(x: unknown): boolean } }).backend;
      if (members.length !== k.group || !members.every((m) => m.kind === 'elementwise' && m.kernel.id === k.kernel.id && !(m !== k && m.group)) || !backend.groupable?.(k.kernel)) throw new Error('malformed group');
    });
    return { kernels };
  } catch {
    return undefined; // malformed: scheduled again and written over
  }
}

function decodePlanned(k: Record<string, unknown>, p: Program, storages: number): Plan['kernels'][number] {
  const at = k['at'];
  if (!isInt(at) || at >= p.steps.length) throw new Error('malformed step');
  const step = p.steps[at]!;
  if (k['kind'] === 'step' && step.kind !== 'elementwise') {
    if (k['epilogue'] === undefined) return { kind: 'step', at };
    // An epilogue: on a routine that takes one, of a kernel its backend fuses.
    const epilogue = decodeElementwise(k['epilogue'] as Record<string, unknown>, p, storages);
    if (step.kind !== 'routine' || !step.takesEpilogue || !step.backend.fusesEpilogue?.(step.name, step.writes[0]!.dtype, epilogue.kernel)) throw new Error('malformed epilogue');
    return { kind: 'step', at, epilogue };
  }
  return decodeElementwise(k, p, storages);
}

function decodeElementwise(k: Record<string, unknown>, p: Program, storages: number): PlannedElementwise {
  const at = k['at'];
  if (!isInt(at) || at >= p.steps.length) throw new Error('malformed step');
  if (k['kind'] !== 'elementwise' || p.steps[at]!.kind !== 'elementwise') throw new Error('malformed kernel step');
  const view = (v: unknown) => {
    const { storage, view: w } = v as { storage: unknown; view: { dtype: unknown; shape: unknown; strides: unknown; offset: unknown } };
    const ints = (a: unknown) => Array.isArray(a) && a.every((x) => Number.isInteger(x));
    if (!isInt(storage) || storage >= storages || !w || !isDType(w.dtype) || !ints(w.shape) || !ints(w.strides) || !isInt(w.offset)) throw new Error('malformed view');
    return { storage, view: { dtype: w.dtype, shape: w.shape as number[], strides: w.strides as number[], offset: w.offset } };
  };
  const list = (v: unknown) => {
    if (!Array.isArray(v)) throw new Error('malformed views');
    return v.map(view);
  };
  const refs = k['paramRefs'];
  const paramOf = (r: unknown): boolean => {
    if (!Array.isArray(r) || r.length !== 2 || !isInt(r[0]) || !isInt(r[1])) return false;
    const step = p.steps[r[0]];
    return step !== undefined && step.kind !== 'routine' && r[1] < step.params.length;
  };
  if (!Array.isArray(refs) || !refs.every(paramOf)) throw new Error('malformed params');
  const shape = k['shape'];
  if (!Array.isArray(shape) || !shape.every(isInt)) throw new Error('malformed shape');
  const group = k['group'];
  if (group !== undefined && !(isInt(group) && group >= 2)) throw new Error('malformed group');
  return {
    kind: 'elementwise', at, kernel: decodeKernel(k['kernel'] as Record<string, unknown>), shape,
    out: view(k['out']), outs: list(k['outs']), inputs: list(k['inputs']), paramRefs: refs as [number, number][], ...(group ? { group } : {}),
  };
}

/** Plans kept on disk: past this many files, the least recently written go (new shapes keep adding plans). */
const MAX_FILES = 2000;
let stored = 0;

/** Stores a plan for later processes (best effort: a cache that cannot be written is no error). */
export function storePlan(key: string, p: Program, plan: Plan): void {
  const dir = cacheDir();
  if (!dir) return;
  try {
    const file = fileOf(dir, key, p);
    const encode = (k: PlannedElementwise) => ({ ...k, kernel: encodeKernel(k.kernel) });
    const kernels = plan.kernels.map((k) => (k.kind === 'elementwise' ? encode(k) : k.epilogue ? { ...k, epilogue: encode(k.epilogue) } : k));
    mkdirSync(dir, { recursive: true });
    // Written whole, then renamed into place: a reader sees the old file or the new, never part of one.
    const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, JSON.stringify({ format: FORMAT, key, kernels }));
    renameSync(tmp, file);
    if (stored++ % 64 === 0) evict(dir);
  } catch {
    // read-only home, full disk: plans stay in memory
  }
}

/** Removes the oldest plans when the directory holds more than MAX_FILES (checked every 64 stores). */
function evict(dir: string): void {
  const names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  if (names.length <= MAX_FILES) return;
  const aged = names.map((n) => { const f = path.join(dir, n); return { f, t: statSync(f).mtimeMs }; }).sort((a, b) => a.t - b.t);
  for (const { f } of aged.slice(0, names.length - (MAX_FILES * 3) / 4)) rmSync(f, { force: true });
}
