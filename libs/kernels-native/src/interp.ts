/**
 * Fused kernels as the addon's bytecode (rust/interp.rs). compile makes elementwise kernels no
 * catalog holds; rather than fall back to JS, the native backend encodes each kernel's IR once into
 * instructions over block registers (allocated by liveness, so a long kernel needs few) and runs
 * them in the addon. Kernels over float32, float64 and bool values encode, and integer values that
 * are only selected, compared or cast to floats (masks, one-hot targets, ignore indices); integer
 * arithmetic and float16 values are left to the JS kernels (undefined).
 */
import type { ElementwiseKernel } from '@tessera/tensor';
import { type DType, type Expr, type Prim, topoSort } from '@tessera/ops';

/** Opcodes, as rust/interp.rs numbers them. */
export const OP = {
  load: 0, const: 1, neg: 3, abs: 4, exp: 5, log: 6, log1p: 7, expm1: 8, sqrt: 9, rsqrt: 10, sin: 11, cos: 12,
  tanh: 13, erf: 14, floor: 15, ceil: 16, rint: 17, trunc: 18, recip: 19, not: 20, isnan: 21, add: 22, sub: 23,
  mul: 24, div: 25, pow: 26, max: 27, min: 28, atan2: 29, fmod: 30, lt: 31, le: 32, gt: 33, ge: 34, eq: 35,
  ne: 36, and: 37, or: 38, where: 39, toBool: 40, roundF32: 41, copy: 42, store: 43,
} as const;

/** Storage dtype codes. */
export const DTYPE_CODE: Partial<Record<DType, number>> = { float32: 0, float64: 1, bool: 2, int32: 3, int64: 4, uint8: 5 };

const INTEGRAL: ReadonlySet<DType> = new Set(['uint8', 'int32', 'int64']);
/**
 * Ops an integer-typed value may take. Integers ride in f64 registers, exact below 2^53 in magnitude
 * as the JS kernels' Number reads are; selecting and comparing them is then exact, while arithmetic
 * would need integer wrap-around and division, which the registers do not have.
 */
const INTEGER_OPS: ReadonlySet<Prim> = new Set(['where', 'max', 'min', 'eq', 'ne', 'lt', 'le', 'gt', 'ge']);
/** Whether a cast from integral or bool `from` to integral `to` keeps every value (as no register op need wrap it). */
const widens = (from: DType, to: DType): boolean =>
  from === 'bool' || from === to || (from === 'uint8' && to !== 'uint8') || (from === 'int32' && to === 'int64');

/** An encoded kernel: its registers' type, count, instructions and constants (its params follow them at launch). */
export interface Bytecode {
  readonly wide: boolean;
  readonly regs: number;
  readonly code: readonly number[];
  readonly consts: readonly number[];
}

/** Value-level ops on bool 0/1 registers where the float op would differ, or undefined where none applies. */
const BOOL_OPS: Partial<Record<Prim, number | 'same'>> = {
  add: OP.or, mul: OP.and, max: OP.max, min: OP.min, and: OP.and, or: OP.or, not: OP.not, eq: OP.eq, ne: OP.ne,
  lt: OP.lt, le: OP.le, gt: OP.gt, ge: OP.ge, where: OP.where, abs: 'same', floor: 'same', ceil: 'same',
  rint: 'same', trunc: 'same', isnan: OP.isnan,
};

/** The bytecode of `k`, or undefined when a value or an op of it has no encoding (see the file's head). */
export function encode(k: ElementwiseKernel): Bytecode | undefined {
  const extra = k.outputs ?? [];
  const nodes = topoSort([k.expr, ...extra.map((o) => o.expr)]);
  const types = new Set<DType>([k.out, ...extra.map((o) => o.dtype), ...k.inputs, ...nodes.map((n) => n.dtype)]);
  if ([...types].some((d) => DTYPE_CODE[d] === undefined)) return undefined;
  const wide = types.has('float64') || [...types].some((d) => INTEGRAL.has(d));

  // SSA first: each instruction makes a new value; a node that changes nothing in registers (a cast
  // to a wider float, rounding of bools) is the value of its argument.
  const ins: number[][] = [];
  const consts: number[] = [];
  const constAt = new Map<string, number>();
  const value = new Map<Expr, number>();
  const emit = (op: number, ...args: number[]): number => { ins.push([op, ...args]); return ins.length - 1; };
  // Each constant and each leaf is put in a register once, however many nodes name it.
  const constValue = new Map<number, number>(), loadValue = new Map<number, number>();
  const constant = (v: number, d: DType): number => {
    const x = d === 'bool' ? Number(v !== 0) : d === 'float32' ? Math.fround(v) : v;
    const key = Object.is(x, -0) ? '-0' : String(x);
    let at = constAt.get(key);
    if (at === undefined) { constAt.set(key, (at = consts.length)); consts.push(x); }
    let r = constValue.get(at);
    if (r === undefined) constValue.set(at, (r = emit(OP.const, at)));
    return r;
  };
  const leaf = (i: number): number => {
    let r = loadValue.get(i);
    if (r === undefined) loadValue.set(i, (r = emit(OP.load, i)));
    return r;
  };
  /** Rounds float32 results computed in an f64 program, as the float32 op would have stored them. */
  const narrow = (v: number, d: DType): number => (wide && d === 'float32' ? emit(OP.roundF32, v) : v);
  const cast = (v: number, from: DType, to: DType): number | undefined => {
    if (from === to) return v;
    if (to === 'bool') return emit(OP.toBool, v);
    if (INTEGRAL.has(to)) return widens(from, to) ? v : undefined;
    return narrow(v, to); // from bool (0/1 already), an integer, or between floats
  };
  const paramsAt = new Map(k.params.map((name, i) => [name, i]));
  const params: number[] = []; // instruction index -> param position, patched once constants are counted
  // Constants and params come first: the addon fills their registers once per tile, not per block.
  for (const e of nodes) {
    if (e.kind === 'const') value.set(e, constant(e.value, e.dtype));
    else if (e.kind === 'param') {
      const at = paramsAt.get(e.name);
      if (at === undefined) return undefined;
      value.set(e, emit(OP.const, -1));
      params[ins.length - 1] = at;
    }
  }
  const hoisted = ins.length;
  for (const e of nodes) {
    if (e.kind === 'const' || e.kind === 'param') continue;
    if (e.kind === 'input') {
      const v = cast(leaf(e.index), k.inputs[e.index]!, e.dtype);
      if (v === undefined) return undefined;
      value.set(e, v);
    } else {
      const args = e.args.map((a) => value.get(a)!);
      const argType = e.args[0]!.dtype;
      if (e.op === 'cast') {
        const v = cast(args[0]!, argType, e.dtype);
        if (v === undefined) return undefined;
        value.set(e, v);
        continue;
      }
      // where's type is its branches'; its condition is bool
      const on = e.op === 'where' ? e.args[1]!.dtype : argType;
      if ((INTEGRAL.has(on) || INTEGRAL.has(e.dtype)) && !INTEGER_OPS.has(e.op)) return undefined;
      let op: number | 'same' | undefined = on === 'bool' ? BOOL_OPS[e.op] : OP[e.op as keyof typeof OP];
      if (op === undefined) return undefined;
      if (op === 'same') { value.set(e, args[0]!); continue; }
      value.set(e, narrow(emit(op, ...args), e.dtype));
    }
  }
  let result = value.get(k.expr)!;
  if (result !== ins.length - 1) result = emit(OP.copy, result);
  // Further outputs: stored by STORE instructions after the result (which stays the last value computed).
  const stores = extra.map((o, j) => [OP.store, j + 1, value.get(o.expr)!] as const);
  // Params are constants placed after the kernel's own.
  for (const [i, at] of params.entries()) if (at !== undefined) ins[i]![1] = consts.length + at;

  // Registers by liveness: a value's register is free after its last use, but never the destination
  // of the instruction that reads it last. Hoisted constants keep theirs throughout.
  const lastUse = new Array<number>(ins.length).fill(-1);
  ins.forEach(([op, ...args], i) => { if (op !== OP.load && op !== OP.const) for (const a of args) lastUse[a!] = i; });
  for (let i = 0; i < hoisted; i++) lastUse[i] = ins.length;
  // A stored value lives to the end, where its STORE reads it.
  for (const [, , v] of stores) lastUse[v] = ins.length;
  const reg = new Array<number>(ins.length);
  const free: number[] = [];
  let regs = 0;
  const code: number[] = [];
  ins.forEach(([op, ...args], i) => {
    reg[i] = free.pop() ?? regs++;
    const operands = op === OP.load || op === OP.const ? [args[0]!, -1, -1] : [...args.map((a) => reg[a]!), -1, -1, -1].slice(0, 3);
    code.push(op!, reg[i]!, ...operands);
    if (op !== OP.load && op !== OP.const) for (const a of new Set(args)) if (lastUse[a] === i) free.push(reg[a]!);
    if (lastUse[i] === -1 && i !== result) free.push(reg[i]!);
  });
  for (const [op, out, v] of stores) code.push(op, -1, out, reg[v]!, -1);
  return { wide, regs, code, consts };
}

const NAMES = Object.fromEntries(Object.entries(OP).map(([name, code]) => [code, name]));

/** The bytecode as text, one instruction a line ("r2 = mul r0 r1"): what `tessera codegen --backend native` shows. */
export function disassemble(b: Bytecode): string {
  const lines = [`// ${b.wide ? 'f64' : 'f32'} registers: ${b.regs}; constants: [${b.consts.join(', ')}] then the launch's params`];
  for (let i = 0; i < b.code.length; i += 5) {
    const [op, dst, a, x, y] = b.code.slice(i, i + 5) as [number, number, number, number, number];
    const name = NAMES[op]!;
    if (op === OP.store) { lines.push(`store out${a} r${x}`); continue; }
    const args = op === OP.load ? [`leaf${a}`] : op === OP.const ? [`c${a}`] : [a, x, y].filter((r) => r >= 0).map((r) => `r${r}`);
    lines.push(`r${dst} = ${name} ${args.join(' ')}`);
  }
  const last = [...Array(b.code.length / 5).keys()].reverse().find((i) => b.code[5 * i] !== OP.store)!;
  lines.push(`store out0 r${b.code[5 * last + 1]}`);
  return lines.join('\n');
}
