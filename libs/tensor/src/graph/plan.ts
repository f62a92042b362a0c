/**
 * Cached schedules. A compiled training step records the same program every call: the same steps
 * over storages that play the same parts, with only scalar values (a learning rate, Adam's bias
 * corrections) and the storages themselves changing. Scheduling (liveness, fusion, building each
 * fused kernel's expression) is the costly part of running a program from JS, so it is done once per
 * structure: the program's signature (its guard) names every step's kernel, shapes and views, with
 * storages numbered in order of first use and marked by how they are held (created by the program
 * or not, live at its end or not), and a plan is the schedule with storages and scalars left as
 * references into the program. A program with the signature of an earlier one runs that plan on
 * its own storages and scalars.
 */
import type { Backend, ElementwiseKernel } from '../backend.js';
import type { Storage } from '../storage.js';
import { type Program, type StorageView, readsOf, writesOf } from './program.js';
import type { Kernel } from './schedule.js';

/** A view with its storage as a number (its order of first use in the program). */
export interface PlannedView { readonly storage: number; readonly view: Omit<StorageView, 'storage'> }

export interface PlannedElementwise {
  readonly kind: 'elementwise'; readonly at: number; readonly kernel: ElementwiseKernel; readonly shape: readonly number[]; readonly out: PlannedView; readonly outs: readonly PlannedView[]; readonly inputs: readonly PlannedView[]; readonly paramRefs: readonly (readonly [number, number])[]; readonly group?: number;
}
/** A reduction or routine step as recorded; a routine with the elementwise kernel it runs as its epilogue. */
type Planned = PlannedElementwise | { readonly kind: 'step'; readonly at: number; readonly epilogue?: PlannedElementwise };

export interface Plan { readonly kernels: readonly Planned[] }

/**
 * Names (kernel ids, backend and routine names, dtypes) as small numbers, process-wide: a kernel's
 * id is the same string object on every call, so its lookup hashes nothing new.
 */
const names = new Map<string, number>();
const nameList: string[] = [];
function nameOf(s: string): number {
  let i = names.get(s);
  if (i === undefined) { names.set(s, (i = nameList.length)); nameList.push(s); }
  return i;
}

/**
 * Per process-wide name, the signature that last numbered it (by generation) and the number it got
 * there: a signature numbers its names by indexing these instead of a map of its own.
 */
const nameStamp: number[] = [], nameLocal: number[] = [];
let generation = 0;

const STEP_KIND = { elementwise: 1, reduce: 2, routine: 3 } as const;

/**
 * Each backend object's number, process-wide: two backends may share a name (gpujs in each of its
 * modes) and not what the scheduler may do with them (kernels storing several results).
 */
const backendIds = new WeakMap<Backend, number>();
let backendCount = 0;
function backendId(b: Backend): number {
  let i = backendIds.get(b);
  if (i === undefined) backendIds.set(b, (i = backendCount++));
  return i;
}

/**
 * A program's structure as numbers: every step's kind, backend, kernel, shapes and views, with
 * storages numbered in order of first use and names in order of first use (`names` holds each
 * one's process-wide number), then how each storage is held. Two programs with equal signatures
 * have the same plan. Arrays are written with their lengths first, so the numbers read one way only.
 */
export class Signature {
  readonly storages: Storage[] = [];
  readonly nums: number[] = [];
  readonly names: number[] = [];
  /** The backend objects' numbers, in order of first use: a plan is for them (the text, for any with their names and capabilities). */
  readonly backends: number[] = [];
  /** A hash of the numbers, names and backends (the in-memory cache's key; equal signatures have equal hashes). */
  readonly hash: number;
  private readonly generation = ++generation;
  private lastBackend: Backend | undefined;

  constructor(p: Program) {
    // Built every call of a compiled step: numbers are pushed as they come and hashed in one loop at the end.
    const nums = this.nums;
    for (const s of p.steps) {
      nums.push(STEP_KIND[s.kind], this.name(s.backend.name));
      this.backend(s.backend);
      if (s.kind === 'elementwise') {
        nums.push(this.name(s.kernel.id));
        this.list(s.shape);
        this.view(s.out);
        nums.push(s.inputs.length);
        for (const v of s.inputs) this.view(v);
      } else if (s.kind === 'reduce') {
        nums.push(this.name(s.kernel.id));
        this.list(s.outer);
        this.list(s.inner);
        this.view(s.input);
        this.view(s.out);
      } else {
        nums.push(this.name(s.name));
        const reads = readsOf(s), writes = writesOf(s);
        nums.push(reads.length);
        for (const r of reads) nums.push(this.storage(r));
        nums.push(writes.length);
        for (const w of writes) nums.push(this.storage(w));
      }
    }
    // How each storage is held decides what must be computed and what may stay out of memory.
    for (const st of this.storages) nums.push((p.created.has(st) ? 1 : 0) + (st.live ? 2 : 0), this.name(st.dtype), st.size);
    this.hash = hashOf(nums, hashOf(this.names, hashOf(this.backends, 0)));
  }

  private list(xs: readonly number[]): void {
    const nums = this.nums;
    nums.push(xs.length);
    for (let i = 0; i < xs.length; i++) nums.push(xs[i]!);
  }
  private storage(s: Storage): number {
    if (s.signature === this.generation) return s.signatureIndex;
    s.signature = this.generation;
    s.signatureIndex = this.storages.length;
    this.storages.push(s);
    return s.signatureIndex;
  }
  private view(v: StorageView): void {
    this.nums.push(this.storage(v.storage), v.offset);
    this.list(v.strides);
  }
  private backend(b: Backend): void {
    if (b === this.lastBackend) return;
    this.lastBackend = b;
    const id = backendId(b);
    if (!this.backends.includes(id)) this.backends.push(id);
  }
  /** A name as its order of first use in this program (the process-wide number goes to `names`). */
  private name(s: string): number {
    const global = nameOf(s);
    if (nameStamp[global] === this.generation) return nameLocal[global]!;
    nameStamp[global] = this.generation;
    nameLocal[global] = this.names.length;
    this.names.push(global);
    return this.names.length - 1;
  }

  /** The numbers alone (what a cache keeps: not the storages of the program that made them). */
  numbers(): SignatureNumbers {
    return { hash: this.hash, nums: this.nums, names: this.names, backends: this.backends };
  }

  /** The signature as text, the same in every process (the disk cache's key). */
  text(): string {
    return JSON.stringify([this.names.map((n) => nameList[n]), this.nums]);
  }
}

/** FNV-style mixing of `xs` into `h` (numbers past 32 bits mix in their high part too). */
function hashOf(xs: readonly number[], h: number): number {
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i]!;
    h = (Math.imul(h ^ v, 0x01000193) + (v / 4294967296 | 0)) | 0;
  }
  return h;
}

export interface SignatureNumbers { readonly hash: number; readonly nums: readonly number[]; readonly names: readonly number[]; readonly backends: readonly number[] }

export const sameSignature = (a: SignatureNumbers, b: SignatureNumbers): boolean =>
  a.hash === b.hash && sameNumbers(a.nums, b.nums) && sameNumbers(a.names, b.names) && sameNumbers(a.backends, b.backends);

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The schedule `kernels` of a program whose storages are `storages`, as a plan. */
export function planOf(kernels: readonly Kernel[], storages: readonly Storage[]): Plan {
  const index = new Map(storages.map((s, i) => [s, i]));
  const planned = ({ storage, ...view }: StorageView): PlannedView => ({ storage: index.get(storage)!, view });
  const elementwise = (k: Extract<Kernel, { kind: 'elementwise' }>): PlannedElementwise =>
    ({ kind: 'elementwise', at: k.at, kernel: k.kernel, shape: k.shape, out: planned(k.out), outs: k.outs.map(planned), inputs: k.inputs.map(planned), paramRefs: k.paramRefs, ...(k.group ? { group: k.group } : {}) });
  return {
    kernels: kernels.map((k): Planned => (k.kind === 'elementwise' ? elementwise(k)
      : { kind: 'step', at: k.at, ...(k.kind === 'routine' && k.epilogue ? { epilogue: elementwise(k.epilogue) } : {}) })),
  };
}

/** The plan's kernels over program `p` (whose key is the plan's) and its storages. */
export function instantiate(plan: Plan, p: Program, storages: readonly Storage[]): Kernel[] {
  const bound = (v: PlannedView): StorageView => ({ storage: storages[v.storage]!, ...v.view });
  const elementwise = (k: PlannedElementwise): Extract<Kernel, { kind: 'elementwise' }> => {
    const params = k.paramRefs.map(([step, j]) => (p.steps[step] as { params: readonly number[] }).params[j]!);
    // The backend of this program's step (the key names it, but two backends may share a name).
    const backend = (p.steps[k.at] as { backend: Backend }).backend;
    return { kind: 'elementwise', at: k.at, backend, kernel: k.kernel, shape: k.shape, out: bound(k.out), outs: k.outs.map(bound), inputs: k.inputs.map(bound), params, paramRefs: k.paramRefs, ...(k.group ? { group: k.group } : {}) };
  };
  return plan.kernels.map((k): Kernel => {
    if (k.kind === 'elementwise') return elementwise(k);
    const s = p.steps[k.at]!;
    if (s.kind === 'routine') return { kind: 'routine', at: k.at, step: s, ...(k.epilogue ? { epilogue: elementwise(k.epilogue) } : {}) };
    if (s.kind === 'reduce') return { ...s, at: k.at };
    throw new Error(`compile: plan step ${k.at} is not a reduction or routine (an internal error)`);
  });
}
