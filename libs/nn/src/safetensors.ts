/**
 * Checkpoints in the safetensors format (Hugging Face): 8-byte little-endian header length, a JSON
 * header { name: { dtype, shape, data_offsets }, __metadata__ }, then the raw little-endian data.
 * Writes are atomic (temporary file + rename); reads validate everything before building tensors.
 */
import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type DType, TesseraError } from '@tessera/ops';
import { Tensor, getBackend } from '@tessera/tensor';

/** A checkpoint that cannot be written or read; the message names the file, the tensor and what is wrong. */
export class CheckpointError extends TesseraError {}

const CODES: Readonly<Record<DType, string>> = { float64: 'F64', float32: 'F32', float16: 'F16', int64: 'I64', int32: 'I32', uint8: 'U8', bool: 'BOOL' };
const BYTES: Readonly<Record<DType, number>> = { float64: 8, float32: 4, float16: 2, int64: 8, int32: 4, uint8: 1, bool: 1 };
const DTYPE_OF = Object.fromEntries(Object.entries(CODES).map(([d, c]) => [c, d as DType]));

/** Raw bytes of a tensor's contiguous host data (float16 as its bits). */
function bytesOf(name: string, t: Tensor): Uint8Array {
  const c = t.contiguous();
  const read = c.storage.backend.readSync;
  if (!read) throw new CheckpointError('safetensors', `tensor '${name}' is on '${t.device}', which reads asynchronously: use await saveFileAsync(...)`);
  const raw = read(c.storage.buffer, c.dtype, c.offset, c.numel);
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** Host (CPU) copies of tensors on devices without synchronous reads (raw bits, float16 included). */
async function onHost(tensors: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
  const cpu = getBackend('cpu');
  const entries = await Promise.all(Object.entries(tensors).map(async ([name, t]): Promise<[string, Tensor]> => {
    if (t.storage.backend.readSync) return [name, t];
    const c = t.contiguous();
    return [name, Tensor.fromHost(cpu, await c.storage.backend.read(c.storage.buffer, c.dtype, c.offset, c.numel), c.dtype, c.shape)];
  }));
  return Object.fromEntries(entries);
}

/**
 * Encodes tensors as safetensors bytes: names sorted, the data 8-byte aligned, `metadata` as the
 * header's __metadata__. Throws CheckpointError for a tensor on a device that reads asynchronously
 * (WebGPU): use saveFileAsync.
 */
export function serialize(tensors: Readonly<Record<string, Tensor>>, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const data = t.numel ? bytesOf(name, t) : new Uint8Array(0);
    header[name] = { dtype: CODES[t.dtype], shape: t.shape, data_offsets: [offset, offset + data.byteLength] };
    chunks.push(data);
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Spaces up to a multiple of 8 bytes (UTF-8 bytes, not characters: names may be non-ASCII) keep the
  // data 8-byte aligned, as the reference writer does.
  const head = new Uint8Array(json.byteLength + ((8 - (json.byteLength % 8)) % 8)).fill(0x20);
  head.set(json);
  const out = new Uint8Array(8 + head.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.byteLength), true);
  out.set(head, 8);
  let at = 8 + head.byteLength;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out;
}

/** The largest header Hugging Face's reader accepts (safetensors' MAX_HEADER_SIZE). */
const MAX_HEADER_BYTES = 100_000_000;

interface Entry { readonly name: string; readonly dtype: DType; readonly shape: number[]; readonly begin: number; readonly end: number }

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Reads a safetensors file, refusing everything Hugging Face's reader refuses (checked against it by
 * a generated corruption corpus, libs/nn/test/checkpoint): the header length, a header that is not a
 * JSON object of { dtype, shape, data_offsets } entries, string-valued __metadata__, and data offsets
 * that tile the data exactly (sorted, from 0, no gaps, no overlaps, no bytes left over), each
 * holding exactly its shape's bytes. Every problem is a CheckpointError naming the tensor and what is wrong.
 */
export function deserialize(bytes: Uint8Array, source = 'buffer'): Record<string, Tensor> {
  return deserializeWithMetadata(bytes, source).tensors;
}

/** deserialize, with the header's __metadata__ (empty when there is none). */
export function deserializeWithMetadata(bytes: Uint8Array, source = 'buffer'): {
  /** The tensors by name, on the CPU. */
  tensors: Record<string, Tensor>;
  /** The header's __metadata__, empty when there is none. */
  metadata: Record<string, string>;
} {
  const fail = (why: string): never => { throw new CheckpointError('safetensors', `${source}: ${why}`); };
  if (bytes.byteLength < 8) fail(`truncated: ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const headLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headLen} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt length field?)`);
  if (headLen > BigInt(bytes.byteLength - 8)) fail(`truncated or corrupt: header claims ${headLen} bytes but only ${bytes.byteLength - 8} follow`);
  const n = Number(headLen);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('corrupt header: not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`corrupt header: it must be a JSON object starting with '{', got ${JSON.stringify(text.slice(0, 20))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`corrupt header (not valid JSON): ${(e as Error).message}`);
  }
  if (!isRecord(header)) return fail('corrupt header: not a JSON object');
  const meta = header['__metadata__'];
  if (meta !== undefined && meta !== null && !(isRecord(meta) && Object.values(meta).every((v) => typeof v === 'string'))) {
    fail(`__metadata__ must map names to strings, got ${JSON.stringify(meta).slice(0, 60)}`);
  }
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bad = (why: string): never => fail(`tensor '${name}': ${why}`);
    if (!isRecord(info)) bad(`entry must be { dtype, shape, data_offsets }, got ${JSON.stringify(info)}`);
    const { dtype: code, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof code !== 'string') bad(`dtype must be a string, got ${JSON.stringify(code)}`);
    const dtype = DTYPE_OF[code as string];
    if (!dtype) bad(`unsupported dtype ${JSON.stringify(code)} (Tessera reads ${Object.keys(DTYPE_OF).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every(isIndex)) bad(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) bad(`data_offsets must be [begin, end] of non-negative integers, got ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, d) => a * d, 1);
    if (!Number.isSafeInteger(count * BYTES[dtype!])) bad(`shape ${JSON.stringify(shape)} holds more bytes than can be addressed`);
    if (end < begin) bad(`data_offsets [${begin}, ${end}] end before they begin`);
    if (end - begin !== count * BYTES[dtype!]) bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape ${JSON.stringify(shape)} of ${dtype} needs ${count * BYTES[dtype!]}`);
    entries.push({ name, dtype: dtype!, shape: shape as number[], begin, end });
  }
  // The tensors tile the data: sorted by offset, each starts where the previous one ended.
  const dataLen = bytes.byteLength - 8 - n;
  entries.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let at = 0;
  for (const t of entries) {
    if (t.begin !== at) fail(t.begin < at ? `tensor '${t.name}' overlaps the tensor before it (data_offsets [${t.begin}, ${t.end}])` : `tensor '${t.name}' starts at byte ${t.begin}, leaving a gap after byte ${at}`);
    at = t.end;
  }
  if (at !== dataLen) fail(at > dataLen ? `truncated: the tensors need ${at} data bytes, the file holds ${dataLen}` : `${dataLen - at} data bytes after the last tensor belong to no tensor`);
  const dataStart = 8 + n;
  const out: Record<string, Tensor> = {};
  for (const t of entries) {
    // A copy: aligned for the typed array, and owned by the tensor. Hosts are little-endian (x86, ARM).
    const own = bytes.slice(dataStart + t.begin, dataStart + t.end);
    out[t.name] = Tensor.fromHost(getBackend('cpu'), new HOST_ARRAY[t.dtype](own.buffer), t.dtype, t.shape);
  }
  return { tensors: out, metadata: { ...(meta as Record<string, string> | null | undefined ?? {}) } };
}

const HOST_ARRAY = {
  float64: Float64Array, float32: Float32Array, float16: Uint16Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array,
} as const;

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
};

/**
 * Removes the temporary files of earlier saves to `path` whose process is gone (killed mid-write:
 * SIGKILL or a power cut leave no chance to clean up), so they do not pile up next to the checkpoint.
 */
function removeStaleTemps(path: string): void {
  const dir = dirname(path), prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !alive(pid)) {
      try { unlinkSync(join(dir, name)); } catch { /* another process removed it first */ }
    }
  }
}

let saves = 0;

/**
 * Writes atomically: a crash mid-write leaves the previous file intact, never a half-written one; the
 * temporary files of saves that were killed mid-write are removed by the next save to the same path.
 */
export function saveFile(path: string, tensors: Readonly<Record<string, Tensor>>, metadata?: Readonly<Record<string, string>>): void {
  const bytes = serialize(tensors, metadata);
  removeStaleTemps(path);
  const tmp = `${path}.tmp-${process.pid}-${saves++}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** saveFile for tensors on any device: reads device tensors back first (WebGPU reads are asynchronous). */
export async function saveFileAsync(path: string, tensors: Readonly<Record<string, Tensor>>, metadata?: Readonly<Record<string, string>>): Promise<void> {
  saveFile(path, await onHost(tensors), metadata);
}

/** The tensors of a safetensors file; with `{ metadata: true }`, its __metadata__ too. */
export function loadFile(path: string): Record<string, Tensor>;
/** The tensors of a safetensors file and its __metadata__. */
export function loadFile(path: string, opt: { metadata: true }): {
  /** The tensors by name, on the CPU. */
  tensors: Record<string, Tensor>;
  /** The header's __metadata__, empty when there is none. */
  metadata: Record<string, string>;
};
export function loadFile(path: string, opt?: { metadata?: boolean }): Record<string, Tensor> | { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const r = deserializeWithMetadata(new Uint8Array(readFileSync(path)), path);
  return opt?.metadata ? r : r.tensors;
}
