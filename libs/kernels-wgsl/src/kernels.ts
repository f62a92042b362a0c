/**
 * Elementwise and reduction kernels generated from the IR: WGSL source per (kernel, rank, aliasing),
 * compiled once into a pipeline by the runtime, launched with shapes and strides as parameters.
 */
import type { DType } from '@tessera/ops';
import { type ElementwiseKernel, type ElementwiseLaunch, type ReduceKernel, type ReduceLaunch, paramDtype } from '@tessera/tensor';
import { emitExpr, emitExprs, load, literal, paramLoad, storeValue, valueType, castCode } from './emit.js';
import type { Runtime } from './runtime.js';
import { type Buf, MetaWriter, WG, mi, shader, unravel } from './shader.js';
import { type WBuffer, gpuOf } from './buffer.js';

// ------------------------------------------------------------------ elementwise

/**
 * One thread per element, storing each of the kernel's results (compile's fused kernels store
 * several). Meta: n, shape[R], then per operand (results first, then inputs) its offset and
 * strides[R], then the scalar parameters. WebGPU forbids binding one buffer writable twice, or
 * writable and read-only at once: `share` says, per operand, which earlier result's binding it goes
 * through (-1: a binding of its own), so a result written to a buffer another result already uses,
 * and an input read from a result's buffer (in-place ops), share that result's binding.
 */
export function elementwiseSource(k: ElementwiseKernel, rank: number, share: readonly number[]): string {
  const results = [{ expr: k.expr, dtype: k.out }, ...(k.outputs ?? [])];
  const nOut = results.length;
  const dtypes = [...results.map((r) => r.dtype), ...k.inputs];
  const bufs: Buf[] = [];
  const arr = dtypes.map((dtype, j) => {
    if (share[j]! >= 0) return `O${share[j]}`;
    const name = j < nOut ? `O${j}` : `A${j - nOut}`;
    bufs.push({ name, dtype, write: j < nOut });
    return name;
  });
  return shader(bufs, ['if (tid >= M[0]) { return; }', elementwiseBody(k, rank, arr, 0, 'tid')].join('\n  '));
}

/** A launch's meta words: n, shape[R], per operand (results, then inputs) offset and strides[R], params. */
export const elementwiseMetaWords = (k: ElementwiseKernel, rank: number): number =>
  1 + rank + (1 + (k.outputs?.length ?? 0) + k.inputs.length) * (rank + 1) + k.params.length;

/**
 * The statements computing element `t` (u32) of one launch of `k`: its meta block starts at M[base],
 * and operand j (results, then inputs) is read and written through binding `arr[j]`.
 */
export function elementwiseBody(k: ElementwiseKernel, rank: number, arr: readonly string[], base: number, t: string): string {
  const results = [{ expr: k.expr, dtype: k.out }, ...(k.outputs ?? [])];
  const nOut = results.length;
  const opBase = (j: number) => base + 1 + rank + j * (rank + 1);
  const pBase = opBase(nOut + k.inputs.length);
  const names = [...results.map((_, j) => `o${j}`), ...k.inputs.map((_, i) => `a${i}`)];
  const param = (p: string) => paramLoad(paramDtype(k, p), `M[${pBase + k.params.indexOf(p)}]`);
  const exprs = emitExprs(results.map((r) => r.expr), { input: (i) => `x${i}`, param });
  // Further results first, the main one last (as the other backends store them).
  const stores = results.map((r, j) => `${arr[j]}[${names[j]}] = ${storeValue(r.dtype, exprs.results[j]!)};`);
  return [
    ...names.map((v, j) => `var ${v}: i32 = ${mi(opBase(j))};`),
    unravel(t, rank, base + 1, names.map((v, j) => ({ v, strideAt: opBase(j) + 1 }))),
    ...k.inputs.map((d, i) => `let x${i}: ${valueType(d)} = ${load(d, `${arr[nOut + i]}[${names[nOut + i]}]`)};`),
    exprs.code,
    ...stores.slice(1), stores[0]!,
  ].join('\n  ');
}

/**
 * Several launches of `k` as one dispatch (a horizontal group: an optimizer's per-parameter updates):
 * thread ranges follow one another, launch i's ending at M[i]; its meta block follows the ends. Each
 * distinct buffer has one binding (`access`: 'w' where some launch writes it), and `bindingOf[i][j]`
 * is launch i's operand j's; no launch reads what another writes (the scheduler groups only so).
 */
export function elementwiseGroupSource(
  k: ElementwiseKernel, ranks: readonly number[], bindingOf: readonly (readonly number[])[], access: string, dtypes: readonly DType[],
): string {
  const bufs: Buf[] = [...access].map((a, b) => ({ name: `B${b}`, dtype: dtypes[b]!, write: a === 'w' }));
  let base = ranks.length;
  const branches = ranks.map((rank, i) => {
    const body = elementwiseBody(k, rank, bindingOf[i]!.map((b) => `B${b}`), base, 't');
    base += elementwiseMetaWords(k, rank);
    const t = i === 0 ? 'tid' : `tid - M[${i - 1}]`;
    return `if (tid < M[${i}]) {\n  let t: u32 = ${t};\n  ${body}\n  }`;
  });
  return shader(bufs, branches.join(' else '));
}

type AnyKernel = ElementwiseKernel | ReduceKernel;

/** Writes a launch's scalar parameters (as their IR dtype's 32-bit form). */
export function writeParams(m: MetaWriter, k: AnyKernel, values: readonly number[]): void {
  k.params.forEach((p, i) => {
    const v = values[i]!;
    if (valueType(paramDtype(k, p)) === 'f32') m.f(v);
    else m.i(v);
  });
}

/** Runs launches of `k` that do not touch one another's results as one dispatch (elementwiseGroupSource). */
export function runElementwiseGroup(rt: Runtime, k: ElementwiseKernel, launches: readonly ElementwiseLaunch[]): void {
  const nOut = 1 + (k.outputs?.length ?? 0);
  const kernelDtypes = [k.out, ...(k.outputs ?? []).map((o) => o.dtype), ...k.inputs];
  const gpus: GPUBuffer[] = [], dtypes: DType[] = [];
  let access = '';
  const bindingOf = launches.map((l) => [l.out, ...(l.outs ?? []), ...l.inputs].map((v, j) => {
    const g = gpuOf(v);
    let b = gpus.indexOf(g);
    if (b < 0) { b = gpus.length; gpus.push(g); dtypes.push(kernelDtypes[j]!); access += 'r'; }
    if (j < nOut && access[b] === 'r') access = `${access.slice(0, b)}w${access.slice(b + 1)}`;
    return b;
  }));
  const ranks = launches.map((l) => l.shape.length);
  const key = `ewg|${k.id}|${ranks.join(',')}|${bindingOf.map((b) => b.join(',')).join(';')}|${access}`;
  const pipeline = rt.pipeline(key, () => elementwiseGroupSource(k, ranks, bindingOf, access, dtypes), `${access}r`, k.id);
  const meta = rt.metaSlot(launches.length + ranks.reduce((n, r) => n + elementwiseMetaWords(k, r), 0));
  const m = new MetaWriter(meta.words);
  let end = 0;
  for (const l of launches) m.u((end += l.shape.reduce((a, b) => a * b, 1)));
  for (const l of launches) {
    m.u(l.shape.reduce((a, b) => a * b, 1)).all(l.shape, false);
    for (const v of [l.out, ...(l.outs ?? []), ...l.inputs]) m.i(v.offset).all(v.strides);
    writeParams(m, k, l.params);
  }
  rt.dispatch(pipeline, gpus, meta, Math.ceil(end / WG), k.id);
}

export function runElementwise(rt: Runtime, k: ElementwiseKernel, l: ElementwiseLaunch): void {
  const rank = l.shape.length;
  const outs = [l.out, ...(l.outs ?? [])];
  const operands = [...outs, ...l.inputs];
  const gpus = operands.map(gpuOf);
  // Per operand, the earlier result whose buffer (and so binding) it shares, or -1.
  const share = gpus.map((g, j) => { const at = gpus.slice(0, Math.min(j, outs.length)).indexOf(g); return at; });
  const own = gpus.filter((_, j) => share[j]! < 0);
  const signature = share.map((s, j) => (s >= 0 ? '' : j < outs.length ? 'w' : 'r')).join('');
  const pipeline = rt.pipeline(`ew|${k.id}|${rank}|${share.join(',')}`, () => elementwiseSource(k, rank, share), `${signature}r`, k.id);
  const n = l.shape.reduce((a, b) => a * b, 1);
  const meta = rt.metaSlot(elementwiseMetaWords(k, rank));
  const m = new MetaWriter(meta.words).u(n).all(l.shape, false);
  for (const v of operands) m.i(v.offset).all(v.strides);
  writeParams(m, k, l.params);
  rt.dispatch(pipeline, own, meta, Math.ceil(n / WG), k.id);
}

// ------------------------------------------------------------------ reductions

/**
 * Reductions. Meta: outerCount, innerCount, splits, outer shape[OR], inner shape[IR], input offset and
 * strides[OR+IR], output offset and strides[OR+IR], params.
 *
 * - 'group': a workgroup per output element (per split of it): threads stride over the reduced
 *   elements, then a tree in workgroup memory combines them. With splits > 1 each workgroup reduces
 *   one slice of the row into a partial, and a second 'partials' launch combines the partials, so a
 *   full reduction of a large tensor spreads over many workgroups.
 * - 'thread': a thread per output element, for short rows and for column sums (runReduce).
 * - 'scan': a thread per row writing every running value.
 * Index reductions carry (value, position) pairs; ties go to the lower position (the first occurrence).
 */
type ReduceMode = 'group' | 'thread' | 'scan';
/** Elements per partial in 'thread' mode (see reduceSource). */
const THREAD_BLOCK = 64;
/** The longest column a thread reduces alone: past it, split rows and partials spread the work. */
const THREAD_COLUMN_MAX = 16384;
type Stage = 'full' | 'partial' | 'partials';

export function reduceSource(k: ReduceKernel, or: number, ir: number, mode: ReduceMode, stage: Stage): string {
  const acc = k.map.dtype;
  const A = valueType(acc);
  const pBase = 3 + or + ir + 2 * (1 + or + ir);
  const xAt = 3 + or + ir, oAt = xAt + 1 + or + ir;
  const param = (p: string) => paramLoad(paramDtype(k, p), `M[${pBase + k.params.indexOf(p)}]`);
  const mapE = emitExpr(k.map, { input: () => 'xv', param }, 'm');
  const comb = (a: string, b: string, tag: string) => emitExpr(k.combine, { input: (i) => (i === 0 ? a : b), param }, tag);
  const better = (cand: string, best: string, tag: string) => emitExpr(k.better!, { input: (i) => (i === 0 ? cand : best), param }, tag);
  const arg = !!k.better;
  const fromPartials = stage === 'partials';
  const bufs: Buf[] = [
    { name: 'O', ...(stage === 'partial' ? { type: partialType(acc) } : { dtype: k.out }), write: true },
    ...(arg && stage === 'partial' ? [{ name: 'OI', type: 'u32', write: true }] : []),
    { name: 'X', ...(fromPartials ? { type: partialType(acc) } : { dtype: k.input }), write: false },
    ...(arg && fromPartials ? [{ name: 'XI', type: 'u32', write: false }] : []),
  ];
  // One element j of this row: its value (mapped, in the accumulator type) into `mv`.
  const element = fromPartials
    ? `let mv: ${A} = ${loadPartial(acc, 'X[xrow + i32(j)]')};`
    : [`var xo = xrow;`, unravel('j', ir, 3 + or, [{ v: 'xo', strideAt: xAt + 1 + or }], 'e'), `let xv: ${valueType(k.input)} = ${load(k.input, 'X[xo]')};`, mapE.code, `let mv: ${A} = ${mapE.result};`].join('\n    ');
  const position = fromPartials ? 'XI[xrow + i32(j)]' : 'j';
  const stepArg = arg ? better('mv', 'acc', 'b') : undefined;
  const step = arg
    ? `if (pos == 0xffffffffu) { acc = mv; pos = ${position}; } else { ${stepArg!.code} if (${stepArg!.result}) { acc = mv; pos = ${position}; } }`
    : (() => { const c = comb('acc', 'mv', 'c'); return `${c.code}\n    acc = ${c.result};`; })();
  const fin = emitExpr(k.finalize, { input: (i) => (i === 0 ? 'acc' : `${castCode('f32(M[1])', 'float32', acc)}`), param }, 'f');
  const rowSetup = [
    `var xrow: i32 = ${fromPartials ? 'i32(row * M[2])' : mi(xAt)};`,
    `var orow: i32 = ${stage === 'partial' ? 'i32(row * M[2] + split)' : mi(oAt)};`,
    unravel('row', fromPartials ? 0 : or, 3, fromPartials ? [] : [{ v: 'xrow', strideAt: xAt + 1 }], 'xq'),
    stage === 'partial' ? '' : unravel('row', or, 3, [{ v: 'orow', strideAt: oAt + 1 }], 'oq'),
  ].join('\n  ');
  const storeFinal = arg ? `O[orow] = select(i32(pos), 0i, pos == 0xffffffffu);` : `${fin.code}\n    O[orow] = ${storeValue(k.out, fin.result)};`;
  const storeOut = stage === 'partial'
    ? (arg ? `O[orow] = ${storePartial(acc, 'acc')}; OI[orow] = pos;` : `O[orow] = ${storePartial(acc, 'acc')};`)
    : storeFinal;
  const count = fromPartials ? 'M[2]' : 'M[1]';

  if (mode === 'scan') {
    const c = comb('acc', 'mv', 'c');
    const body = [
      'let row = tid;', 'if (row >= M[0]) { return; }', rowSetup,
      `var acc: ${A} = ${literal(k.init, acc)};`,
      `for (var j = 0u; j < M[1]; j++) {`,
      `    ${element}`,
      `    ${c.code}`, `    acc = ${c.result};`,
      `    var oo = orow;`, `    ${unravel('j', ir, 3 + or, [{ v: 'oo', strideAt: oAt + 1 + or }], 's')}`,
      `    O[oo] = ${storeValue(k.out, castCode('acc', acc, k.out))};`,
      '}',
    ].join('\n  ');
    return shader(bufs, body);
  }
  if (mode === 'thread') {
    // Blocks of THREAD_BLOCK elements reduce into fresh partials combined into the total, so a long
    // column's float32 sum rounds over len / THREAD_BLOCK + THREAD_BLOCK terms, not len.
    const part = comb('part', 'mv', 'c'), total = comb('acc', 'part', 't');
    const walk = arg
      ? [`for (var j = 0u; j < ${count}; j++) {`, `    ${element}`, `    ${step}`, '}']
      : [
        `for (var j0 = 0u; j0 < ${count}; j0 += ${THREAD_BLOCK}u) {`,
        `    var part: ${A} = ${literal(k.init, acc)};`,
        `    for (var j = j0; j < min(j0 + ${THREAD_BLOCK}u, ${count}); j++) {`,
        `      ${element.replace(/\n {4}/g, '\n      ')}`,
        `      ${part.code.replace(/\n {2}/g, '\n      ')}`,
        `      part = ${part.result};`,
        '    }',
        `    ${total.code.replace(/\n {2}/g, '\n    ')}`,
        `    acc = ${total.result};`,
        '}',
      ];
    const body = [
      'let row = tid;', 'if (row >= M[0]) { return; }', rowSetup,
      `var acc: ${A} = ${literal(k.init, acc)};`, 'var pos = 0xffffffffu;',
      ...walk,
      `{ ${storeOut} }`,
    ].join('\n  ');
    return shader(bufs, body);
  }
  // 'group': rows over workgroups (with `splits` workgroups per row), a tree in workgroup memory.
  const treeStep = arg
    ? (() => {
      const take = better('acc2', 'acc', 'tb'), keep = better('acc', 'acc2', 'tr');
      return `let acc2 = SV[lid.x + s]; let pos2 = SI[lid.x + s];
      if (pos2 != 0xffffffffu) {
        if (pos == 0xffffffffu) { acc = acc2; pos = pos2; }
        else {
          ${take.code}
          ${keep.code}
          if (${take.result} || (!${keep.result} && pos2 < pos)) { acc = acc2; pos = pos2; }
        }
      }
      SV[lid.x] = acc; SI[lid.x] = pos;`;
    })()
    : (() => { const c = comb('acc', 'acc2', 'tc'); return `let acc2 = SV[lid.x + s]; ${c.code} acc = ${c.result}; SV[lid.x] = acc;`; })();
  const shared = `var<workgroup> SV: array<${A}, ${WG}>;\n${arg ? `var<workgroup> SI: array<u32, ${WG}>;` : ''}`;
  const body = [
    // The partials stage has one workgroup per row; the others one per (row, split).
    fromPartials ? 'let row = group; let split = 0u;' : 'let row = group / M[2]; let split = group % M[2];',
    // Whole workgroups leave together, so the barriers below stay in uniform control flow.
    'if (row >= M[0]) { return; }',
    rowSetup,
    `let len = ${count};`,
    `let chunk = ${fromPartials ? 'len' : '(len + M[2] - 1u) / M[2]'};`,
    `let start = ${fromPartials ? '0u' : 'split * chunk'};`,
    'let end = min(len, start + chunk);',
    `var acc: ${A} = ${literal(k.init, acc)};`, 'var pos = 0xffffffffu;',
    'for (var j = start + lid.x; j < end; j += ' + `${WG}u) {`, `    ${element}`, `    ${step}`, '}',
    `SV[lid.x] = acc;${arg ? ' SI[lid.x] = pos;' : ''}`,
    `for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {`,
    '    workgroupBarrier();',
    `    if (lid.x < s) { ${treeStep} }`,
    '}',
    `if (lid.x == 0u) { ${storeOut} }`,
  ].join('\n  ');
  return shader(bufs, body, { shared });
}

/** Partial accumulators are stored in a 32-bit type of the accumulator's kind. */
const partialType = (acc: DType): string => (valueType(acc) === 'bool' ? 'u32' : valueType(acc));
const loadPartial = (acc: DType, access: string): string => (valueType(acc) === 'bool' ? `(${access} != 0u)` : access);
const storePartial = (acc: DType, v: string): string => (valueType(acc) === 'bool' ? `select(0u, 1u, ${v})` : v);

export function runReduce(rt: Runtime, k: ReduceKernel, l: ReduceLaunch, temp: (bytes: number) => WBuffer, done: (b: WBuffer) => void): void {
  const or = l.outer.length, ir = l.inner.length;
  const rows = l.outer.reduce((a, b) => a * b, 1);
  const len = l.inner.reduce((a, b) => a * b, 1);
  const writeMeta = (splits: number, extra: number) => {
    const meta = rt.metaSlot(3 + or + ir + 2 * (1 + or + ir) + k.params.length + extra);
    const m = new MetaWriter(meta.words).u(rows).u(len).u(splits).all(l.outer, false).all(l.inner, false);
    m.i(l.input.offset).all(l.input.strides).i(l.out.offset).all(l.out.strides);
    writeParams(m, k, l.params);
    return meta;
  };
  const x = gpuOf(l.input), out = gpuOf(l.out);
  if (k.scan) {
    const p = rt.pipeline(`rd|${k.id}|${or}|${ir}|scan`, () => reduceSource(k, or, ir, 'scan', 'full'), 'wrr', k.id);
    rt.dispatch(p, [out, x], writeMeta(1, 0), Math.ceil(rows / WG), k.id);
    return;
  }
  // A thread per output for short rows, and for column sums (outputs adjacent in memory, a bias
  // gradient's sum over rows) up to THREAD_COLUMN_MAX long: neighbouring threads then read
  // neighbouring elements, and nothing waits at a barrier (on lavapipe each one is a pass over the
  // workgroup: a [1024, 192] column sum took 13 ms as a tree per column).
  const columns = or > 0 && l.input.strides[or - 1] === 1 && l.inner.every((size, d) => size === 1 || Math.abs(l.input.strides[or + d]!) > 1);
  if (len <= 128 || (columns && rows >= 64 && len <= THREAD_COLUMN_MAX)) {
    const p = rt.pipeline(`rd|${k.id}|${or}|${ir}|thread`, () => reduceSource(k, or, ir, 'thread', 'full'), 'wrr', k.id);
    rt.dispatch(p, [out, x], writeMeta(1, 0), Math.ceil(rows / WG), k.id);
    return;
  }
  // Enough workgroups to fill a GPU: split long rows when there are few of them.
  const splits = rows >= 256 ? 1 : Math.max(1, Math.min(WG, Math.floor(len / (WG * 16)), Math.ceil(1024 / rows)));
  if (splits === 1) {
    const p = rt.pipeline(`rd|${k.id}|${or}|${ir}|group`, () => reduceSource(k, or, ir, 'group', 'full'), 'wrr', k.id);
    rt.dispatch(p, [out, x], writeMeta(1, 0), rows, k.id);
    return;
  }
  const arg = !!k.better;
  const partial = temp(rows * splits * 4);
  const partialIdx = arg ? temp(rows * splits * 4) : undefined;
  const p1 = rt.pipeline(`rd|${k.id}|${or}|${ir}|partial`, () => reduceSource(k, or, ir, 'group', 'partial'), arg ? 'wwrr' : 'wrr', k.id);
  rt.dispatch(p1, [partial.gpu, ...(partialIdx ? [partialIdx.gpu] : []), x], writeMeta(splits, 0), rows * splits, k.id);
  const p2 = rt.pipeline(`rd|${k.id}|${or}|${ir}|partials`, () => reduceSource(k, or, ir, 'group', 'partials'), arg ? 'wrrr' : 'wrr', k.id);
  rt.dispatch(p2, [out, partial.gpu, ...(partialIdx ? [partialIdx.gpu] : [])], writeMeta(splits, 0), rows, k.id);
  done(partial);
  if (partialIdx) done(partialIdx);
}

