/** A small element builder, so the page is assembled as nested calls rather than statement ladders. */

export type Child = Node | string;

/** `attrs` are set as attributes (`class`, `title`, `data-*`, ...); children are appended in order. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Readonly<Record<string, string>> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** A table with one header row; each row is a list of cells, plain text or prepared `<td>`/`<th>` elements. */
export function table(head: readonly Child[], rows: readonly (readonly (Child | HTMLTableCellElement)[])[], attrs: Readonly<Record<string, string>> = {}): HTMLTableElement {
  const cell = (c: Child | HTMLTableCellElement): HTMLTableCellElement => (c instanceof HTMLTableCellElement ? c : el('td', {}, c));
  return el('table', attrs,
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows.map((row) => el('tr', {}, ...row.map(cell)))));
}
