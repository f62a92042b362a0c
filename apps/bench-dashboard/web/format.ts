/** How numbers, dates and commits read on the page. */

/** Three significant digits, without switching to exponent notation from 1000 up. */
export function sig3(v: number): string {
  return Math.abs(v) >= 999.5 ? v.toFixed(0) : v.toPrecision(3);
}

export const formatRatio = (v: number): string => `${sig3(v)}×`;

/** Axis ticks: three significant digits without trailing zeros (`1`, `0.2`, `50`). */
export const formatTick = (v: number): string => String(Number(v.toPrecision(3)));

export const formatPercent = (share: number): string => `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;

/** Results carry `git rev-parse HEAD`, or `uncommitted`. */
export const shortCommit = (commit: string): string => (/^[0-9a-f]{40}$/.test(commit) ? commit.slice(0, 7) : commit);

/** UTC, so the page reads the same in every timezone: `2026-11-23 05:17 UTC`. */
export const formatDate = (iso: string): string => `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** Month, day and time (UTC): enough to tell runs apart on a chart axis. */
export const formatShortDate = (iso: string): string => new Date(iso).toISOString().slice(5, 16).replace('T', ' ');
