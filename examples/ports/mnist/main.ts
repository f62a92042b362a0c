/**
 * A port of pytorch/examples' mnist/main.py (BSD-3-Clause) to Tessera: names renamed, what
 * JavaScript forces (m.forward(x) for m(x)), and the differences listed in NOTES.md (the data are
 * the UCI 8x8 digits, which ship offline, instead of MNIST's 28x28).
 *
 * $ npx tsx examples/ports/mnist/main.ts --epochs 3
 */
import { parseArgs } from 'node:util';
import * as tsr from 'tessera';
import { loadDigits } from '../../src/digits.js';

const { nn } = tsr;
const F = nn.functional;
type Tensor = tsr.Tensor;

export class Net extends nn.Module {
  conv1: tsr.nn.Conv2d; conv2: tsr.nn.Conv2d; dropout1: tsr.nn.Dropout; dropout2: tsr.nn.Dropout; fc1: tsr.nn.Linear; fc2: tsr.nn.Linear;
  constructor() {
    super();
    this.conv1 = new nn.Conv2d(1, 32, 3, 1);
    this.conv2 = new nn.Conv2d(32, 64, 3, 1);
    this.dropout1 = new nn.Dropout(0.25);
    this.dropout2 = new nn.Dropout(0.5);
    this.fc1 = new nn.Linear(256, 128);
    this.fc2 = new nn.Linear(128, 10);
  }

  forward(x: Tensor): Tensor {
    x = this.conv1.forward(x);
    x = F.relu(x);
    x = this.conv2.forward(x);
    x = F.relu(x);
    x = F.maxPool2d(x, 2);
    x = this.dropout1.forward(x);
    x = tsr.flatten(x, 1);
    x = this.fc1.forward(x);
    x = F.relu(x);
    x = this.dropout2.forward(x);
    x = this.fc2.forward(x);
    const output = F.logSoftmax(x, 1);
    return output;
  }
}

interface Args { batchSize: number; testBatchSize: number; epochs: number; lr: number; gamma: number; noCuda: boolean; dryRun: boolean; seed: number; logInterval: number; saveModel: boolean }

export async function train(args: Args, model: Net, device: tsr.DeviceKind, trainLoader: tsr.nn.DataLoader<Tensor[]>, optimizer: tsr.nn.Optimizer, epoch: number): Promise<void> {
  model.train();
  for (const [batchIdx, [data0, target0]] of [...trainLoader].entries()) {
    const [data, target] = [data0!.to(device), target0!.to(device)];
    optimizer.zeroGrad();
    const output = model.forward(data);
    const loss = F.nllLoss(output, target);
    loss.backward();
    optimizer.step();
    if (batchIdx % args.logInterval === 0) {
      console.log(`Train Epoch: ${epoch} [${batchIdx * data.size(0)}/${trainLoader.dataset.length} (${(100 * batchIdx / trainLoader.length).toFixed(0)}%)]\tLoss: ${(await loss.item() as number).toFixed(6)}`);
      if (args.dryRun) break;
    }
  }
}

export async function test(model: Net, device: tsr.DeviceKind, testLoader: tsr.nn.DataLoader<Tensor[]>): Promise<number> {
  model.eval();
  let testLoss = 0;
  let correct = 0;
  await tsr.noGrad(async () => {
    for (const [data0, target0] of testLoader) {
      const [data, target] = [data0!.to(device), target0!.to(device)];
      const output = model.forward(data);
      testLoss += await F.nllLoss(output, target, { reduction: 'sum' }).item() as number; // sum up batch loss
      const pred = output.argmax(1, { keepdim: true }); // get the index of the max log-probability
      correct += await pred.eq(target.viewAs(pred)).sum().item() as number;
    }
  });
  testLoss /= testLoader.dataset.length;
  console.log(`\nTest set: Average loss: ${testLoss.toFixed(4)}, Accuracy: ${correct}/${testLoader.dataset.length} (${(100 * correct / testLoader.dataset.length).toFixed(0)}%)\n`);
  return correct / testLoader.dataset.length;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  // Training settings
  const { values } = parseArgs({
    args: argv,
    options: {
      'batch-size': { type: 'string', default: '64' }, // input batch size for training
      'test-batch-size': { type: 'string', default: '1000' }, // input batch size for testing
      epochs: { type: 'string', default: '14' }, // number of epochs to train
      lr: { type: 'string', default: '1.0' }, // learning rate
      gamma: { type: 'string', default: '0.7' }, // Learning rate step gamma
      'no-cuda': { type: 'boolean', default: false }, // disables GPU training
      'dry-run': { type: 'boolean', default: false }, // quickly check a single pass
      seed: { type: 'string', default: '1' }, // random seed
      'log-interval': { type: 'string', default: '10' }, // how many batches to wait before logging training status
      'save-model': { type: 'boolean', default: false }, // For Saving the current Model
    },
  });
  const args: Args = {
    batchSize: Number(values['batch-size']), testBatchSize: Number(values['test-batch-size']), epochs: Number(values.epochs), lr: Number(values.lr),
    gamma: Number(values.gamma), noCuda: values['no-cuda']!, dryRun: values['dry-run']!, seed: Number(values.seed), logInterval: Number(values['log-interval']), saveModel: values['save-model']!,
  };
  const useCuda = !args.noCuda && tsr.availableDevices().includes('webgpu');

  tsr.manualSeed(args.seed);

  const device: tsr.DeviceKind = useCuda ? 'webgpu' : 'cpu';

  const trainKwargs = { batchSize: args.batchSize };
  const testKwargs = { batchSize: args.testBatchSize };

  // the digits in [0, 1], normalized by their mean and standard deviation (as MNIST's 0.1307, 0.3081)
  const { train: split1, test: split2 } = loadDigits();
  const [mean, std] = [split1.x.mean().itemSync() as number, split1.x.std().itemSync() as number];
  const dataset1 = new nn.TensorDataset(split1.x.sub(mean).div(std), split1.y);
  const dataset2 = new nn.TensorDataset(split2.x.sub(mean).div(std), split2.y);
  const trainLoader = new nn.DataLoader(dataset1, trainKwargs);
  const testLoader = new nn.DataLoader(dataset2, testKwargs);

  const model = new Net().to(device);
  const optimizer = new nn.Adadelta(model.parameters(), { lr: args.lr });

  const scheduler = new nn.StepLR(optimizer, 1, args.gamma);
  let accuracy = 0;
  for (let epoch = 1; epoch <= args.epochs; epoch++) {
    await train(args, model, device, trainLoader, optimizer, epoch);
    accuracy = await test(model, device, testLoader);
    scheduler.step();
  }

  if (args.saveModel) tsr.nn.saveFile('mnist_cnn.safetensors', model.stateDict());
  return accuracy;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
