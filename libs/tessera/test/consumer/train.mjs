// Run by consumer.test.ts with plain `node` in a project that installed the packed tarballs: a small
// MLP regression on device 'cpu'. Prints one JSON line: which backend served 'cpu', and the losses.
import * as tsr from 'tessera';

const { nn } = tsr;
tsr.manualSeed(0);
const x = tsr.randn([512, 16]);
const y = x.matmul(tsr.randn([16, 1])).tanh();
const model = new nn.Sequential(new nn.Linear(16, 64), new nn.ReLU(), new nn.Linear(64, 1));
const opt = new nn.Adam(model.parameters(), { lr: 1e-2 });
const losses = [];
for (let step = 0; step < 60; step++) {
  const loss = nn.mseLoss(model.forward(x), y);
  opt.zeroGrad();
  loss.backward();
  opt.step();
  losses.push(await loss.item());
}
const backend = tsr.getBackend('cpu').name;
const nativeUnavailable = tsr.nativeUnavailable ?? null;
console.log(JSON.stringify({ backend, nativeUnavailable, first: losses[0], last: losses.at(-1) }));
