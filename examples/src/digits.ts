/** The UCI 8x8 handwritten digits (1797 images, as shipped by scikit-learn), extracted by scripts/setup.mjs. */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import * as tsr from 'tessera';

export const DIGITS_FILE = new URL('../data/digits.csv.gz', import.meta.url);

export interface Split { x: tsr.Tensor; y: tsr.Tensor }

/** Images as [N, 1, 8, 8] in [0, 1] and labels as int64, split into train/test with a seeded shuffle. */
export function loadDigits(testFraction = 0.2, seed = 0): { train: Split; test: Split } {
  if (!existsSync(DIGITS_FILE)) throw new Error(`${DIGITS_FILE.pathname} is missing: run 'node scripts/setup.mjs' (as root it extracts it from Debian's python3-sklearn)`);
  const rows = gunzipSync(readFileSync(DIGITS_FILE)).toString('utf8').trim().split('\n').map((l) => l.split(',').map(Number));
  const n = rows.length;
  const order = Array.from({ length: n }, (_, i) => i);
  const g = new tsr.Generator(seed);
  for (let i = n - 1; i > 0; i--) { const j = Math.floor(g.uniform() * (i + 1)); [order[i], order[j]] = [order[j]!, order[i]!]; }
  const pixels = new Float32Array(n * 64), labels = new Int32Array(n);
  order.forEach((r, i) => { const row = rows[r]!; for (let p = 0; p < 64; p++) pixels[i * 64 + p] = row[p]! / 16; labels[i] = row[64]!; });
  const x = tsr.tensor(pixels, { shape: [n, 1, 8, 8] }), y = tsr.tensor(labels).long();
  const nTest = Math.round(n * testFraction);
  return {
    train: { x: x.narrow(0, nTest, n - nTest), y: y.narrow(0, nTest, n - nTest) },
    test: { x: x.narrow(0, 0, nTest), y: y.narrow(0, 0, nTest) },
  };
}
