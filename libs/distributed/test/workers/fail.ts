/**
 * Run by the tests under tessera-run (2 ranks): rank 1 dies (argv "die", SIGKILL) or hangs (argv
 * "hang") at the 5th all-reduce; rank 0 keeps calling collectives and must fail with a clear error.
 */
import { ones } from 'tessera';
import { initProcessGroup } from '@tessera/distributed';

const mode = process.argv[2];
const group = await initProcessGroup();
const t = ones([1000]);
for (let i = 1; i <= 50; i++) {
  if (group.rank === 1 && i === 5) {
    console.log(JSON.stringify({ rank: 1, [mode === 'hang' ? 'hanging' : 'dying']: i }));
    if (mode === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    else process.kill(process.pid, 'SIGKILL');
  }
  await group.allReduce(t);
}
console.log(JSON.stringify({ rank: group.rank, finished: true }));
