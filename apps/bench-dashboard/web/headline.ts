/**
 * The answer at a glance: per machine and Tessera backend, the geometric mean over the latest run's
 * cases of time(peer) / time(Tessera) against each peer (with the number of cases it spans), and how
 * that mean moved since the machine's previous run, over the cases both runs measured.
 */
import type { Run } from './data.js';
import { el, table } from './dom.js';
import { formatDate, formatRatio } from './format.js';
import type { MachineRuns } from './machines.js';
import { speedups } from './speedups.js';

export interface GeoMean { readonly value: number; readonly cases: number }

const geomean = (vs: readonly number[]): number => Math.exp(vs.reduce((a, v) => a + Math.log(v), 0) / vs.length);

/** `tessera|peer` -> the ratios of every case of `run` where both were measured, keyed by case. */
function byPair(run: Run): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const s of speedups(run)) {
    const key = `${s.tessera}|${s.peer}`;
    if (!out.has(key)) out.set(key, new Map());
    out.get(key)!.set(s.case, s.value);
  }
  return out;
}

export interface HeadlineRow {
  readonly tessera: string;
  readonly peer: string;
  readonly latest: GeoMean;
  /** Latest / previous geometric mean over the cases both runs have, or undefined without a previous run that measured the pair. */
  readonly change?: { readonly ratio: number; readonly cases: number };
}

export function headlineRows(machine: MachineRuns): HeadlineRow[] {
  const latest = byPair(machine.latest);
  const prevRun = machine.runs.length > 1 ? machine.runs[machine.runs.length - 2] : undefined;
  const previous = prevRun ? byPair(prevRun) : new Map<string, Map<string, number>>();
  return [...latest].map(([key, cases]) => {
    const [tessera, peer] = key.split('|') as [string, string];
    const row = { tessera, peer, latest: { value: geomean([...cases.values()]), cases: cases.size } };
    const before = previous.get(key);
    const shared = [...cases.keys()].filter((c) => before?.has(c));
    if (!shared.length) return row;
    const ratio = geomean(shared.map((c) => cases.get(c)!)) / geomean(shared.map((c) => before!.get(c)!));
    return { ...row, change: { ratio, cases: shared.length } };
  }).sort((a, b) => a.tessera.localeCompare(b.tessera) || a.peer.localeCompare(b.peer));
}

/** Unchanged to the shown precision reads as neither better nor worse. */
const trend = (ratio: number): string => (Math.abs(ratio - 1) < 0.0005 ? 'same' : ratio > 1 ? 'faster' : 'slower');

const formatChange = (ratio: number): string => `${ratio >= 1 ? '+' : '−'}${Math.abs((ratio - 1) * 100).toFixed(1)}%`;

/** One line per machine and Tessera backend, one column per peer: the first thing on the page. */
export function headline(machines: readonly MachineRuns[]): HTMLElement {
  const section = el('section', { id: 'headline', class: 'headline' },
    el('h2', {}, 'At a glance: Tessera against each peer, latest run'),
    el('p', { class: 'note' },
      'Geometric mean over the latest run\'s cases of time(peer) / time(Tessera backend): above 1× Tessera is faster; '
      + 'then the number of cases, and the change since the machine\'s previous run over the cases both runs measured.'));
  const all = machines.map((m) => ({ m, rows: headlineRows(m) })).filter((x) => x.rows.length);
  if (!all.length) {
    section.append(el('p', { class: 'notice', 'data-notice': 'no-headline' }, 'No run measured a Tessera backend beside a peer yet.'));
    return section;
  }
  for (const { m, rows } of all) {
    const backends = [...new Set(rows.map((r) => r.tessera))];
    const peers = [...new Set(rows.map((r) => r.peer))].sort();
    section.append(el('h3', {}, `${m.label}, run of ${formatDate(m.latest.date)}`), table(['Tessera backend', ...peers.map((p) => `vs ${p}`)], backends.map((tessera) => [
      el('th', { scope: 'row' }, tessera),
      ...peers.map((peer) => {
        const r = rows.find((x) => x.tessera === tessera && x.peer === peer);
        if (!r) return el('td', { class: 'none', title: `${tessera} and ${peer} share no case` }, '–');
        const change = r.change
          ? el('span', { class: `change ${trend(r.change.ratio)}`, 'data-change': String(r.change.ratio), title: `over the ${r.change.cases} case(s) both runs measured` }, `${formatChange(r.change.ratio)} since previous`)
          : el('span', { class: 'change', 'data-change': '' }, m.runs.length > 1 ? 'not in previous run' : 'first run');
        return el('td', {
          class: 'glance', 'data-machine': m.label, 'data-tessera': tessera, 'data-peer': peer,
          'data-geomean': String(r.latest.value), 'data-cases': String(r.latest.cases),
        }, el('span', { class: `ratio ${r.latest.value >= 1 ? 'faster' : 'slower'}` }, formatRatio(r.latest.value)),
        el('span', { class: 'cases' }, `${r.latest.cases} case${r.latest.cases === 1 ? '' : 's'}`), change);
      }),
    ]), { class: 'glance', 'data-table': 'headline', 'data-machine': m.label }));
  }
  return section;
}
