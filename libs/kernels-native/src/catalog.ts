/**
 * The kernels compiled into the addon: every elementwise spec, for each dtype the native backend
 * serves, with all-tensor operands and with a JS scalar in each position. Built through the
 * dispatcher's own planner, so ids match what it asks for at run time.
 */
import * as tsr from '@tessera/tensor';
import { type DType, DTYPE_SETS, ELEMENTWISE, type ElementwiseSpec, REDUCTIONS, reduceTypes } from '@tessera/ops';
import { supportedDtype } from './emit-rust.js';

const DTYPES: DType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'];

/** Operand patterns: 'T' a tensor of the dtype, 'S' a JS scalar of its kind, 'B' a bool tensor (masks: x * (x > 0)). */
function patterns(spec: ElementwiseSpec, dtype: DType): string[] {
  // copy from a scalar is fill_ (zeros, ones, masks' bases).
  if (spec.arity === 1) return spec.name === 'copy' ? ['T', 'S'] : ['T'];
  if (spec.arity === 2) return ['TT', 'TS', 'ST', ...(dtype.startsWith('float') ? ['TB', 'BT'] : [])];
  return ['TTT', 'TST', 'TTS'];
}

export interface CatalogEntry { readonly ids: string[]; readonly kernel: tsr.ElementwiseKernel }

export function catalog(): CatalogEntry[] {
  const cpu = tsr.getBackend('cpu');
  const out: CatalogEntry[] = [];
  for (const spec of Object.values(ELEMENTWISE)) {
    for (const dtype of DTYPES.filter((d) => (DTYPE_SETS[spec.accepts] as readonly DType[]).includes(d) && supportedDtype(d))) {
      for (const pat of patterns(spec, dtype)) {
        const operandDtype = (i: number): DType => (spec.condition && i === 0) || pat[i] === 'B' ? 'bool' : dtype;
        // A float scalar (2.5) and an integer-valued one (2) plan differently but compile alike.
        const scalarsFor = (i: number): (number | boolean)[] => (operandDtype(i) === 'bool' ? [true] : dtype.startsWith('float') ? [2.5, 2] : [2]);
        const build = (scalar: (i: number) => number | boolean) => [...pat].map((c, i) => (c === 'S' ? scalar(i) : tsr.Tensor.empty(cpu, [2], operandDtype(i))));
        let plans: tsr.ElementwisePlan[];
        try {
          // With no tensor operand (fill) the destination names the dtype.
          const dst = pat.includes('T') || pat.includes('B') ? undefined : dtype;
          plans = [0, 1].map((v) => tsr.planFor(spec, build((i) => scalarsFor(i)[v] ?? scalarsFor(i)[0]!), dst));
        } catch {
          continue; // the spec rejects this dtype/pattern combination (e.g. float scalar in an int op)
        }
        // In-place and out= calls (optimizer updates: p.sub_(...)) name the destination dtype in the
        // id; when it equals the result dtype the kernel is the same one.
        const inPlace = plans.map((p, v) => tsr.planFor(spec, build((i) => scalarsFor(i)[v] ?? scalarsFor(i)[0]!), p.kernel.out));
        const ids = [...new Set([...plans, ...inPlace].map((p) => p.kernel.id))];
        if (plans[0]!.kernel.inputs.every(supportedDtype) && supportedDtype(plans[0]!.kernel.out)) out.push({ ids, kernel: plans[0]!.kernel });
      }
    }
  }
  return out;
}

/** Every primitive reduction (and cumsum) for each dtype it accepts that the native backend serves. */
export function reduceCatalog(): tsr.ReduceKernel[] {
  const out: tsr.ReduceKernel[] = [];
  for (const spec of Object.values(REDUCTIONS).filter((r) => r.combine || r.better)) {
    for (const dtype of DTYPES.filter((d) => (DTYPE_SETS[spec.accepts] as readonly DType[]).includes(d))) {
      const { compute, out: o } = reduceTypes(spec, dtype);
      out.push(tsr.reduceKernel(spec, dtype, compute, o, spec.name === 'cumsum'));
    }
  }
  return out;
}
