import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';

const { nn } = tsr;
const tmp = () => mkdtempSync(join(tmpdir(), 'tessera-ckpt-'));

describe('DataLoader', () => {
  const ds = new nn.TensorDataset(tsr.arange(10, { dtype: 'float32' }).view(10, 1), tsr.arange(10));
  it('batches in order, with a short last batch unless dropLast', () => {
    expect([...new nn.DataLoader(ds, { batchSize: 4 })].map(([x]) => x!.shape[0])).toEqual([4, 4, 2]);
    expect([...new nn.DataLoader(ds, { batchSize: 4, dropLast: true })].length).toBe(2);
    expect([...new nn.DataLoader(ds, { batchSize: 4 })][0]![1]!.tolistSync()).toEqual([0, 1, 2, 3]);
  });
  it('shuffles reproducibly from a seed, with a new permutation each epoch', () => {
    const epoch = (l: tsr.nn.DataLoader) => [...l].flatMap(([, y]) => y!.tolistSync() as number[]);
    const a = new nn.DataLoader(ds, { batchSize: 3, shuffle: true, seed: 7 }), b = new nn.DataLoader(ds, { batchSize: 3, shuffle: true, seed: 7 });
    const e1 = epoch(a);
    expect(e1).toEqual(epoch(b));
    expect([...e1].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(epoch(a)).not.toEqual(e1);
  });
  it('collates datasets without a batch fast path by stacking', () => {
    const items: tsr.nn.Dataset<tsr.Tensor[]> = { length: 3, get: (i) => [tsr.full([2], i)] };
    expect([...new nn.DataLoader(items, { batchSize: 2 })][0]![0]!.tolistSync()).toEqual([[0, 0], [1, 1]]);
  });
});

describe('safetensors checkpoints', () => {
  const tensors = () => ({
    w: tsr.randn([3, 4]), h: tsr.tensor([1.5, -2], { dtype: 'float16' }), i: tsr.tensor([5n, -6n]),
    b: tsr.tensor([true, false]), d: tsr.tensor([[1, 2]], { dtype: 'float64' }).t(), e: tsr.zeros(0, 2),
  });

  it('round-trips every dtype, views and empty tensors', () => {
    const src = tensors();
    const file = join(tmp(), 'm.safetensors');
    nn.saveFile(file, src, { note: 'hi' });
    const back = nn.loadFile(file);
    for (const [k, t] of Object.entries(src)) {
      expect(back[k]!.dtype).toBe(t.dtype);
      expect(back[k]!.tolistSync()).toEqual(t.tolistSync());
    }
  });

  it("is read by Hugging Face's safetensors (PyPI) with the same values", () => {
    const py = join(process.cwd(), '.venv', 'bin', 'python');
    // .venv is created by scripts/setup.mjs (npm test's pretest); without it this cannot run at all.
    expect(existsSync(py), 'run node scripts/setup.mjs to create .venv').toBe(true);
    const file = join(tmp(), 'hf.safetensors');
    const src = tensors();
    nn.saveFile(file, src);
    const out = execFileSync(py, ['-c', `
import json, sys
from safetensors.numpy import load_file
d = load_file(sys.argv[1])
print(json.dumps({k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.astype("float64").ravel().tolist()} for k, v in d.items()}))
`, file], { encoding: 'utf8' });
    const seen = JSON.parse(out) as Record<string, { dtype: string; shape: number[]; values: number[] }>;
    expect(Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, v.dtype]))).toEqual({ w: 'float32', h: 'float16', i: 'int64', b: 'bool', d: 'float64', e: 'float32' });
    for (const [k, t] of Object.entries(src)) {
      expect(seen[k]!.shape).toEqual(t.shape);
      expect(seen[k]!.values).toEqual((t.reshape(-1).tolistSync() as (number | boolean)[]).map(Number));
    }
  });

  it('rejects truncated and corrupted files with a CheckpointError', () => {
    const dir = tmp();
    const file = join(dir, 'ok.safetensors');
    nn.saveFile(file, tensors());
    const bytes = readFileSync(file);
    const bad = (name: string, data: Uint8Array) => { const f = join(dir, name); writeFileSync(f, data); return () => nn.loadFile(f); };
    expect(bad('short', bytes.subarray(0, 5))).toThrow(nn.CheckpointError);
    expect(bad('truncated', bytes.subarray(0, bytes.byteLength - 3))).toThrow(/outside the|truncated/);
    const garbled = Uint8Array.from(bytes); garbled[10] = 0xff;
    expect(bad('garbled', garbled)).toThrow(/corrupt header/);
    const huge = Uint8Array.from(bytes); new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(bad('huge', huge)).toThrow(/header length \d+ exceeds/);
  });

  it('writes atomically: no temporary file is left and a failed save keeps the old checkpoint', () => {
    const dir = tmp();
    const file = join(dir, 'a.safetensors');
    nn.saveFile(file, { x: tsr.ones(2) });
    expect(readdirSync(dir)).toEqual(['a.safetensors']);
    const disposed = tsr.ones(2);
    disposed.dispose();
    expect(() => nn.saveFile(file, { x: disposed })).toThrow(tsr.TesseraError);
    expect(nn.loadFile(file)['x']!.tolistSync()).toEqual([1, 1]);
    expect(readdirSync(dir)).toEqual(['a.safetensors']);
  });
});
