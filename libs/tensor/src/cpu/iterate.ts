/** Walks every index of `shape`, tracking one flat offset per strided operand (row-major order). */
export function forEachOffset(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
  fn: (offs: readonly number[], idx: readonly number[]) => void,
): void {
  const rank = shape.length;
  if (shape.some((d) => d === 0)) return;
  const idx = new Array<number>(rank).fill(0);
  const offs = offsets.slice();
  for (;;) {
    fn(offs, idx);
    let d = rank - 1;
    for (; d >= 0; d--) {
      for (let k = 0; k < offs.length; k++) offs[k]! += strides[k]![d]!;
      if (++idx[d]! < shape[d]!) break;
      for (let k = 0; k < offs.length; k++) offs[k]! -= strides[k]![d]! * shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/** Strides with one dim zeroed: the base offset of each line along `dim`. */
export const dropDim = (strides: readonly number[], dim: number): number[] => strides.map((s, i) => (i === dim ? 0 : s));
export const withDim = (shape: readonly number[], dim: number, size: number): number[] => shape.map((s, i) => (i === dim ? size : s));
