/** The progress utility: a redrawn bar on a terminal, sparse plain lines in a log, messages that do not tear the bar. */
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';

/** A stream that records what is written (a terminal or not). */
const sink = (isTTY: boolean) => {
  const out: string[] = [];
  return { out, stream: { isTTY, write: (s: string) => { out.push(s); return true; } } as unknown as NodeJS.WriteStream };
};

describe('Progress', () => {
  it('in a log, prints nothing between lines `every` seconds apart, and the last state when done', () => {
    const { out, stream } = sink(false);
    const p = new tsr.Progress({ total: 4, label: 'epoch 1', stream, every: 3600 });
    for (let i = 1; i <= 4; i++) p.update(i, `loss ${1 / i}`);
    expect(out).toEqual([]);
    p.log('a message');
    p.done('test acc 99%');
    expect(out[0]).toBe('a message\n');
    expect(out[1]).toMatch(/^epoch 1 4\/4 \[.*\/s\] loss 0\.25 test acc 99%\n$/);
  });

  it('on a terminal, redraws one line with the bar, and a message goes above it', () => {
    const { out, stream } = sink(true);
    const p = new tsr.Progress({ total: 10, stream, width: 10 });
    p.update(5);
    expect(out.at(-1)).toMatch(/^\r\x1b\[2K\[#####\.\.\.\.\.\] 5\/10 /);
    p.log('hello');
    expect(out.slice(-3)).toEqual(['\r\x1b[2K', 'hello\n', expect.stringMatching(/^\r\x1b\[2K\[#####/)]);
    p.done();
    expect(out.at(-1)).toMatch(/^5\/10 .*\n$/);
  });

  it('track() walks an iterable with its length as the total, and refuses a bad total', () => {
    const { out, stream } = sink(false);
    expect([...tsr.track([1, 2, 3], { stream, label: 'items' })]).toEqual([1, 2, 3]);
    expect(out.at(-1)).toMatch(/^items 3\/3 /);
    expect(() => new tsr.Progress({ total: -1 })).toThrow(tsr.ArgumentError);
  });
});
