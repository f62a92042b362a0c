/**
 * The dashboard: fetches data.json (collected at build time by src/collect.ts) and draws, per machine,
 * the latest run's speedups and throughput and the history over commits, then the conformance matrix.
 * `<html data-state>` turns `ready` once everything is drawn (or `error`), for the browser test.
 */
import type { DashboardData } from './data.js';
import { el } from './dom.js';
import { formatDate, shortCommit } from './format.js';
import { historyPanels } from './history.js';
import { groupByMachine, type MachineRuns } from './machines.js';
import { matrixSection } from './matrix.js';
import { speedupPanels } from './speedups.js';
import { throughputPanels } from './throughput.js';

async function load(): Promise<DashboardData> {
  const res = await fetch('data.json');
  if (!res.ok) throw new Error(`data.json: HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as DashboardData;
}

/** Sections are attached before their charts are drawn: Chart.js sizes a chart from its container. */
function machineSection(root: HTMLElement, machine: MachineRuns, id: string): void {
  const { latest, runs } = machine;
  const section = el('section', { id, class: 'machine', 'data-machine': machine.label });
  root.append(section);
  const grid = (kind: 'wide' | 'half'): HTMLElement => {
    const g = el('div', { class: `grid ${kind}` });
    section.append(g);
    return g;
  };
  section.append(
    el('h2', {}, machine.label),
    el('p', { class: 'note' },
      `${runs.length} full run${runs.length === 1 ? '' : 's'} from ${formatDate(runs[0]!.date)} to ${formatDate(latest.date)}. `
      + `Latest: commit ${shortCommit(latest.commit)}, ${formatDate(latest.date)}, Node ${latest.machine.node}${latest.machine.simd ? `, native SIMD ${latest.machine.simd}` : ''} (${latest.file}).`),
    el('h3', {}, 'Speedup of Tessera over peers, latest run'),
    el('p', { class: 'note' },
      'time(peer) / time(Tessera backend), both measured in the latest run: above 1 Tessera is faster, below 1 the peer is. '
      + 'tessera-native is also compared with tessera-js, and tessera-webgpu with both.'),
  );
  // Full width: a suite can have half a dozen peers, one bar and one table column each.
  speedupPanels(grid('wide'), latest);
  section.append(
    el('h3', {}, 'Throughput against the best measured on this machine, latest run'),
    el('p', { class: 'note' },
      'The results record no theoretical hardware peak, so 100% is the best figure measured on this machine for the suite '
      + '(any impl, any run): a share of what was reached, not of what the hardware could do.'),
  );
  throughputPanels(grid('half'), machine);
  section.append(el('h3', {}, 'History over commits'), el('p', { class: 'note' }, 'Each Tessera backend per case, one point per run on this machine.'));
  historyPanels(grid('half'), machine);
}

function render(root: HTMLElement, data: DashboardData): void {
  const machines = groupByMachine(data.runs);
  root.append(
    el('header', {},
      el('h1', {}, 'Tessera benchmarks'),
      el('p', { class: 'note' },
        `${data.runs.length} full run${data.runs.length === 1 ? '' : 's'} from ${data.resultsDir} (smoke runs, *.tmp.json, left out), `
        + `conformance from ${data.matrixPath}; collected ${formatDate(data.collected)}. Compare numbers within one machine only.`),
      el('nav', {}, ...machines.map((m, i) => el('a', { href: `#machine-${i}` }, m.label)), el('a', { href: '#conformance' }, 'Conformance matrix'))),
  );
  if (!machines.length) {
    root.append(el('p', { class: 'notice', 'data-notice': 'no-runs' },
      `No full benchmark runs in ${data.resultsDir}. \`npx nx run bench-dashboard:bench\` writes one.`));
  }
  machines.forEach((m, i) => machineSection(root, m, `machine-${i}`));
  const conformance = el('section', { id: 'conformance' });
  root.append(conformance);
  matrixSection(conformance, data.matrix, data.matrixPath);
}

const root = document.getElementById('app')!;
load()
  .then((data) => {
    render(root, data);
    document.documentElement.dataset['state'] = 'ready';
  })
  .catch((e: unknown) => {
    root.append(el('p', { class: 'notice error' }, `The dashboard could not be drawn: ${e instanceof Error ? e.message : String(e)}`));
    document.documentElement.dataset['state'] = 'error';
  });
