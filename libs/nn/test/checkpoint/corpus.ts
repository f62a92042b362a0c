/**
 * A generated corpus of corrupted safetensors files: every way a header or its data can be wrong
 * that a damaged file, a buggy writer or a hostile one can produce (truncations, wrong lengths,
 * headers that are not objects, bad dtypes, shapes and offsets, gaps, overlaps, trailing bytes,
 * bad metadata), plus seeded byte flips. Each entry is the file's bytes and what was done to it.
 */

const enc = new TextEncoder();

/** A file from a header object (or raw header text) and data bytes; `headLen` overrides the length field. */
export function file(header: unknown, data: Uint8Array, o: { raw?: string; headLen?: number } = {}): Uint8Array {
  const head = enc.encode(o.raw ?? JSON.stringify(header));
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(o.headLen ?? head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

export interface Case { readonly name: string; readonly bytes: Uint8Array }

export function corpus(valid: Uint8Array): Case[] {
  const headLen = Number(new DataView(valid.buffer, valid.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(valid.subarray(8, 8 + headLen))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = valid.subarray(8 + headLen);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const first = names[0]!;
  const cases: Case[] = [];
  const add = (name: string, bytes: Uint8Array) => cases.push({ name, bytes });
  const withEntry = (name: string, entry: unknown) => add(name, file({ ...header, [first]: entry }, data));
  const entry = header[first]!;

  // Truncations and lengths.
  for (const n of [0, 4, 7, 8, 9, 8 + Math.floor(headLen / 2), 8 + headLen, valid.length - 1]) add(`truncated to ${n} bytes`, valid.slice(0, n));
  add('header length 0', file(header, data, { headLen: 0 }));
  add('header length past the end', file(header, data, { headLen: valid.length }));
  add('header length short by one', file(header, data, { headLen: headLen - 1 }));
  add('header length 2^40', file(header, data, { headLen: 2 ** 40 }));
  add('header length over 100 MB', file(header, data, { headLen: 100_000_001 }));
  // Headers that are not a JSON object of entries.
  for (const raw of ['5', 'null', '[]', '"x"', 'true', '{', '{"a": }', '  {}', '{}x', '\uFFFF{}']) add(`header ${JSON.stringify(raw)}`, file(undefined, data, { raw }));
  add('header not UTF-8', (() => { const b = file(header, data); b[9] = 0xff; return b; })());
  add('empty header, data left over', file({}, data));
  // Entries.
  for (const bad of [null, 5, [], 'x']) withEntry(`entry ${JSON.stringify(bad)}`, bad);
  withEntry('no dtype', { shape: entry.shape, data_offsets: entry.data_offsets });
  for (const dtype of ['F8', 'f32', 5, null, 'BF16x']) withEntry(`dtype ${JSON.stringify(dtype)}`, { ...entry, dtype });
  withEntry('no shape', { dtype: entry.dtype, data_offsets: entry.data_offsets });
  for (const shape of [5, null, [-1], [1.5], ['2'], [2 ** 63], [2 ** 40, 2 ** 40], {}]) withEntry(`shape ${JSON.stringify(shape)}`, { ...entry, shape });
  withEntry('no data_offsets', { dtype: entry.dtype, shape: entry.shape });
  const [b, e] = entry.data_offsets;
  for (const offs of [null, 5, {}, [b], [b, e, e], [-8, e], [b, -1], [b + 0.5, e], ['0', e], [e, b], [b, e + 4], [b + 4, e + 4], [b, data.length + 8], [b, 2 ** 64]]) {
    withEntry(`data_offsets ${JSON.stringify(offs)}`, { ...entry, data_offsets: offs });
  }
  withEntry('unknown field', { ...entry, extra: 1 });
  // Two tensors in one place, a gap, data left over.
  if (names.length > 1) {
    const second = header[names[1]!]!;
    add('two tensors overlap', file({ ...header, [names[1]!]: { ...second, data_offsets: entry.data_offsets, dtype: entry.dtype, shape: entry.shape } }, data));
  }
  add('data left over at the end', file(header, new Uint8Array([...data, 0, 0, 0, 0])));
  add('gap before the data', file(Object.fromEntries(Object.entries(header).map(([k, v]) => [k, k === '__metadata__' ? v : { ...v, data_offsets: [v.data_offsets[0] + 4, v.data_offsets[1] + 4] }])), new Uint8Array([0, 0, 0, 0, ...data])));
  // Metadata.
  for (const meta of [5, null, [], { a: 1 }, { a: { b: 'c' } }, { a: null }]) add(`__metadata__ ${JSON.stringify(meta)}`, file({ ...header, __metadata__: meta }, data));
  // Seeded byte flips anywhere in the file.
  let s = 20261206;
  const rnd = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  for (let k = 0; k < 30; k++) {
    const bytes = valid.slice();
    const at = Math.floor(rnd() * bytes.length);
    bytes[at] = Math.floor(rnd() * 256);
    add(`byte ${at} set to ${bytes[at]}`, bytes);
  }
  return cases;
}
