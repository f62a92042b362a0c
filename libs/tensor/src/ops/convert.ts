/** dtype casts, device moves and copies: all through the one `copy` elementwise kernel. */
import { ArgumentError, type DType, ELEMENTWISE, isDType } from '@tessera/ops';
import { type DeviceKind, getBackend } from '../backend.js';
import { type TensorOrScalar, elementwise } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { alias } from './views.js';
import { record, untracked } from '../grad-hook.js';

const copySpec = ELEMENTWISE['copy']!;

/** Contiguous copy with the same dtype. */
export const clone = (x: Tensor): Tensor => elementwise(copySpec, [x]);

/**
 * Writes src (broadcast to dst's shape, cast to dst's dtype) into dst, which may be any view. A src on
 * another device is moved to dst's first, as torch's copy_ does (a move off an asynchronous device
 * needs await t.data()).
 */
export function copy_(dst: Tensor, src: TensorOrScalar): Tensor {
  const from = src instanceof Tensor && src.device !== dst.device ? moveTo(src, dst.device) : src;
  return elementwise(copySpec, [from], undefined, dst, true);
}

function castTo(x: Tensor, dtype: DType): Tensor {
  const out = untracked(() => copy_(Tensor.empty(x.storage.backend, x.shape, dtype), x));
  return record('to', [x], out, (g) => [g]);
}

function moveTo(x: Tensor, device: DeviceKind): Tensor {
  const src = x.contiguous();
  const read = src.storage.backend.readSync;
  if (!read) throw new ArgumentError('to', `moving from '${x.device}' to '${device}' needs an asynchronous read: use await x.data() and tensor(...)`);
  const out = Tensor.fromHost(getBackend(device), read(src.storage.buffer, src.dtype, src.offset, src.numel), src.dtype, src.shape);
  return record('to', [x], out, (g) => [to(g, x.device)]);
}

/** to(dtype), to(device) or to({ device, dtype }); returns the tensor itself (an alias) when nothing changes. */
export function to(x: Tensor, target: DeviceKind | DType | { device?: DeviceKind; dtype?: DType }): Tensor {
  const t = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
  let r = t.device && t.device !== x.device ? moveTo(x, t.device) : alias(x);
  if (t.dtype && t.dtype !== r.dtype) r = castTo(r, t.dtype);
  return r;
}
