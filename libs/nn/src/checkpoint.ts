/**
 * torch.save / torch.load for nested training state: model and optimizer state dicts, epoch, config,
 * as one safetensors file. Tensors are the file's tensors (each stored once: a tensor met twice, as
 * tied weights are, loads as one tensor in both places); the structure around them (objects, arrays,
 * numbers including NaN and infinities, strings, booleans, null) is JSON in the header's metadata
 * under "tessera.state", with each tensor as a reference. Any safetensors reader can still read the
 * tensors; a plain safetensors file loads as its record of tensors.
 */
import { ArgumentError, describe } from '@tessera/ops';
import { Tensor } from '@tessera/tensor';
import { CheckpointError, loadFile, saveFile, saveFileAsync } from './safetensors.js';

const KEY = 'tessera.state';
const FORMAT = 1;

/** What save takes: tensors and JSON values nested in plain objects and arrays. */
export type Saveable = Tensor | number | string | boolean | null | undefined | readonly Saveable[] | { readonly [k: string]: Saveable };

type Encoded = number | string | boolean | null | Encoded[] | { [k: string]: Encoded };

function flatten(obj: unknown): { state: Encoded; tensors: Record<string, Tensor> } {
  const tensors: Record<string, Tensor> = {};
  const names = new Map<Tensor, string>();
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): Encoded => {
    if (v instanceof Tensor) {
      let name = names.get(v);
      if (name === undefined) { names.set(v, (name = `t${names.size}`)); tensors[name] = v; }
      return { __tensor__: name };
    }
    if (v === null || v === undefined) return null;
    if (typeof v === 'number') return Number.isFinite(v) ? v : { __number__: String(v) };
    if (typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v !== 'object') throw new ArgumentError('save', `${path}: cannot save ${describe(v)}`);
    if (seen.has(v)) throw new ArgumentError('save', `${path}: the object refers to itself`);
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new ArgumentError('save', `${path}: cannot save a ${proto?.constructor?.name ?? 'class'} instance; save its stateDict() (plain objects, arrays, tensors, numbers, strings)`);
      }
      const out: Record<string, Encoded> = {};
      for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = walk(x, `${path}.${k}`);
      return out;
    } finally {
      seen.delete(v);
    }
  };
  return { state: walk(obj, 'obj'), tensors };
}

const metadataOf = (state: Encoded): Record<string, string> => ({ [KEY]: JSON.stringify({ format: FORMAT, state }) });

/**
 * Writes `obj` (nested state: state dicts, numbers, strings, arrays, plain objects; a Saveable) to
 * `path`, atomically; anything else is an ArgumentError naming where it is. Tensors must read
 * synchronously (see saveAsync).
 */
export function save(obj: unknown, path: string): void {
  const { state, tensors } = flatten(obj);
  saveFile(path, tensors, metadataOf(state));
}

/** save for state holding tensors on devices whose reads are asynchronous (WebGPU). */
export async function saveAsync(obj: unknown, path: string): Promise<void> {
  const { state, tensors } = flatten(obj);
  await saveFileAsync(path, tensors, metadataOf(state));
}

/**
 * Reads what save wrote (tensors on the CPU); a plain safetensors file gives its record of tensors.
 * The result's type is the caller's to state (as torch.load's), e.g. load<{ model: Record<string, Tensor> }>(path).
 */
export function load<T = Saveable>(path: string): T {
  const { tensors, metadata } = loadFile(path, { metadata: true });
  const text = metadata[KEY];
  if (text === undefined) return tensors as T;
  let parsed: { format?: unknown; state?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (e) {
    throw new CheckpointError('load', `${path}: ${KEY} is not valid JSON: ${(e as Error).message}`);
  }
  if (parsed.format !== FORMAT) throw new CheckpointError('load', `${path}: ${KEY} format ${describe(parsed.format)}, this Tessera reads ${FORMAT}`);
  const build = (v: unknown): Saveable => {
    if (Array.isArray(v)) return v.map(build);
    if (v === null || typeof v !== 'object') return v as Saveable;
    const o = v as Record<string, unknown>;
    if (typeof o['__tensor__'] === 'string') {
      const t = tensors[o['__tensor__']];
      if (!t) throw new CheckpointError('load', `${path}: the state names tensor ${o['__tensor__']}, which the file does not hold`);
      return t;
    }
    if (typeof o['__number__'] === 'string') return Number(o['__number__']);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, build(x)]));
  };
  return build(parsed.state) as T;
}
