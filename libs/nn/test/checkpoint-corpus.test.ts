/**
 * The checkpoint loader against Hugging Face's own safetensors reader (.venv, installed by setup) on a
 * generated corpus of corrupted files: every file their reader rejects, Tessera rejects too, with a
 * CheckpointError that says what is wrong. And a save killed mid-write leaves nothing behind for long.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { corpus } from './checkpoint/corpus.js';

const { nn } = tsr;
const root = fileURLToPath(new URL('../../../', import.meta.url));
const venvPython = join(root, '.venv', 'bin', 'python');
const hasHf = existsSync(venvPython) && (() => {
  try { execFileSync(venvPython, ['-c', 'import safetensors.numpy']); return true; } catch { return false; }
})();
const required = (process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').length > 0;

describe('safetensors corruption corpus', () => {
  it.skipIf(!hasHf && !required)("rejects every file Hugging Face's reader rejects, with a CheckpointError", () => {
    expect(hasHf, "Hugging Face's safetensors reader (.venv) is required in CI").toBe(true);
    const valid = nn.serialize({
      a: tsr.randn([2, 3]), b: tsr.tensor([1n, -2n, 3n]), c: tsr.zeros([0, 2], { dtype: 'float16' }), d: tsr.tensor([true, false]),
    }, { source: 'corpus' });
    expect(() => nn.deserialize(valid)).not.toThrow();
    const cases = corpus(valid);
    const dir = mkdtempSync(join(tmpdir(), 'tessera-corpus-'));
    const paths = cases.map((c, i) => { const p = join(dir, `${i}.safetensors`); writeFileSync(p, c.bytes); return p; });
    const hf = JSON.parse(execFileSync(venvPython, [fileURLToPath(new URL('./checkpoint/hf_check.py', import.meta.url)), ...paths], { encoding: 'utf8', maxBuffer: 1 << 24 })) as { ok: boolean; error?: string }[];
    const missed: string[] = [], stricter: string[] = [];
    cases.forEach((c, i) => {
      let err: unknown;
      try { nn.loadFile(paths[i]!); } catch (e) { err = e; }
      if (err !== undefined) expect(err, `${c.name}: ${String(err)}`).toBeInstanceOf(nn.CheckpointError);
      if (!hf[i]!.ok && err === undefined) missed.push(`${c.name} (HF: ${hf[i]!.error})`);
      if (hf[i]!.ok && err !== undefined) stricter.push(`${c.name}: ${(err as Error).message}`);
    });
    const rejectedByHf = hf.filter((r) => !r.ok).length;
    console.log(`corpus: ${cases.length} files; Hugging Face rejects ${rejectedByHf}, Tessera rejects ${rejectedByHf - missed.length} of those; Tessera alone rejects ${stricter.length}${stricter.length ? `:\n  ${stricter.join('\n  ')}` : ''}`);
    expect(missed, 'files HF rejects but Tessera loads').toEqual([]);
    expect(rejectedByHf).toBeGreaterThan(40);
  });

  it('keeps the data 8-byte aligned when names and metadata are not ASCII (the padding counts UTF-8 bytes)', () => {
    for (const name of ['poids', 'poids_é', '重み', 'w😀']) {
      const bytes = nn.serialize({ [name]: tsr.tensor([1.5, -2], { dtype: 'float64' }) }, { note: 'ünïcode' });
      const headerBytes = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      expect((8 + headerBytes) % 8, name).toBe(0);
      expect([...(nn.deserialize(bytes)[name]!.dataSync() as Float64Array)]).toEqual([1.5, -2]);
    }
  });

  it('a save killed mid-write leaves a temporary file that the next save to the path removes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-kill-'));
    const path = join(dir, 'big.safetensors');
    // A child that writes a large checkpoint forever: killed with SIGKILL, it cannot clean up.
    const script = `import * as tsr from 'tessera'; const t = { w: tsr.zeros([32, 1 << 20]) }; for (;;) tsr.nn.saveFile(${JSON.stringify(path)}, t);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, stdio: 'ignore' });
    const deadline = Date.now() + 60_000;
    while (!readdirSync(dir).some((f) => f.includes('.tmp-')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const left = readdirSync(dir).filter((f) => f.includes('.tmp-'));
    expect(left.length, 'the kill should leave a temporary file behind').toBeGreaterThan(0);
    nn.saveFile(path, { x: tsr.ones([2]) });
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(nn.loadFile(path)['x']!.tolistSync()).toEqual([1, 1]);
  }, 120_000);
});
