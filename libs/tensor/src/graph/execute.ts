/**
 * Runs a scheduled program: gives each deferred storage that is live or read by a later kernel its
 * buffer just before the first kernel writes it, launches the kernels in order, and gives back the
 * temporaries (computed only for later kernels) right after their last reader.
 */
import { allocChecked } from '../typed.js';
import type { Storage } from '../storage.js';
import { bind } from './program.js';
import { countLaunch } from './profile.js';
import type { Kernel } from './schedule.js';

/** The storages a kernel writes and reads. */
const writes = (k: Kernel): readonly Storage[] => (k.kind === 'routine' ? k.step.writes : k.kind === 'reduce' ? [k.out.storage] : [k.out.storage, ...k.outs.map((v) => v.storage)]);
const reads = (k: Kernel): readonly Storage[] => (k.kind === 'routine' ? k.step.reads : k.kind === 'reduce' ? [k.input.storage] : k.inputs.map((v) => v.storage));

function allocate(s: Storage): void {
  if (!s.deferred) return;
  const shape = [s.size];
  s.materialize(allocChecked('compile', s.dtype, shape, () => s.backend.alloc(s.dtype, s.size)));
}

/**
 * Runs `kernels` in order. `created` are the program's deferred storages: those still live at the end
 * keep their buffers; the others are temporaries, freed after the last kernel that reads them.
 */
export function execute(kernels: readonly Kernel[], created: ReadonlySet<Storage>): void {
  const lastUse = new Map<Storage, number>();
  kernels.forEach((k, i) => { for (const s of [...reads(k), ...writes(k)]) if (created.has(s)) lastUse.set(s, i); });
  kernels.forEach((k, i) => {
    for (const s of writes(k)) allocate(s);
    for (const s of reads(k)) allocate(s); // read before any write: uninitialised, as the eager op's empty() was
    countLaunch(k.kind === 'routine' ? k.step.name : k.kind === 'reduce' ? k.kernel.id.split(':')[0]! : k.kernel.id.startsWith('fused:') ? 'fused' : k.kernel.id.split(':')[0]!);
    switch (k.kind) {
      case 'elementwise':
        k.backend.elementwise(k.kernel, { shape: k.shape, out: bind(k.out), inputs: k.inputs.map(bind), params: k.params, ...(k.outs.length ? { outs: k.outs.map(bind) } : {}) });
        break;
      case 'reduce':
        k.backend.reduce(k.kernel, { outer: k.outer, inner: k.inner, input: bind(k.input), out: bind(k.out), params: k.params });
        break;
      case 'routine':
        k.step.run();
        break;
    }
    for (const s of [...reads(k), ...writes(k)]) if (lastUse.get(s) === i && !s.live) s.freeTemporary();
  });
  // What a live tensor holds but no kernel wrote (an empty() result) still gets its memory.
  for (const s of created) if (s.live) allocate(s);
}
