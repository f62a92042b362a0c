/**
 * Checkpoints in the safetensors format (Hugging Face): 8-byte little-endian header length, a JSON
 * header { name: { dtype, shape, data_offsets }, __metadata__ }, then the raw little-endian data.
 * Writes are atomic (temporary file + rename); reads validate everything before building tensors.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { type DType, TesseraError, numel } from '@tessera/ops';
import { Tensor, getBackend } from '@tessera/tensor';

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
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keeps the data 8-byte aligned, as the reference writer does
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.byteLength), true);
  out.set(head, 8);
  let at = 8 + head.byteLength;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out;
}

export function deserialize(bytes: Uint8Array, source = 'buffer'): Record<string, Tensor> {
  const fail = (why: string): never => { throw new CheckpointError('safetensors', `${source}: ${why}`); };
  if (bytes.byteLength < 8) fail(`truncated: ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const headLen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headLen > bytes.byteLength - 8) fail(`truncated or corrupt: header claims ${headLen} bytes but only ${bytes.byteLength - 8} follow`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headLen)));
  } catch (e) {
    return fail(`corrupt header (not valid UTF-8 JSON): ${(e as Error).message}`);
  }
  const dataStart = 8 + headLen, dataLen = bytes.byteLength - dataStart;
  const out: Record<string, Tensor> = {};
  const spans: [number, number, string][] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = DTYPE_OF[info?.dtype];
    if (!dtype) fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(info?.dtype)}`);
    const [b, e] = info.data_offsets ?? [];
    if (!Array.isArray(info.shape) || info.shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(info.shape)}`);
    if (!Number.isInteger(b) || !Number.isInteger(e) || b! > e! || e! > dataLen) fail(`tensor '${name}' has data offsets ${JSON.stringify(info.data_offsets)} outside the ${dataLen} data bytes (truncated file?)`);
    if (e! - b! !== numel(info.shape) * BYTES[dtype!]) fail(`tensor '${name}': ${e! - b!} bytes do not hold shape ${JSON.stringify(info.shape)} of ${dtype}`);
    spans.push([b!, e!, name]);
    // A copy: aligned for the typed array, and owned by the tensor. Hosts are little-endian (x86, ARM).
    const own = bytes.slice(dataStart + b!, dataStart + e!);
    out[name] = Tensor.fromHost(getBackend('cpu'), new HOST_ARRAY[dtype!](own.buffer), dtype!, info.shape);
  }
  spans.sort((x, y) => x[0] - y[0]);
  spans.forEach(([b, , name], i) => { if (i > 0 && b < spans[i - 1]![1]) fail(`tensor '${name}' overlaps '${spans[i - 1]![2]}'`); });
  return out;
}

const HOST_ARRAY = {
  float64: Float64Array, float32: Float32Array, float16: Uint16Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array,
} as const;

/** Writes atomically: a crash mid-write leaves the previous file intact, never a half-written one. */
export function saveFile(path: string, tensors: Readonly<Record<string, Tensor>>, metadata?: Readonly<Record<string, string>>): void {
  const bytes = serialize(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}`;
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

export function loadFile(path: string): Record<string, Tensor> {
  return deserialize(new Uint8Array(readFileSync(path)), path);
}
