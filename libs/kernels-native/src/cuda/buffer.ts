/** Device buffers as the 'cuda' backend hands them to tensors: an id into the addon's table. */
import type { DType } from '@tessera/ops';
import type { View } from '@tessera/tensor';

export interface CBuffer {
  readonly id: number;
  readonly dtype: DType;
  /** Elements. */
  readonly length: number;
}

export const idOf = (v: View): number => (v.buffer as CBuffer).id;
