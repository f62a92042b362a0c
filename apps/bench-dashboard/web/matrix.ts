/** The conformance matrix (op × backend, each cell the statuses of its dtypes) and its per-backend summary. */
import { type ConformanceMatrix, STATUSES, type Status } from './data.js';
import { el, table } from './dom.js';

/** A cell is coloured by its worst status, ranked as conformance/src/matrix.ts ranks them. */
const RANK: Readonly<Record<Status, number>> = { 'not run': 0, unsupported: 1, pass: 2, fail: 3 };

/** `dtype` `*` stands for every dtype (an op not run at all on a backend). */
const ALL_DTYPES = '*';

/** The order a cell lists its statuses in: failures first, as matrix.md does. */
const LISTED: readonly Status[] = ['fail', 'pass', 'unsupported', 'not run'];

const statusClass = (s: Status): string => `status-${s.replace(' ', '-')}`;

type Entry = ConformanceMatrix['entries'][number];

function cell(op: string, backend: string, entries: readonly Entry[]): HTMLTableCellElement {
  if (!entries.length) return el('td', { class: 'none', title: `${op} has no entry for ${backend}` }, '–');
  const worst = entries.reduce((w, e) => (RANK[e.status] > RANK[w] ? e.status : w), entries[0]!.status);
  // One group per status: its dtypes on a line of the cell, its distinct details in the tooltip.
  const groups = LISTED.flatMap((status) => {
    const es = entries.filter((e) => e.status === status);
    if (!es.length) return [];
    const dtypes = es.map((e) => e.dtype).filter((d) => d !== ALL_DTYPES).join(', ');
    return [{ status, dtypes, details: [...new Set(es.flatMap((e) => (e.detail === undefined ? [] : [e.detail])))] }];
  });
  const tooltip = groups.map((g) => [`${g.status}: ${g.dtypes || 'all dtypes'}`, ...g.details.map((d) => `  ${d}`)].join('\n')).join('\n');
  return el('td', { class: `cell ${statusClass(worst)}`, title: tooltip, 'data-op': op, 'data-backend': backend, 'data-status': worst },
    ...groups.map((g) => el('div', { class: 'line' }, el('span', { class: `chip ${statusClass(g.status)}` }, g.status), g.dtypes ? ` ${g.dtypes}` : '')));
}

export function matrixSection(section: HTMLElement, matrix: ConformanceMatrix | null, matrixPath: string): void {
  section.append(el('h2', {}, 'Conformance matrix'));
  if (matrix === null) {
    section.append(el('p', { class: 'notice', 'data-notice': 'no-matrix' },
      `No conformance matrix: ${matrixPath} does not exist. \`npm test\` writes it (the conformance suite); then rebuild this page.`));
    return;
  }
  const backends = [...new Set(matrix.entries.map((e) => e.backend))].sort();
  const ops = [...new Set(matrix.entries.map((e) => e.op))].sort();
  section.append(
    el('p', { class: 'note' }, `From ${matrixPath}, seed ${matrix.seed}, ${matrix.date}. Each cell lists the dtypes tested per status; hover for details.`),
    el('h3', {}, 'Per backend'),
    table(['backend', ...STATUSES.map((s) => el('span', { class: `chip ${statusClass(s)}` }, s))],
      Object.entries(matrix.summary).map(([backend, counts]) => [
        backend, ...STATUSES.map((s) => el('td', { class: 'num', 'data-backend': backend, 'data-status': s }, String(counts[s]))),
      ]), { class: 'summary', 'data-table': 'conformance-summary' }),
    el('h3', {}, 'Op × backend'),
  );
  const grid = table(['op', ...backends], ops.map((op) => [
    el('th', { scope: 'row' }, op),
    ...backends.map((b) => cell(op, b, matrix.entries.filter((e) => e.op === op && e.backend === b))),
  ]), { class: 'matrix', 'data-table': 'conformance' });
  section.append(filters(grid, backends), grid);
}

/**
 * Filters over the table: one backend's column, ops whose name contains a text, and ops with a status
 * on a shown backend (a cell lists every status of its dtypes, so a mixed cell matches each of them).
 */
function filters(grid: HTMLTableElement, backends: readonly string[]): HTMLElement {
  const backend = el('select', { name: 'backend', 'aria-label': 'backend' }, el('option', { value: '' }, 'all backends'), ...backends.map((b) => el('option', { value: b }, b)));
  const op = el('input', { name: 'op', type: 'search', placeholder: 'op name contains', 'aria-label': 'op' });
  const status = el('select', { name: 'status', 'aria-label': 'status' }, el('option', { value: '' }, 'any status'), ...STATUSES.map((s) => el('option', { value: s }, s)));
  const count = el('span', { class: 'note', 'data-count': '' });
  const apply = (): void => {
    const columns = backends.map((b) => !backend.value || b === backend.value);
    grid.querySelectorAll('thead th').forEach((th, i) => { (th as HTMLElement).hidden = i > 0 && !columns[i - 1]; });
    let shown = 0;
    for (const row of grid.tBodies[0]!.rows) {
      const cells = [...row.querySelectorAll<HTMLTableCellElement>('td')];
      cells.forEach((c, i) => { c.hidden = !columns[i]; });
      const name = row.querySelector('th')!.textContent ?? '';
      const hasStatus = !status.value || cells.some((c, i) => columns[i] && [...c.querySelectorAll('.chip')].some((chip) => chip.textContent === status.value));
      row.hidden = !name.includes(op.value.trim()) || !hasStatus;
      if (!row.hidden) shown++;
    }
    count.textContent = `${shown} of ${grid.tBodies[0]!.rows.length} ops shown`;
  };
  for (const input of [backend, status]) input.addEventListener('change', apply);
  op.addEventListener('input', apply);
  apply();
  return el('form', { class: 'filters', 'data-form': 'conformance-filter' }, el('label', {}, 'backend ', backend), el('label', {}, 'op ', op), el('label', {}, 'status ', status), count);
}
