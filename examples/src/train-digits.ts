/**
 * The flagship example (`npm start`): a small CNN on the 8x8 handwritten digits, with a progress bar,
 * per-epoch loss/accuracy, a held-out accuracy bar of 97%, and a safetensors checkpoint that is saved,
 * reloaded into a fresh model and re-evaluated. `npm start -- --device webgpu` trains on WebGPU: the
 * same code, since every read is awaited.
 */
import { mkdirSync } from 'node:fs';
import * as tsr from 'tessera';
import { type Split, loadDigits } from './digits.js';

const { nn } = tsr;
const EPOCHS = Number(process.env['EPOCHS'] ?? 12);
const argDevice = process.argv.indexOf('--device');
const DEVICE = (argDevice > 0 ? process.argv[argDevice + 1] : process.env['DEVICE']) ?? 'cpu';
const BAR = 0.97;

export function makeModel(): tsr.nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d({ kernelSize: 2 }),   // 16 x 4 x 4
    new nn.Conv2d(16, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d({ kernelSize: 2 }),  // 32 x 2 x 2
    new nn.Flatten(), new nn.Linear(32 * 2 * 2, 64), new nn.ReLU(), new nn.Dropout(0.1), new nn.Linear(64, 10),
  );
}

export async function accuracy(model: tsr.nn.Module, data: Split): Promise<number> {
  model.eval();
  const acc = tsr.noGrad(() => model.forward(data.x).argmax(1).eq(data.y).float().mean());
  model.train();
  return (await acc.item()) as number;
}

/** Trains on `device` (the model, the data and every intermediate live there). */
export async function train(epochs = EPOCHS, log = true, device: tsr.DeviceKind = 'cpu'): Promise<{ model: tsr.nn.Sequential; testAccuracy: number; test: Split }> {
  tsr.manualSeed(0);
  const digits = loadDigits();
  const onDevice = (s: Split): Split => ({ x: s.x.to(device), y: s.y.to(device) });
  const tr = onDevice(digits.train), test = onDevice(digits.test);
  const model = makeModel();
  model.to(device);
  const loader = new nn.DataLoader(new nn.TensorDataset(tr.x, tr.y), { batchSize: 32, shuffle: true, seed: 0 });
  const opt = new nn.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 1e-4 });
  const sched = new nn.CosineAnnealingLR(opt, epochs * loader.length);
  if (log) console.log(`digits CNN: ${tr.x.shape[0]} train / ${test.x.shape[0]} test images, ${model.parameters().reduce((n, p) => n + p.numel, 0)} parameters, device ${tr.x.device}`);
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const bar = log ? new tsr.Progress({ label: `epoch ${String(epoch).padStart(2)}/${epochs}`, total: loader.length }) : undefined;
    let lossSum = 0, correct = 0, seen = 0, b = 0;
    for (const [x, y] of loader) {
      const logits = model.forward(x!);
      const loss = nn.crossEntropy(logits, y!);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      sched.step();
      const n = x!.shape[0]!;
      lossSum += ((await loss.item()) as number) * n;
      correct += (await logits.argmax(1).eq(y!).sum().item()) as number;
      seen += n;
      bar?.update(++b, `loss ${(lossSum / seen).toFixed(4)}`);
    }
    const testAcc = await accuracy(model, test);
    bar?.done(` train acc ${((correct / seen) * 100).toFixed(2)}%  test acc ${(testAcc * 100).toFixed(2)}%`);
  }
  return { model, testAccuracy: await accuracy(model, test), test };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  if (DEVICE === 'webgpu') await tsr.initWebGPU();
  const { model, testAccuracy, test } = await train(EPOCHS, true, DEVICE as tsr.DeviceKind);
  const dir = new URL('../out/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL('digits-cnn.safetensors', dir).pathname;
  await nn.saveFileAsync(file, model.stateDict(), { model: 'digits-cnn', testAccuracy: testAccuracy.toFixed(4) });
  const fresh = makeModel();
  fresh.to(DEVICE as tsr.DeviceKind);
  fresh.loadStateDict(nn.loadFile(file));
  const reloaded = await accuracy(fresh, test);
  console.log(`checkpoint: ${file} (reloaded model test accuracy ${(reloaded * 100).toFixed(2)}%)`);
  console.log(`held-out accuracy ${(testAccuracy * 100).toFixed(2)}% (bar ${BAR * 100}%) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (testAccuracy < BAR || reloaded !== testAccuracy) {
    console.error(testAccuracy < BAR ? 'below the accuracy bar' : 'the reloaded checkpoint does not reproduce the accuracy');
    process.exit(1);
  }
}
