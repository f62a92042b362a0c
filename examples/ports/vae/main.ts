/**
 * A port of pytorch/examples' vae/main.py (BSD-3-Clause): a variational autoencoder (Kingma and
 * Welling) trained with the reconstruction + KL loss, its reconstructions and samples written as
 * images each epoch. The data are the UCI 8x8 digits, which ship offline, instead of MNIST; what
 * else differs from upstream is listed in NOTES.md.
 *
 * $ npx tsx examples/ports/vae/main.ts --epochs 5
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tsr from 'tessera';
import { loadDigits } from '../../src/digits.js';

const { nn } = tsr;
const F = nn.functional;
type Tensor = tsr.Tensor;

export class VAE extends nn.Module<[Tensor], [Tensor, Tensor, Tensor]> {
  fc1: tsr.nn.Linear; fc21: tsr.nn.Linear; fc22: tsr.nn.Linear; fc3: tsr.nn.Linear; fc4: tsr.nn.Linear;
  constructor() {
    super();
    this.fc1 = new nn.Linear(64, 400);
    this.fc21 = new nn.Linear(400, 20);
    this.fc22 = new nn.Linear(400, 20);
    this.fc3 = new nn.Linear(20, 400);
    this.fc4 = new nn.Linear(400, 64);
  }

  encode(x: Tensor): [Tensor, Tensor] {
    const h1 = F.relu(this.fc1.forward(x));
    return [this.fc21.forward(h1), this.fc22.forward(h1)];
  }

  reparameterize(mu: Tensor, logvar: Tensor): Tensor {
    const std = tsr.exp(logvar.mul(0.5));
    const eps = tsr.randnLike(std);
    return mu.add(eps.mul(std));
  }

  decode(z: Tensor): Tensor {
    const h3 = F.relu(this.fc3.forward(z));
    return tsr.sigmoid(this.fc4.forward(h3));
  }

  forward(x: Tensor): [Tensor, Tensor, Tensor] {
    const [mu, logvar] = this.encode(x.view(-1, 64));
    const z = this.reparameterize(mu, logvar);
    return [this.decode(z), mu, logvar];
  }
}

/** Reconstruction + KL divergence losses summed over all elements and batch */
export function lossFunction(reconX: Tensor, x: Tensor, mu: Tensor, logvar: Tensor): Tensor {
  const BCE = F.binaryCrossEntropy(reconX, x.view(-1, 64), { reduction: 'sum' });

  // see Appendix B from VAE paper:
  // Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
  // https://arxiv.org/abs/1312.6114
  // 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
  const KLD = tsr.sum(logvar.add(1).sub(mu.pow(2)).sub(logvar.exp())).mul(-0.5);

  return BCE.add(KLD);
}

/** Images [N, 1, 8, 8] in [0, 1] tiled `nrow` to a row, as an 8-bit greyscale PGM file (torchvision's save_image writes PNG). */
function saveImage(images: Tensor, file: string, nrow = 8): void {
  const [n, , h, w] = images.size() as [number, number, number, number];
  const rows = Math.ceil(n / nrow), pad = 2;
  const [W, H] = [nrow * (w + pad) + pad, rows * (h + pad) + pad];
  const px = new Uint8Array(W * H);
  const v = images.contiguous().dataSync() as Float32Array;
  for (let k = 0; k < n; k++) {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      px[(pad + Math.floor(k / nrow) * (h + pad) + y) * W + pad + (k % nrow) * (w + pad) + x] = Math.round(255 * Math.min(1, Math.max(0, v[(k * h + y) * w + x]!)));
    }
  }
  writeFileSync(file, Buffer.concat([Buffer.from(`P5\n${W} ${H}\n255\n`), px]));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'batch-size': { type: 'string', default: '128' }, // input batch size for training
      epochs: { type: 'string', default: '10' }, // number of epochs to train
      'no-accel': { type: 'boolean', default: false }, // disables accelerator
      seed: { type: 'string', default: '1' }, // random seed
      'log-interval': { type: 'string', default: '10' }, // how many batches to wait before logging training status
    },
  });
  const args = { batchSize: Number(values['batch-size']), epochs: Number(values.epochs), noAccel: values['no-accel']!, seed: Number(values.seed), logInterval: Number(values['log-interval']) };
  const useAccel = !args.noAccel && tsr.availableDevices().includes('webgpu');

  tsr.manualSeed(args.seed);

  const device: tsr.DeviceKind = useAccel ? 'webgpu' : 'cpu';

  const { train: split1, test: split2 } = loadDigits();
  const trainLoader = new nn.DataLoader(new nn.TensorDataset(split1.x, split1.y), { batchSize: args.batchSize, shuffle: true });
  const testLoader = new nn.DataLoader(new nn.TensorDataset(split2.x, split2.y), { batchSize: args.batchSize, shuffle: false });

  const model = new VAE().to(device);
  const optimizer = new nn.Adam(model.parameters(), { lr: 1e-3 });

  async function train(epoch: number): Promise<void> {
    model.train();
    let trainLoss = 0;
    for (const [batchIdx, [data0]] of [...trainLoader].entries()) {
      const data = data0!.to(device);
      optimizer.zeroGrad();
      const [reconBatch, mu, logvar] = model.forward(data);
      const loss = lossFunction(reconBatch, data, mu, logvar);
      loss.backward();
      trainLoss += await loss.item() as number;
      optimizer.step();
      if (batchIdx % args.logInterval === 0) {
        console.log(`Train Epoch: ${epoch} [${batchIdx * data.size(0)}/${trainLoader.dataset.length} (${(100 * batchIdx / trainLoader.length).toFixed(0)}%)]\tLoss: ${((await loss.item() as number) / data.size(0)).toFixed(6)}`);
      }
    }
    console.log(`====> Epoch: ${epoch} Average loss: ${(trainLoss / trainLoader.dataset.length).toFixed(4)}`);
  }

  async function test(epoch: number): Promise<void> {
    model.eval();
    let testLoss = 0;
    await tsr.noGrad(async () => {
      for (const [i, [data0]] of [...testLoader].entries()) {
        const data = data0!.to(device);
        const [reconBatch, mu, logvar] = model.forward(data);
        testLoss += await lossFunction(reconBatch, data, mu, logvar).item() as number;
        if (i === 0) {
          const n = Math.min(data.size(0), 8);
          const comparison = tsr.cat([data.index(tsr.sl(null, n)), reconBatch.view(-1, 1, 8, 8).index(tsr.sl(null, n))]);
          saveImage(comparison.to('cpu'), `examples/out/vae/reconstruction_${epoch}.pgm`, n);
        }
      }
    });
    testLoss /= testLoader.dataset.length;
    console.log(`====> Test set loss: ${testLoss.toFixed(4)}`);
  }

  mkdirSync('examples/out/vae', { recursive: true });
  for (let epoch = 1; epoch <= args.epochs; epoch++) {
    await train(epoch);
    await test(epoch);
    tsr.noGrad(() => {
      let sample = tsr.randn(64, 20).to(device);
      sample = model.decode(sample).to('cpu');
      saveImage(sample.view(64, 1, 8, 8), `examples/out/vae/sample_${epoch}.pgm`);
    });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
