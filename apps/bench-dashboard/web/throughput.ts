/**
 * Throughput against the machine's best: the results hold no theoretical hardware peak, so 100% is the
 * best figure any impl reached for the suite in any run on the machine, and the page says so.
 */
import { drawChart, implColor } from './charts.js';
import { SUITES, type Measurement, type Run, type Suite } from './data.js';
import { el, table } from './dom.js';
import { formatDate, formatPercent, shortCommit, sig3 } from './format.js';
import type { MachineRuns } from './machines.js';
import { figure, type Metric, SUITE_TITLES } from './metrics.js';

interface Best {
  readonly value: number;
  readonly measurement: Measurement;
  readonly run: Run;
}

/** The highest figure in `metric` measured for `suite` in `runs`, over every impl and case. */
function bestMeasured(runs: readonly Run[], suite: Suite, metric: Metric): Best | undefined {
  let best: Best | undefined;
  for (const run of runs) {
    for (const m of run.measurements.filter((x) => x.suite === suite)) {
      const f = figure(m);
      if (f.metric === metric && (best === undefined || f.value > best.value)) best = { value: f.value, measurement: m, run };
    }
  }
  return best;
}

/**
 * One panel per suite and throughput unit of the latest run (the ops suite has both GB/s and GFLOPS
 * cases): every impl's figure as a share of the machine's best.
 */
export function throughputPanels(grid: HTMLElement, machine: MachineRuns): void {
  for (const suite of SUITES) {
    const byMetric = new Map<Metric, Measurement[]>();
    for (const m of machine.latest.measurements.filter((x) => x.suite === suite)) {
      const { metric } = figure(m);
      if (metric.higherIsBetter) byMetric.set(metric, [...(byMetric.get(metric) ?? []), m]);
    }
    for (const [metric, ms] of byMetric) throughputPanel(grid, machine, suite, metric, ms);
  }
}

function throughputPanel(grid: HTMLElement, machine: MachineRuns, suite: Suite, metric: Metric, ms: readonly Measurement[]): void {
  // The latest run is one of machine.runs, so there is a best.
  const best = bestMeasured(machine.runs, suite, metric)!;
  const { unit } = metric;
  const cases = [...new Set(ms.map((m) => m.case))];
  const impls = [...new Set(ms.map((m) => m.impl))];
  const at = (impl: string, name: string): Measurement | undefined => ms.find((m) => m.impl === impl && m.case === name);
  const share = (m: Measurement): number => figure(m).value / best.value;
  const panel = el('div', { class: 'panel' });
  grid.append(panel);
  drawChart(panel, {
    id: `throughput:${suite}:${metric.key}`,
    type: 'bar',
    title: `${SUITE_TITLES[suite]}: ${unit} against this machine's best`,
    subtitle: `100% = ${sig3(best.value)} ${unit}, the best measured on this machine (not a hardware peak)`,
    xTitle: 'case',
    yTitle: '% of best measured on this machine',
    yScale: 'linear',
    labels: cases,
    datasets: impls.map((impl) => ({
      label: impl,
      data: cases.map((c) => {
        const m = at(impl, c);
        return m === undefined ? null : share(m) * 100;
      }),
      backgroundColor: implColor(impl),
    })),
    yTick: (v) => `${v}%`,
    tooltip: (d, i) => {
      const m = at(impls[d]!, cases[i]!)!;
      return `${m.impl}: ${sig3(figure(m).value)} ${unit} = ${formatPercent(share(m))} of best`;
    },
  });
  const b = best.measurement;
  panel.append(
    el('p', { class: 'note' },
      `100% = ${sig3(best.value)} ${unit}, reached by ${b.impl} on ${b.case} at commit ${shortCommit(best.run.commit)} (${formatDate(best.run.date)}): `
      + 'the best figure for this suite in any run on this machine, not a hardware peak.'),
    table(['impl', ...cases], impls.map((impl) => [
      impl,
      ...cases.map((c) => {
        const m = at(impl, c);
        if (m === undefined) return el('td', { class: 'none' }, '–');
        return el('td', { class: 'num', 'data-impl': impl, 'data-case': c, 'data-share': String(share(m)) },
          `${sig3(figure(m).value)} ${unit} (${formatPercent(share(m))})`);
      }),
    ]), { class: 'numbers', 'data-table': `throughput:${suite}:${metric.key}` }),
  );
}
