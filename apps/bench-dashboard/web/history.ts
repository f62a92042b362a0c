/** Each Tessera backend's figure per case over the machine's runs, oldest first, labelled by commit. */
import { drawChart, implColor, type Scale } from './charts.js';
import { SUITES, type Measurement, type Suite } from './data.js';
import { el } from './dom.js';
import { formatShortDate, formatTick, shortCommit, sig3 } from './format.js';
import type { MachineRuns } from './machines.js';
import { figure, type Metric, SUITE_TITLES } from './metrics.js';
import { isTessera } from './speedups.js';

/** Cases of one suite share a chart: the impl gives a line its colour, the case its dash and point style. */
const CASE_STYLES: readonly { readonly dash: number[]; readonly point: 'circle' | 'rect' | 'triangle' | 'rectRot' }[] = [
  { dash: [], point: 'circle' }, { dash: [6, 3], point: 'rect' }, { dash: [2, 3], point: 'triangle' }, { dash: [10, 3, 2, 3], point: 'rectRot' },
];

/** Beyond this max/min ratio a linear axis flattens the slower lines into the floor. */
const LOG_SPREAD = 20;

/** One chart per suite and unit (the ops suite has both GB/s and GFLOPS cases). */
export function historyPanels(grid: HTMLElement, machine: MachineRuns): void {
  for (const suite of SUITES) {
    const metrics = new Set(machine.runs.flatMap((r) => r.measurements.filter((m) => m.suite === suite && isTessera(m.impl)).map((m) => figure(m).metric)));
    for (const metric of metrics) historyPanel(grid, machine, suite, metric);
  }
}

function historyPanel(grid: HTMLElement, machine: MachineRuns, suite: Suite, metric: Metric): void {
  const shown = (m: Measurement): boolean => m.suite === suite && isTessera(m.impl) && figure(m).metric === metric;
  const runs = machine.runs.filter((r) => r.measurements.some(shown));
  const keys = new Map(runs.flatMap((r) => r.measurements.filter(shown)).map((m) => [`${m.case}/${m.impl}`, { case: m.case, impl: m.impl }]));
  const cases = [...new Set([...keys.values()].map((k) => k.case))];
  const series = [...keys.values()].map((k) => ({
    ...k, points: runs.map((r) => r.measurements.find((m) => shown(m) && m.case === k.case && m.impl === k.impl)),
  }));
  const values = series.flatMap((s) => s.points.flatMap((m) => (m === undefined ? [] : [figure(m).value])));
  const yScale: Scale = Math.max(...values) / Math.min(...values) > LOG_SPREAD ? 'logarithmic' : 'linear';
  const panel = el('div', { class: 'panel' });
  grid.append(panel);
  drawChart(panel, {
    id: `history:${suite}:${metric.key}`,
    type: 'line',
    title: `${SUITE_TITLES[suite]}, ${metric.unit}: Tessera backends per run`,
    subtitle: `${metric.higherIsBetter ? 'higher' : 'lower'} is better${yScale === 'logarithmic' ? '; log scale' : ''}`,
    xTitle: 'run: commit and date (UTC), oldest first',
    yTitle: metric.label,
    yScale,
    labels: runs.map((r) => [shortCommit(r.commit), formatShortDate(r.date)]),
    datasets: series.map((s) => {
      const style = CASE_STYLES[cases.indexOf(s.case) % CASE_STYLES.length]!;
      return {
        label: `${s.impl} · ${s.case}`,
        data: s.points.map((m) => (m === undefined ? null : figure(m).value)),
        borderColor: implColor(s.impl),
        backgroundColor: implColor(s.impl),
        borderDash: style.dash,
        pointStyle: style.point,
        pointRadius: 4,
      };
    }),
    yTick: formatTick,
    tooltip: (d, i) => {
      const s = series[d]!;
      const m = s.points[i]!;
      return `${s.impl} · ${s.case}: ${sig3(figure(m).value)} ${metric.unit} (±${m.rme.toFixed(1)}%)`;
    },
  });
}
