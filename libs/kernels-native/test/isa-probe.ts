/**
 * Run by native.test.ts in a child process per instruction set (TESSERA_NATIVE_ISA): prints the ISA in
 * use and a digest of every elementwise spec's result on float32, float64 and int32 inputs that hold
 * special values, so the test can check every ISA's loops compute the same bits.
 */
import { createHash } from 'node:crypto';
import * as tsr from '@tessera/tensor';
import { ELEMENTWISE } from '@tessera/ops';
import { createNativeBackend, nativeSimd } from '../src/index.js';

const native = createNativeBackend({ minElements: 0 });
if (typeof native === 'string') throw new Error(native);
tsr.registerBackend(native);

// Past a few staged blocks of 64, with a ragged tail.
const N = 4 * 64 + 37;
const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 88.7, 89.5, -87.4, -103.9, -104.5, 1e30, -1e30, 0.5, -2.5];

function operand(dtype: 'float32' | 'float64' | 'int32' | 'bool', seed: number): tsr.Tensor {
  tsr.manualSeed(seed);
  if (dtype === 'bool') return tsr.rand([N]).gt(0.5);
  if (dtype === 'int32') return tsr.randint(-50, 50, [N], { dtype: 'int32' });
  const x = tsr.randn([N], { dtype }).mul(8);
  const data = x.dataSync() as Float32Array | Float64Array;
  const out = data.slice();
  SPECIALS.forEach((v, i) => { out[(i * 7 + seed) % N] = v; });
  return tsr.tensor(out, { dtype });
}

const digests: Record<string, string> = {};
for (const spec of Object.values(ELEMENTWISE)) {
  for (const dtype of ['float32', 'float64', 'int32'] as const) {
    const operands = Array.from({ length: spec.arity }, (_, i) => operand(spec.condition && i === 0 ? 'bool' : dtype, i + 1));
    let result: string;
    try {
      const y = tsr.elementwise(spec, operands);
      const data = y.dataSync();
      result = createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex').slice(0, 16);
    } catch (e) {
      result = `throws ${(e as Error).name}`;
    }
    digests[`${spec.name}:${dtype}`] = result;
  }
}
process.stdout.write(JSON.stringify({ isa: nativeSimd, digests }));
