/** The CPU backends' caching allocator: released arrays come back, adopted ones never do. */
import { describe, expect, it } from 'vitest';
import * as tsr from '@tessera/tensor';

const b = tsr.jsBackend;

describe('CPU caching allocator', () => {
  it('hands a released array out again, zero-filled below 64 KiB, as it was above', () => {
    const big = b.alloc('float32', 1 << 20) as Float32Array;
    big.fill(3);
    b.free(big, false);
    const again = b.alloc('float32', 1 << 20) as Float32Array;
    expect(again).toBe(big);
    const small = b.alloc('float32', 100) as Float32Array;
    small.fill(5);
    b.free(small, false);
    const reused = b.alloc('float32', 100) as Float32Array;
    expect(reused).toBe(small);
    expect(reused.every((v) => v === 0)).toBe(true);
    // bool and uint8 share a storage class; a released one serves either.
    const mask = b.alloc('bool', 64) as Uint8Array;
    b.free(mask, false);
    expect(b.alloc('uint8', 64)).toBe(mask);
  });

  it('never reuses an array a caller handed over', () => {
    const mine = new Float32Array(1 << 16).fill(7);
    tsr.Tensor.fromHost(b, mine, 'float32', [1 << 16]).dispose();
    expect(b.alloc('float32', 1 << 16)).not.toBe(mine);
    expect(mine[0]).toBe(7);
  });

  it('disposing a tensor returns its storage once its views are gone too', () => {
    const x = tsr.zeros([300]);
    const v = x.narrow(0, 10, 5);
    const buf = x.storage.buffer;
    x.dispose();
    expect(v.dataSync()).toEqual(new Float32Array(5));
    v.dispose();
    expect(tsr.empty([300]).storage.buffer).toBe(buf);
  });
});
