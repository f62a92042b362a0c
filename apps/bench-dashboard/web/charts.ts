/**
 * Chart.js, set up once for the page, and the one way the page draws a chart: a `ChartSpec` has no
 * optional title or axis labels, so no chart can be drawn without them.
 */
import {
  BarController, BarElement, CategoryScale, Chart, type ChartConfiguration, type ChartDataset, Legend, LinearScale, LineController, LineElement,
  LogarithmicScale, PointElement, SubTitle, Title, Tooltip,
} from 'chart.js';
import { el } from './dom.js';

Chart.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement, LogarithmicScale, PointElement, SubTitle, Title, Tooltip);
// Drawn in full on creation: screenshots and the browser test see finished charts.
Chart.defaults.animation = false;
Chart.defaults.font.family = 'system-ui, sans-serif';

/** One colour per impl on every chart; Tessera in blues and greens, peers in warm colours. */
const IMPL_COLORS: Readonly<Record<string, string>> = {
  'tessera-js': '#4e79a7', 'tessera-native': '#2f9e94', 'tessera-webgpu': '#59a14f',
  'tfjs-cpu': '#f28e2b', 'tfjs-wasm': '#edc948', onnxruntime: '#d37295', 'plain-js': '#9c755f',
  pytorch: '#e15759', 'pytorch-refblas': '#ff9da7', 'pytorch-openblas': '#b07aa1',
};
const SPARE_COLORS = ['#b6992d', '#499894', '#8cd17d', '#a0cbe8'];

export function implColor(impl: string): string {
  const known = IMPL_COLORS[impl];
  if (known !== undefined) return known;
  // Unknown impls (a new peer) still get a stable colour.
  let h = 0;
  for (const c of impl) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return SPARE_COLORS[h % SPARE_COLORS.length]!;
}

export type Scale = 'linear' | 'logarithmic';

export interface ChartSpec<T extends 'bar' | 'line'> {
  /** `data-chart` of the canvas, e.g. `speedup:matmul`. */
  readonly id: string;
  readonly type: T;
  readonly title: string;
  /** How to read the chart (scale, which way is better), under the title. */
  readonly subtitle: string;
  readonly xTitle: string;
  readonly yTitle: string;
  readonly yScale: Scale;
  /** An array label is drawn on several lines. */
  readonly labels: readonly (string | string[])[];
  readonly datasets: ChartDataset<T>[];
  readonly yTick: (v: number) => string;
  /** Tooltip line for one point. */
  readonly tooltip: (datasetIndex: number, index: number) => string;
  /** A y value whose grid line is drawn darker (1 on ratio charts). */
  readonly yReference?: number;
}

/** Log axes label only 1, 2 and 5 times a power of ten, as Chart.js's own log formatter does. */
function logTick(format: (v: number) => string): (v: number) => string {
  return (v) => ([1, 2, 5].includes(Math.round(v / 10 ** Math.floor(Math.log10(v)))) ? format(v) : '');
}

/** Appends a canvas to `parent` (which must be in the document, so the chart has a size) and draws on it. */
export function drawChart<T extends 'bar' | 'line'>(parent: HTMLElement, spec: ChartSpec<T>): void {
  const canvas = el('canvas', { role: 'img', 'aria-label': spec.title, 'data-chart': spec.id });
  parent.append(el('div', { class: 'chart' }, canvas));
  const tick = spec.yScale === 'logarithmic' ? logTick(spec.yTick) : spec.yTick;
  const config: ChartConfiguration<'bar' | 'line'> = {
    type: spec.type,
    data: { labels: [...spec.labels], datasets: spec.datasets as ChartDataset<'bar' | 'line'>[] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      // Full-width charts with few cases would otherwise draw bars hundreds of pixels wide.
      datasets: { bar: { maxBarThickness: 40 } },
      plugins: {
        title: { display: true, text: spec.title, color: '#222', font: { size: 14, weight: 'bold' } },
        subtitle: { display: true, text: spec.subtitle, color: '#5f6368', padding: { bottom: 8 } },
        legend: { position: 'bottom', labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (item) => spec.tooltip(item.datasetIndex, item.dataIndex) } },
      },
      scales: {
        x: { title: { display: true, text: spec.xTitle } },
        y: {
          type: spec.yScale,
          title: { display: true, text: spec.yTitle },
          ticks: { callback: (v) => tick(Number(v)) },
          grid: { color: (ctx) => (ctx.tick?.value === spec.yReference ? '#555' : 'rgba(0, 0, 0, 0.1)') },
        },
      },
    },
  };
  new Chart(canvas, config);
}
