/**
 * `npm run docs` (TypeDoc over tessera's public API) must build: it fails on an export without a doc
 * comment.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

it('builds the API reference with every public export documented', () => {
  const typedoc = join(root, 'node_modules/typedoc/bin/typedoc');
  const env = { ...process.env, NO_COLOR: '1' };
  const r = spawnSync(process.execPath, [typedoc, '--emit', 'none'], { cwd: root, encoding: 'utf8', env });
  expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => /warning|error/.test(l))).toEqual([]);
  expect(r.status).toBe(0);
}, 180_000);
