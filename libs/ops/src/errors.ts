/**
 * Typed errors. Every user mistake surfaces as a subclass of TesseraError that names the op and what
 * was expected, so callers can `catch (e) { if (e instanceof ShapeError) ... }`.
 */
export class TesseraError extends Error {
  /**
   * @param op - The op or API that refused, e.g. `'matmul'`; it also prefixes the message (`"matmul: ..."`).
   * @param message - What was wrong and what was expected.
   */
  constructor(readonly op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = new.target.name;
  }
}
/** Shapes that do not fit together (broadcasting, matmul, reshape, cat, ...). */
export class ShapeError extends TesseraError {}
/** A dtype the op does not accept, or an illegal cast. */
export class DTypeError extends TesseraError {}
/** Tensors on different devices, or an unknown / unavailable device. */
export class DeviceError extends TesseraError {}
/** A dim or an element index out of range. */
export class IndexError extends TesseraError {}
/** An argument value that is invalid for reasons other than shape, dtype, device or index. */
export class ArgumentError extends TesseraError {}
/** The op exists but the backend has no kernel for it and no composite fallback applies. */
export class NotImplementedError extends TesseraError {}
/** A device could not allocate the memory a tensor needs (torch.OutOfMemoryError). */
export class OutOfMemoryError extends TesseraError {}

/** A shape as error messages print it: `[2, 3]`. */
export const fmtShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;
