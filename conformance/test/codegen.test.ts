/** Every generated op has printable, compilable source for every emitter, and the CLI prints it. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';

const generated = [
  ...Object.keys(tsr.ops.ELEMENTWISE),
  ...Object.values(tsr.ops.REDUCTIONS).filter((r) => r.combine || r.better).map((r) => r.name),
];

describe('codegen', () => {
  for (const backend of tsr.emitterNames()) {
    it(`${backend}: source for every generated op compiles`, () => {
      for (const op of generated) {
        const src = tsr.codegen({ backend, op, dtype: op.startsWith('logical') ? 'bool' : 'float32', rank: 2 });
        // The JS emitter's output is a function body; other emitters get their own compile check.
        if (backend === 'js') expect(() => new Function('shape', 'out', 'ins', 'params', 'outer', 'inner', 'input', src), op).not.toThrow();
        expect(src.length, op).toBeGreaterThan(0);
      }
    });
  }

  it('npx tessera codegen prints a kernel and rejects ops without one', () => {
    const out = execFileSync('npx', ['tessera', 'codegen', '--backend', 'js', '--op', 'sigmoid', '--dtype', 'float32'], { encoding: 'utf8' });
    expect(out).toContain('Math.exp');
    expect(() => execFileSync('npx', ['tessera', 'codegen', '--op', 'matmul'], { stdio: 'pipe' })).toThrow();
  }, 60_000);

  it('compiledKernels and codegen --compile show a fused chain as one kernel, per emitter', () => {
    const x = tsr.randn([4, 6]), b = tsr.randn([6]);
    const [program, ...more] = tsr.compiledKernels(() => x.add(b).mul(0.5).tanh().add(1).mul(x).sum(1));
    expect(more).toEqual([]);
    expect(program!.map((k) => [k.kind, k.name.split(':')[0]])).toEqual([['elementwise', 'fused'], ['reduce', 'sum']]);
    expect(program![0]!.ops).toBe(7);
    expect(Object.keys(program![0]!.source!).sort()).toEqual(tsr.emitterNames().sort());
    const out = execFileSync('npx', ['tessera', 'codegen', '--compile', 'conformance/test/fixtures/compile-step.ts:step', '--backend', 'js'], { encoding: 'utf8' });
    expect(out).toContain('// kernel 1: elementwise fused over [4, 6], 7 ops');
    expect(out).toContain('Math.tanh');
    expect(out).toContain('// kernel 2: reduce sum');
  }, 60_000);
});
