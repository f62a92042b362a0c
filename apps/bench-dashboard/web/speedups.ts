/** How much faster each Tessera backend is than the other impls measured in the same run. */
import { drawChart, implColor } from './charts.js';
import { SUITES, type Run, type Suite } from './data.js';
import { el, table } from './dom.js';
import { formatRatio, formatTick, sig3 } from './format.js';
import { SUITE_TITLES } from './metrics.js';

/** Tessera backends in the order they are compared with each other: each against the ones before it. */
const TESSERA_ORDER = ['tessera-js', 'tessera-native', 'tessera-webgpu'];

export const isTessera = (impl: string): boolean => impl.startsWith('tessera-');

const rank = (impl: string): number => {
  const i = TESSERA_ORDER.indexOf(impl);
  return i < 0 ? TESSERA_ORDER.length : i;
};

export interface Speedup {
  readonly suite: Suite;
  readonly case: string;
  readonly tessera: string;
  readonly peer: string;
  /** time(peer) / time(Tessera): > 1 when Tessera is faster. */
  readonly value: number;
  readonly tesseraUs: number;
  readonly peerUs: number;
}

/**
 * Per case of the run, each Tessera backend against every non-Tessera impl and against the Tessera
 * backends before it in TESSERA_ORDER (native against js, as the bench CLI's table does).
 */
export function speedups(run: Run): Speedup[] {
  const out: Speedup[] = [];
  for (const name of new Set(run.measurements.map((m) => m.case))) {
    const ms = run.measurements.filter((m) => m.case === name);
    const tessera = ms.filter((m) => isTessera(m.impl)).sort((a, b) => rank(a.impl) - rank(b.impl));
    for (const t of tessera) {
      for (const p of ms) {
        if (isTessera(p.impl) && rank(p.impl) >= rank(t.impl)) continue;
        out.push({ suite: t.suite, case: name, tessera: t.impl, peer: p.impl, value: p.meanUs / t.meanUs, tesseraUs: t.meanUs, peerUs: p.meanUs });
      }
    }
  }
  return out;
}

interface Row { readonly case: string; readonly tessera: string }

/** One panel per suite of the run: a bar chart (bars grow from 1, up when Tessera is faster) and the numbers. */
export function speedupPanels(grid: HTMLElement, run: Run): void {
  const all = speedups(run);
  for (const suite of SUITES) {
    const ss = all.filter((s) => s.suite === suite);
    if (!ss.length) continue;
    // One row per case and Tessera backend, one column per peer.
    const rows = [...new Map(ss.map((s) => [`${s.case}/${s.tessera}`, { case: s.case, tessera: s.tessera }])).values()];
    const peers = [...new Set(ss.map((s) => s.peer))];
    const at = (row: Row, peer: string): Speedup | undefined => ss.find((s) => s.case === row.case && s.tessera === row.tessera && s.peer === peer);
    const panel = el('div', { class: 'panel' });
    grid.append(panel);
    drawChart(panel, {
      id: `speedup:${suite}`,
      type: 'bar',
      title: `${SUITE_TITLES[suite]}: Tessera speedup over each peer`,
      subtitle: 'time(peer) / time(Tessera), log scale: above 1 Tessera is faster',
      xTitle: 'case / Tessera backend',
      yTitle: 'speedup, time(peer) / time(Tessera)',
      yScale: 'logarithmic',
      yReference: 1,
      labels: rows.map((r) => [r.case, r.tessera]),
      datasets: peers.map((peer) => ({
        label: `vs ${peer}`,
        // Floating bars from 1 to the ratio, so a slower Tessera backend reads as a bar pointing down.
        data: rows.map((r) => {
          const s = at(r, peer);
          return s === undefined ? null : ([1, s.value] as [number, number]);
        }),
        backgroundColor: implColor(peer),
      })),
      yTick: (v) => `${formatTick(v)}×`,
      tooltip: (d, i) => {
        const s = at(rows[i]!, peers[d]!)!;
        return `vs ${s.peer}: ${formatRatio(s.value)} (${sig3(s.peerUs)} µs / ${sig3(s.tesseraUs)} µs)`;
      },
    });
    panel.append(table(['case', 'Tessera backend', ...peers.map((p) => `vs ${p}`)], rows.map((r) => [
      r.case, r.tessera,
      ...peers.map((peer) => {
        const s = at(r, peer);
        if (s === undefined) return el('td', { class: 'none', title: `${peer} was not measured on ${r.case}` }, '–');
        return el('td', {
          class: `num ${s.value >= 1 ? 'faster' : 'slower'}`, title: `${sig3(s.peerUs)} µs / ${sig3(s.tesseraUs)} µs`,
          'data-case': s.case, 'data-tessera': s.tessera, 'data-peer': s.peer, 'data-value': String(s.value),
        }, formatRatio(s.value));
      }),
    ]), { class: 'numbers', 'data-table': `speedup:${suite}` }));
  }
}
