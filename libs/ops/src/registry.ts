/** Every spec by name: what backends, the dispatcher and the conformance suite iterate over. */
import { ArgumentError } from './errors.js';
import type { ElementwiseSpec, OpSpec, ReduceSpec, RoutineSpec } from './spec.js';
import * as binary from './specs/binary.js';
import * as reduce from './specs/reduce.js';
import * as routines from './specs/routines.js';
import * as unary from './specs/unary.js';

const byName = <T extends OpSpec>(mod: Record<string, unknown>, kind: T['kind']): Record<string, T> =>
  Object.fromEntries(
    Object.values(mod)
      .filter((v): v is T => typeof v === 'object' && v !== null && (v as OpSpec).kind === kind)
      .map((s) => [s.name, s]),
  );

/** Every elementwise spec (unary, binary and ternary), by op name. */
export const ELEMENTWISE: Readonly<Record<string, ElementwiseSpec>> = {
  ...byName<ElementwiseSpec>(unary, 'elementwise'),
  ...byName<ElementwiseSpec>(binary, 'elementwise'),
};
/** Reduction and scan specs by op name. */
export const REDUCTIONS: Readonly<Record<string, ReduceSpec>> = byName<ReduceSpec>(reduce, 'reduce');
/** Routine specs (matmul, conv2d, sort, ...) by op name. */
export const ROUTINES: Readonly<Record<string, RoutineSpec>> = byName<RoutineSpec>(routines, 'routine');
/** Every spec of every kind, elementwise first. */
export const ALL_SPECS: readonly OpSpec[] = [...Object.values(ELEMENTWISE), ...Object.values(REDUCTIONS), ...Object.values(ROUTINES)];

/** The elementwise spec named `name`; throws ArgumentError for an unknown name. */
export function elementwiseSpec(name: string): ElementwiseSpec {
  const s = ELEMENTWISE[name];
  if (!s) throw new ArgumentError('elementwiseSpec', `no elementwise spec named '${name}'`);
  return s;
}
/** The reduction spec named `name`; throws ArgumentError for an unknown name. */
export function reduceSpec(name: string): ReduceSpec {
  const s = REDUCTIONS[name];
  if (!s) throw new ArgumentError('reduceSpec', `no reduction spec named '${name}'`);
  return s;
}
