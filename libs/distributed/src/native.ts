/** The addon (rust/): loaded on first use, so importing this package never fails on its own. */
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { DistributedError } from './errors.js';

export interface WorkHandle {
  isCompleted(): boolean;
  waitSync(timeoutMs: number): void;
  wait(timeoutMs: number): Promise<void>;
}

export interface GroupHandle {
  readonly rank: number;
  readonly worldSize: number;
  ready(): WorkHandle;
  allReduce(buf: Uint8Array, count: number, dtype: number, op: number, desc: number[]): WorkHandle;
  broadcast(buf: Uint8Array, root: number, desc: number[]): WorkHandle;
  allGather(send: Uint8Array, recv: Uint8Array, desc: number[]): WorkHandle;
  reduceScatter(send: Uint8Array, recv: Uint8Array, count: number, dtype: number, op: number, desc: number[]): WorkHandle;
  barrier(desc: number[]): WorkHandle;
  shutdown(): WorkHandle;
  abort(code: number): void;
}

export interface Addon {
  hasMpi(): boolean;
  ProcessGroupHandle: { shm(name: string, rank: number, world: number, timeoutMs: number): GroupHandle; mpi(): GroupHandle };
}

let addon: Addon | undefined;

export function loadAddon(): Addon {
  if (addon) return addon;
  const dir = new URL('../native/', import.meta.url);
  const file = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.node')) : undefined;
  if (!file) throw new DistributedError('initProcessGroup', 'the distributed addon is not built: run `npm run build -w @tessera/distributed` (needs cargo; npm test builds it)');
  addon = createRequire(import.meta.url)(new URL(file, dir).pathname) as Addon;
  return addon;
}

/** Whether the addon was built with the 'mpi' transport (false when it is not built at all). */
export function hasMpi(): boolean {
  try { return loadAddon().hasMpi(); } catch { return false; }
}
