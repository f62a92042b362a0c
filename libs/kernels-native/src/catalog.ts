/**
 * The kernels compiled into the addon: every elementwise spec, for each dtype the native backend
 * serves, with all-tensor operands and with a JS scalar in each position. Built through the
 * dispatcher's own planner, so ids match what it asks for at run time.
 */
import * as tsr from '@tessera/tensor';
import { type DType, DTYPE_SETS, ELEMENTWISE, type ElementwiseSpec } from '@tessera/ops';
import { supportedDtype } from './emit-rust.js';

const DTYPES: DType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'];

/** Operand patterns: 'T' a tensor of the dtype, 'S' a JS scalar of its kind. */
function patterns(spec: ElementwiseSpec): string[] {
  if (spec.arity === 1) return ['T'];
  if (spec.arity === 2) return ['TT', 'TS', 'ST'];
  return ['TTT', 'TST', 'TTS'];
}

export interface CatalogEntry { readonly ids: string[]; readonly kernel: tsr.ElementwiseKernel }

export function catalog(): CatalogEntry[] {
  const cpu = tsr.getBackend('cpu');
  const out: CatalogEntry[] = [];
  for (const spec of Object.values(ELEMENTWISE)) {
    for (const dtype of DTYPES.filter((d) => (DTYPE_SETS[spec.accepts] as readonly DType[]).includes(d) && supportedDtype(d))) {
      for (const pat of patterns(spec)) {
        const operandDtype = (i: number): DType => (spec.condition && i === 0 ? 'bool' : dtype);
        // A float scalar (2.5) and an integer-valued one (2) plan differently but compile alike.
        const scalarsFor = (i: number): (number | boolean)[] => (operandDtype(i) === 'bool' ? [true] : dtype.startsWith('float') ? [2.5, 2] : [2]);
        const build = (scalar: (i: number) => number | boolean) => [...pat].map((c, i) => (c === 'T' ? tsr.Tensor.empty(cpu, [2], operandDtype(i)) : scalar(i)));
        let plans: tsr.ElementwisePlan[];
        try {
          plans = [0, 1].map((v) => tsr.planFor(spec, build((i) => scalarsFor(i)[v] ?? scalarsFor(i)[0]!), undefined));
        } catch {
          continue; // the spec rejects this dtype/pattern combination (e.g. float scalar in an int op)
        }
        const ids = [...new Set(plans.map((p) => p.kernel.id))];
        if (plans[0]!.kernel.inputs.every(supportedDtype) && supportedDtype(plans[0]!.kernel.out)) out.push({ ids, kernel: plans[0]!.kernel });
      }
    }
  }
  return out;
}
