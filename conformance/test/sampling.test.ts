/**
 * torch.multinomial on every backend that loads: draws in proportion to the weights (counts within
 * 4 standard deviations of their expectations, from a seeded generator, so a failure is a real bias,
 * not chance), never a zero-weight category, each category at most once without replacement, and
 * torch's refusals of bad weights as typed errors (at the call on CPU, at the next read elsewhere).
 */
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { forEachBackend, logical } from '../src/index.js';

const NO_MATRIX = { record: () => undefined };

await forEachBackend(NO_MATRIX, [], '*', (c, device) => {
  describe(`${c.name}: multinomial`, () => {
    it('draws in proportion to the weights, with and without replacement, on the device', async () => {
      const g = new tsr.Generator(); g.manualSeed(5);
      const n = 4000, p = [0.1, 0, 0.3, 0.6];
      const w = tsr.tensor([[1, 0, 3, 6], [6, 3, 0, 1]], { device });
      const draws = tsr.multinomial(w, n, { replacement: true, generator: g });
      expect([draws.shape, draws.dtype, draws.device]).toEqual([[2, n], 'int64', device]);
      const rows = [Array.from(await logical(draws.select(0, 0))), Array.from(await logical(draws.select(0, 1)))];
      rows.forEach((row, r) => {
        const want = r === 0 ? p : [...p].reverse();
        const counts = [0, 1, 2, 3].map((k) => row.filter((d) => d === k).length);
        want.forEach((q, k) => expect(Math.abs(counts[k]! - n * q) <= 4 * Math.sqrt(n * q * (1 - q)), `row ${r} category ${k}: ${counts[k]} of ${n}`).toBe(true));
      });
      // Without replacement: distinct categories, never a zero-weight one, and a 1-D input gives 1-D draws.
      for (let t = 0; t < 20; t++) {
        const two = Array.from(await logical(tsr.multinomial(tsr.tensor([0, 2, 1, 0, 5], { device }), 3, { generator: g })));
        expect([...two].sort()).toEqual([1, 2, 4]);
      }
      // One draw without replacement (nanoGPT's sampling), in proportion to the weights.
      const firsts = Array.from({ length: 400 }, () => 0);
      const probs = tsr.tensor([0.25, 0.75], { device }).unsqueeze(0).expand(400, 2);
      Array.from(await logical(tsr.multinomial(probs, 1, { generator: g }))).forEach((d, i) => { firsts[i] = d; });
      const ones = firsts.filter((d) => d === 1).length;
      expect(Math.abs(ones - 300) <= 4 * Math.sqrt(400 * 0.75 * 0.25), `${ones} of 400 draws of weight 0.75`).toBe(true);
    });

    it("top-k sampling as nanoGPT's generate does it: topk, assignment through a bool mask, softmax, one draw", async () => {
      const g = new tsr.Generator(); g.manualSeed(6);
      const logits = tsr.tensor([[0.5, 2, -1, 3, 1, 2.5], [4, -2, 0, 1, 3, -1]], { device });
      const [v] = tsr.topk(logits, 3);
      logits.indexPut_([logits.lt(v.index(':', [-1]))], -Infinity);
      expect(Array.from(await logical(logits))).toEqual([-Infinity, 2, -Infinity, 3, -Infinity, 2.5, 4, -Infinity, -Infinity, 1, 3, -Infinity]);
      const probs = tsr.nn.functional.softmax(logits, -1);
      for (let t = 0; t < 10; t++) {
        const [a, b] = Array.from(await logical(tsr.multinomial(probs, 1, { generator: g })));
        expect([1, 3, 5]).toContain(a);
        expect([0, 3, 4]).toContain(b);
      }
    });

    it('refuses what torch refuses: negative, NaN or infinite weights, a zero row, too few categories', async () => {
      const refuses = async (weights: number[], samples: number) => {
        let err: unknown;
        try { await tsr.multinomial(tsr.tensor(weights, { device }), samples).data(); } catch (e) { err = e; }
        expect(err, `${JSON.stringify(weights)}, ${samples}`).toBeInstanceOf(tsr.ArgumentError);
      };
      await refuses([1, -1], 1);
      await refuses([1, NaN], 1);
      await refuses([1, Infinity], 1);
      await refuses([0, 0], 1);
      await refuses([1, 0], 2);
      // The device recovers: the next draw works.
      expect(Array.from(await logical(tsr.multinomial(tsr.tensor([0, 1], { device }), 1)))).toEqual([1]);
    });
  });
});
