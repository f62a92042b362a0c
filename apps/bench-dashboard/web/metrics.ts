/**
 * What a measurement is shown in: its throughput where the results carry one (GFLOPS for matmul and
 * conv2d, GB/s for memory-bound ops), its time otherwise (dispatch, training steps).
 */
import type { Measurement, Suite } from './data.js';

export interface Metric {
  /** Part of chart ids. */
  readonly key: 'gflops' | 'gbps' | 'time';
  /** Axis label, unit included. */
  readonly label: string;
  readonly unit: string;
  /** Throughputs are; times are not. */
  readonly higherIsBetter: boolean;
}

interface TimeMetric extends Metric { readonly usPerUnit: number }

export interface Figure {
  readonly metric: Metric;
  readonly value: number;
}

const GFLOPS: Metric = { key: 'gflops', label: 'GFLOPS (flops / time)', unit: 'GFLOPS', higherIsBetter: true };
const GBPS: Metric = { key: 'gbps', label: 'GB/s (bytes read + written / time)', unit: 'GB/s', higherIsBetter: true };
const MICROSECONDS: TimeMetric = { key: 'time', label: 'time per call (µs)', unit: 'µs', higherIsBetter: false, usPerUnit: 1 };
const MILLISECONDS: TimeMetric = { key: 'time', label: 'time per call (ms)', unit: 'ms', higherIsBetter: false, usPerUnit: 1000 };

/** Dispatch calls take under a microsecond; every other suite's calls are read in milliseconds. */
const TIME: Readonly<Record<Suite, TimeMetric>> = {
  dispatch: MICROSECONDS, matmul: MILLISECONDS, elementwise: MILLISECONDS, ops: MILLISECONDS, 'train-step': MILLISECONDS,
};

export function figure(m: Measurement): Figure {
  if (m.gflops !== undefined) return { metric: GFLOPS, value: m.gflops };
  if (m.gbps !== undefined) return { metric: GBPS, value: m.gbps };
  const time = TIME[m.suite];
  return { metric: time, value: m.meanUs / time.usPerUnit };
}

export const SUITE_TITLES: Readonly<Record<Suite, string>> = {
  dispatch: 'Dispatch (16-element add)',
  matmul: 'Matmul (n×n×n, f32)',
  elementwise: 'Elementwise (4M f32 elements)',
  ops: 'Ops (softmax, sum, conv2d)',
  'train-step': 'Training step',
};
