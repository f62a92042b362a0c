/**
 * The kernel explorer: pick an op, a dtype and backends, and see each backend's generated kernel side
 * by side with the op's IR. Its choice lives in the page's query string (`?op=&dtype=&backend=&rank=`),
 * so a view can be linked; whatever the query holds goes to the API unchecked, and the API's error
 * message is shown as it is.
 */
import { type ApiMode, ApiRequestError, type IrNode, type SpecsBody, fetchKernels, fetchSpecs } from './api.js';
import { el } from './dom.js';

const DEFAULT = { op: 'sigmoid', dtype: 'float32', rank: '1' };

/** The IR as an indented tree: one node a line, arguments below their op. */
export function irLines(n: IrNode, depth = 0): string[] {
  const pad = '  '.repeat(depth);
  if (n.kind === 'op') return [`${pad}${n.op}: ${n.dtype}`, ...(n.args ?? []).flatMap((a) => irLines(a, depth + 1))];
  const label = n.kind === 'input' ? `x${n.index}` : n.kind === 'param' ? `param ${n.name}` : String(n.value);
  return [`${pad}${label}: ${n.dtype}`];
}

function irBlock(spec: SpecsBody['specs'][number] | undefined): HTMLElement {
  const box = el('div', { class: 'kernel ir' }, el('h4', {}, 'IR (from the op spec)'));
  if (!spec?.ir) return (box.append(el('p', { class: 'note' }, spec ? `${spec.name} has no IR of its own` : 'unknown op')), box);
  for (const [part, node] of Object.entries(spec.ir)) {
    if (typeof node === 'string') continue;
    box.append(el('div', { class: 'note' }, `${part} (${spec.ir['dtype'] as string})`), el('pre', { 'data-ir': part }, irLines(node).join('\n')));
  }
  return box;
}

export async function explorerSection(section: HTMLElement, mode: ApiMode | undefined): Promise<void> {
  section.append(el('h2', {}, 'Kernel explorer'));
  if (!mode) {
    section.append(el('p', { class: 'notice', 'data-notice': 'no-api' }, 'The kernel explorer reads the kernel API: open this page through `npx tessera serve` (or `npm run dashboard`), or a `tessera serve --export` folder.'));
    return;
  }
  const specs = await fetchSpecs(mode);
  const generated = specs.specs.filter((s) => s.generated);
  const params = new URLSearchParams(location.search);
  const chosen = {
    op: params.get('op') ?? DEFAULT.op, dtype: params.get('dtype') ?? DEFAULT.dtype, rank: params.get('rank') ?? DEFAULT.rank,
    backends: params.get('backend')?.split(',') ?? specs.backends.map((b) => b.name),
  };

  const opSelect = el('select', { name: 'op', 'aria-label': 'op' }, ...generated.map((s) => el('option', { value: s.name }, s.name)));
  const dtypeSelect = el('select', { name: 'dtype', 'aria-label': 'dtype' });
  const rankInput = el('input', { name: 'rank', type: 'number', min: '1', max: '8', value: chosen.rank, 'aria-label': 'rank', ...(mode === 'static' ? { disabled: '', title: 'an export holds rank 1 only' } : {}) });
  const boxes = specs.backends.map((b) => el('input', { type: 'checkbox', name: 'backend', value: b.name, ...(chosen.backends.includes(b.name) ? { checked: '' } : {}) }));
  const out = el('div', { class: 'kernels', 'data-kernels': '' });
  section.append(
    el('p', { class: 'note' }, `Each backend's emitter renders the op's IR; native is the Rust the addon compiles. ${mode === 'static' ? 'From a static export (rank 1).' : 'From the live API (GET api/kernel).'}`),
    el('form', { class: 'explorer', 'data-form': 'explorer' },
      el('label', {}, 'op ', opSelect), el('label', {}, 'dtype ', dtypeSelect), el('label', {}, 'rank ', rankInput),
      ...specs.backends.map((b, i) => el('label', { class: 'backend' }, boxes[i]!, ` ${b.name} (${b.language})`))),
    out);

  const fillDtypes = (op: string, want: string): void => {
    const dtypes = generated.find((s) => s.name === op)?.dtypes ?? [want];
    dtypeSelect.replaceChildren(...dtypes.map((d) => el('option', { value: d }, d)));
    // A dtype the op does not take stays selectable, so the API says why it is refused.
    if (!dtypes.includes(want)) dtypeSelect.append(el('option', { value: want }, want));
    dtypeSelect.value = want;
  };
  if (!generated.some((s) => s.name === chosen.op)) opSelect.append(el('option', { value: chosen.op }, chosen.op));
  opSelect.value = chosen.op;
  fillDtypes(chosen.op, chosen.dtype);

  let request = 0;
  const show = async (): Promise<void> => {
    const mine = ++request;
    const q = { op: opSelect.value, dtype: dtypeSelect.value, rank: rankInput.value, backends: boxes.filter((b) => b.checked).map((b) => b.value) };
    section.dataset['state'] = 'loading';
    // The choice goes into the address, so the view can be linked (and survives a reload).
    const search = new URLSearchParams(location.search);
    Object.entries({ op: q.op, dtype: q.dtype, rank: q.rank, backend: q.backends.join(',') }).forEach(([k, v]) => search.set(k, v));
    history.replaceState(null, '', `${location.pathname}?${search}${location.hash}`);
    try {
      const listing = await fetchKernels(mode, q);
      if (mine !== request) return;
      out.replaceChildren(irBlock(generated.find((s) => s.name === q.op)), ...Object.entries(listing.kernels).filter(([b]) => q.backends.includes(b)).map(([backend, k]) =>
        el('div', { class: 'kernel', 'data-backend': backend, 'data-language': k.language },
          el('h4', {}, `${backend} (${k.language})`),
          k.source === undefined ? el('p', { class: 'notice', 'data-notice': 'not-emitted' }, k.error ?? 'not emitted') : el('pre', {}, k.source))));
    } catch (e) {
      if (mine !== request) return;
      const message = e instanceof Error ? e.message : String(e);
      out.replaceChildren(el('p', { class: 'notice error', 'data-notice': 'kernel-error', ...(e instanceof ApiRequestError && e.field ? { 'data-field': e.field } : {}) }, message));
    }
    section.dataset['state'] = 'ready';
  };
  opSelect.addEventListener('change', () => {
    // A dtype the new op does not take is swapped for one it does: the API's refusal is for typed-in queries.
    const dtypes = generated.find((s) => s.name === opSelect.value)?.dtypes ?? [];
    fillDtypes(opSelect.value, dtypes.includes(dtypeSelect.value) ? dtypeSelect.value : dtypes.includes(DEFAULT.dtype) ? DEFAULT.dtype : dtypes[0]!);
    void show();
  });
  for (const input of [dtypeSelect, rankInput, ...boxes]) input.addEventListener('change', () => void show());
  await show();
}
