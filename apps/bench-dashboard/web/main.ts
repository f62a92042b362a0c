/**
 * The dashboard: fetches data.json (collected by src/collect.ts: at build time, or per request by
 * `tessera serve`) and draws the headline speedups, then per machine the latest run's speedups and
 * throughput and the history over commits, the conformance matrix, and the kernel explorer.
 * `<html data-state>` turns `ready` once everything is drawn (or `error`), for the browser test.
 */
import type { DashboardData, Run } from './data.js';
import { el, table } from './dom.js';
import { formatDate, shortCommit } from './format.js';
import { explorerSection } from './explorer.js';
import { headline } from './headline.js';
import { historyPanels } from './history.js';
import { groupByMachine, type MachineRuns } from './machines.js';
import { matrixSection } from './matrix.js';
import { isTessera, speedupPanels } from './speedups.js';
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
  if (latest.machine.gpu !== undefined) section.append(gpuPeers(latest, latest.machine.gpu));
  // Full width: a suite can have half a dozen peers, one bar and one table column each.
  speedupPanels(grid('wide'), latest);
  const configs = configTable(latest);
  if (configs) section.append(el('h3', {}, 'How each impl ran, latest run'), configs);
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

/** Each impl's recorded configurations (threads, BLAS, execution provider) in the run; undefined when the run recorded none. */
function configTable(run: Run): HTMLElement | undefined {
  const byImpl = new Map<string, Set<string>>();
  for (const m of run.measurements) {
    if (!m.config) continue;
    const text = Object.entries(m.config).map(([k, v]) => `${k} ${String(v)}`).join(', ');
    byImpl.set(m.impl, (byImpl.get(m.impl) ?? new Set()).add(text));
  }
  if (!byImpl.size) return undefined;
  return table(['impl', 'configuration'], [...byImpl].map(([impl, texts]) => [impl, el('td', { 'data-impl-config': impl }, [...texts].join('; '))]), { class: 'numbers', 'data-table': 'impl-config' });
}

/** Impls that run on a GPU, by name: Tessera's GPU backends and peers named for their device API. */
const GPU_IMPL = /webgpu|webgl|gpujs|cuda|rocm|metal/;

/** Which peers ran on the run's GPU, or a plain statement that none did. */
function gpuPeers(run: Run, gpu: string): HTMLElement {
  const peers = [...new Set(run.measurements.map((m) => m.impl))].filter((i) => !isTessera(i) && GPU_IMPL.test(i));
  const others = [...new Set(run.measurements.map((m) => m.impl))].filter((i) => !GPU_IMPL.test(i));
  if (peers.length) return el('p', { class: 'note', 'data-notice': 'gpu-peers' }, `Peers measured on this GPU (${gpu}) in the latest run: ${peers.join(', ')}.`);
  return el('p', { class: 'notice', 'data-notice': 'no-gpu-peers' },
    `No peer was measured on this GPU (${gpu}): the results hold no other framework's figures for it, so the speedups below compare `
    + `Tessera's GPU backend only with ${others.length ? `the CPU impls of the same run (${others.join(', ')})` : 'nothing else'}.`);
}

async function render(root: HTMLElement, data: DashboardData): Promise<void> {
  const machines = groupByMachine(data.runs);
  root.append(
    el('header', {},
      el('h1', {}, 'Tessera benchmarks'),
      el('p', { class: 'note' },
        `${data.runs.length} full run${data.runs.length === 1 ? '' : 's'} from ${data.resultsDir} (smoke runs, *.tmp.json, left out), `
        + `conformance from ${data.matrixPath}; collected ${formatDate(data.collected)}. Compare numbers within one machine only.`),
      el('nav', {}, el('a', { href: '#headline' }, 'At a glance'), ...machines.map((m, i) => el('a', { href: `#machine-${i}` }, m.label)),
        el('a', { href: '#conformance' }, 'Conformance matrix'), el('a', { href: '#explorer' }, 'Kernel explorer'))),
    headline(machines),
  );
  if (!machines.length) {
    root.append(el('p', { class: 'notice', 'data-notice': 'no-runs' },
      `No full benchmark runs in ${data.resultsDir}. \`npx nx run bench-dashboard:bench\` writes one.`));
  }
  machines.forEach((m, i) => machineSection(root, m, `machine-${i}`));
  const conformance = el('section', { id: 'conformance' });
  root.append(conformance);
  matrixSection(conformance, data.matrix, data.matrixPath);
  const explorer = el('section', { id: 'explorer' });
  root.append(explorer);
  // The benchmark sections stand without the kernel API, so its failure is shown in its own section.
  await explorerSection(explorer, data.api).catch((e: unknown) => {
    explorer.append(el('p', { class: 'notice error', 'data-notice': 'explorer-error' }, `The kernel explorer could not load: ${e instanceof Error ? e.message : String(e)}`));
  });
}

const root = document.getElementById('app')!;
load()
  .then(async (data) => {
    await render(root, data);
    document.documentElement.dataset['state'] = 'ready';
  })
  .catch((e: unknown) => {
    root.append(el('p', { class: 'notice error' }, `The dashboard could not be drawn: ${e instanceof Error ? e.message : String(e)}`));
    document.documentElement.dataset['state'] = 'error';
  });
