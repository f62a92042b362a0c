/** dtype casts, device moves and copies: all through the one `copy` elementwise kernel. */
import { ArgumentError, type DType, DTYPES, ELEMENTWISE, checkFillValue, describe, isDType, scalarOperand } from '@tessera/ops';
import { type DeviceKind, getBackend } from '../backend.js';
import { type TensorOrScalar, elementwise } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { alias } from './views.js';
import type { TypedArray } from '../typed.js';
import { checkInplace, record, untracked } from '../grad-hook.js';

const copySpec = ELEMENTWISE['copy']!;

/** Contiguous copy with the same dtype. */
export const clone = (x: Tensor): Tensor => elementwise(copySpec, [x]);

/**
 * Writes src (broadcast to dst's shape, cast to dst's dtype) into dst, which may be any view. A src on
 * another device is moved to dst's first, as torch's copy_ does (a move off an asynchronous device
 * needs await t.data()).
 */
export function copy_(dst: Tensor, src: TensorOrScalar, op = 'copy_'): Tensor {
  if (!(src instanceof Tensor)) scalarOperand(op, src);
  if (op === 'fill_') {
    if (src instanceof Tensor) {
      if (src.ndim !== 0) throw new ArgumentError(op, `takes a number or a 0-d tensor, got a tensor of shape [${src.shape.join(', ')}]`);
    } else checkFillValue(op, scalarOperand(op, src), dst.dtype);
  }
  // Copying a tensor onto itself is nothing to do (torch returns at once, whatever its layout).
  if (src instanceof Tensor && src.storage === dst.storage && src.offset === dst.offset && sameLayout(src, dst)) {
    checkInplace(op, dst, [src]);
    return dst;
  }
  const from = src instanceof Tensor && src.device !== dst.device ? moveTo(src, dst.device) : src;
  return elementwise(copySpec, [from], { out: dst, anyCast: true, fill: op === 'fill_' || op === 'zero_' });
}

const sameLayout = (a: Tensor, b: Tensor): boolean => a.ndim === b.ndim && a.shape.every((d, i) => d === b.shape[i] && (d === 1 || a.strides[i] === b.strides[i]));

function castTo(x: Tensor, dtype: DType): Tensor {
  const out = untracked(() => copy_(Tensor.empty(x.storage.backend, x.shape, dtype), x));
  return record('to', [x], out, (g) => [g]);
}

function moveTo(x: Tensor, device: DeviceKind): Tensor {
  const src = x.contiguous();
  const read = src.storage.backend.readSync;
  if (!read) throw new ArgumentError('to', `moving from '${x.device}' to '${device}' needs an asynchronous read: use await x.toAsync('${device}')`);
  return moved(x, src, device, read(src.storage.buffer, src.dtype, src.offset, src.numel));
}

/** `values` (x's, read from its contiguous copy `src`) on `device`, differentiable back to x's device. */
function moved(x: Tensor, src: Tensor, device: DeviceKind, values: TypedArray): Tensor {
  const out = Tensor.fromHost(getBackend(device), values, src.dtype, src.shape);
  return record('to', [x], out, (g) => [to(g, x.device)]);
}

/**
 * `to` for devices whose reads are asynchronous (WebGPU to the CPU, torch's x.cpu()): awaits the
 * read, then moves; otherwise the same as `to`. Differentiable as `to` is (the gradient goes back
 * by an upload, which never waits).
 */
export async function toAsync(x: Tensor, targetArg: DeviceKind | DType | { device?: DeviceKind; dtype?: DType }): Promise<Tensor> {
  const t = target(targetArg);
  if (!t.device || t.device === x.device || x.storage.backend.readSync) return to(x, targetArg);
  const src = x.contiguous();
  const values = await src.data();
  const r = moved(x, src, t.device, values);
  return t.dtype && t.dtype !== r.dtype ? to(r, t.dtype) : r;
}

const DEVICES: readonly string[] = ['cpu', 'webgpu', 'cuda', 'gpujs'];

/** The device and dtype a `to` target names, checked: an unknown string is neither silently ignored nor guessed. */
function target(t: unknown): { device?: DeviceKind; dtype?: DType } {
  if (typeof t === 'string') {
    if (isDType(t)) return { dtype: t };
    if (DEVICES.includes(t)) return { device: t as DeviceKind };
    throw new ArgumentError('to', `${describe(t)} is neither a dtype (${DTYPE_NAMES}) nor a device (${DEVICES.join(', ')})`);
  }
  if (t === null || typeof t !== 'object' || Array.isArray(t)) throw new ArgumentError('to', `expected a device, a dtype or { device, dtype }, got ${describe(t)}`);
  const { device, dtype } = t as { device?: unknown; dtype?: unknown };
  if (dtype !== undefined && !isDType(dtype)) throw new ArgumentError('to', `unknown dtype ${describe(dtype)}; expected one of ${DTYPE_NAMES}`);
  if (device !== undefined && !(typeof device === 'string' && DEVICES.includes(device))) throw new ArgumentError('to', `unknown device ${describe(device)}; expected one of ${DEVICES.join(', ')}`);
  return { device: device as DeviceKind | undefined, dtype: dtype as DType | undefined };
}

const DTYPE_NAMES = Object.keys(DTYPES).join(', ');

/** to(dtype), to(device) or to({ device, dtype }); returns the tensor itself (an alias) when nothing changes. */
export function to(x: Tensor, targetArg: DeviceKind | DType | { device?: DeviceKind; dtype?: DType }): Tensor {
  const t = target(targetArg);
  let r = t.device && t.device !== x.device ? moveTo(x, t.device) : alias(x);
  if (t.dtype && t.dtype !== r.dtype) r = castTo(r, t.dtype);
  return r;
}
