/**
 * Runs grouped by the machine they were measured on: numbers from different machines are not
 * comparable. A run with a WebGPU adapter counts as its own machine, since it measures other backends.
 */
import type { Machine, Run } from './data.js';

export interface MachineRuns {
  /** Also the machine's id on the page (`data-machine`). */
  readonly label: string;
  /** Oldest first. */
  readonly runs: readonly Run[];
  readonly latest: Run;
}

/** The Node version is left out: the same machine keeps its history across Node upgrades. */
const machineLabel = (m: Machine): string => `${m.cpus}, ${m.cores} cores${m.gpu === undefined ? '' : `, GPU ${m.gpu}`}`;

/** `runs` oldest first; machines with the most recent run first. */
export function groupByMachine(runs: readonly Run[]): MachineRuns[] {
  const groups = new Map<string, Run[]>();
  for (const run of runs) {
    const label = machineLabel(run.machine);
    groups.set(label, [...(groups.get(label) ?? []), run]);
  }
  return [...groups]
    .map(([label, rs]) => ({ label, runs: rs, latest: rs[rs.length - 1]! }))
    .sort((a, b) => Date.parse(b.latest.date) - Date.parse(a.latest.date));
}
