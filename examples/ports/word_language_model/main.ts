/**
 * A port of pytorch/examples' word_language_model/main.py (BSD-3-Clause): an RNN/LSTM/GRU or
 * Transformer word language model trained with truncated backpropagation through time, plain SGD
 * with gradient clipping, and a learning rate quartered when validation stops improving. What
 * differs from upstream beyond renames is listed in NOTES.md.
 *
 * $ npx tsx examples/ports/word_language_model/main.ts --epochs 2 --model LSTM
 * $ npx tsx examples/ports/word_language_model/main.ts --epochs 2 --model Transformer --lr 5
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tsr from 'tessera';
import { Corpus } from './data.js';
import { type Hidden, RNNModel, TransformerModel } from './model.js';

const { nn } = tsr;

const { values: a } = parseArgs({
  options: {
    data: { type: 'string', default: 'examples/out/sonnets-words' }, // location of the data corpus
    model: { type: 'string', default: 'LSTM' }, // type of network (RNN_TANH, RNN_RELU, LSTM, GRU, Transformer)
    emsize: { type: 'string', default: '200' }, // size of word embeddings
    nhid: { type: 'string', default: '200' }, // number of hidden units per layer
    nlayers: { type: 'string', default: '2' }, // number of layers
    lr: { type: 'string', default: '20' }, // initial learning rate
    clip: { type: 'string', default: '0.25' }, // gradient clipping
    epochs: { type: 'string', default: '40' }, // upper epoch limit
    batch_size: { type: 'string', default: '20' }, // batch size
    bptt: { type: 'string', default: '35' }, // sequence length
    dropout: { type: 'string', default: '0.2' }, // dropout applied to layers (0 = no dropout)
    tied: { type: 'boolean', default: false }, // tie the word embedding and softmax weights
    seed: { type: 'string', default: '1111' }, // random seed
    'log-interval': { type: 'string', default: '200' }, // report interval
    save: { type: 'string', default: 'examples/out/word-lm.safetensors' }, // path to save the final model
    nhead: { type: 'string', default: '2' }, // the number of heads in the encoder/decoder of the transformer model
    'dry-run': { type: 'boolean', default: false }, // verify the code and the model
  },
});
const args = {
  data: a.data!, model: a.model!, emsize: Number(a.emsize), nhid: Number(a.nhid), nlayers: Number(a.nlayers), lr: Number(a.lr), clip: Number(a.clip), epochs: Number(a.epochs),
  batchSize: Number(a.batch_size), bptt: Number(a.bptt), dropout: Number(a.dropout), tied: a.tied!, seed: Number(a.seed), logInterval: Number(a['log-interval']), save: a.save!, nhead: Number(a.nhead), dryRun: a['dry-run']!,
};

// Set the random seed manually for reproducibility.
tsr.manualSeed(args.seed);
const device: tsr.DeviceKind = 'cpu';

///////////////////////////////////////////////////////////////////////////////
// Load data
///////////////////////////////////////////////////////////////////////////////

// The sonnets as a word corpus (upstream reads wikitext-2): lines split 80/10/10 into the three files.
if (!existsSync(path.join(args.data, 'train.txt'))) {
  const lines = readFileSync(new URL('../../text/sonnets.txt', import.meta.url), 'utf8').split('\n').filter((l) => l.trim());
  const [n1, n2] = [Math.floor(lines.length * 0.8), Math.floor(lines.length * 0.9)];
  mkdirSync(args.data, { recursive: true });
  for (const [name, part] of [['train', lines.slice(0, n1)], ['valid', lines.slice(n1, n2)], ['test', lines.slice(n2)]] as const) writeFileSync(path.join(args.data, `${name}.txt`), `${part.join('\n')}\n`);
}
const corpus = new Corpus(args.data);

// Starting from sequential data, batchify arranges the dataset into columns.
// For instance, with the alphabet as the sequence and batch size 4, we'd get
// ┌ a g m s ┐
// │ b h n t │
// │ c i o u │
// │ d j p v │
// │ e k q w │
// └ f l r x ┘.
// These columns are treated as independent by the model, which means that the
// dependence of e. g. 'g' on 'f' can not be learned, but allows more efficient
// batch processing.

function batchify(data: tsr.Tensor, bsz: number): tsr.Tensor {
  // Work out how cleanly we can divide the dataset into bsz parts.
  const nbatch = Math.floor(data.size(0) / bsz);
  // Trim off any extra elements that wouldn't cleanly fit (remainders).
  data = data.narrow(0, 0, nbatch * bsz);
  // Evenly divide the data across the bsz batches.
  data = data.view(bsz, -1).t().contiguous();
  return data.to(device);
}

const evalBatchSize = 10;
const trainData = batchify(corpus.train, args.batchSize);
const valData = batchify(corpus.valid, evalBatchSize);
const testData = batchify(corpus.test, evalBatchSize);

///////////////////////////////////////////////////////////////////////////////
// Build the model
///////////////////////////////////////////////////////////////////////////////

const ntokens = corpus.dictionary.length;
let model: RNNModel | TransformerModel;
if (args.model === 'Transformer') {
  model = new TransformerModel(ntokens, args.emsize, args.nhead, args.nhid, args.nlayers, args.dropout).to(device);
} else {
  model = new RNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied).to(device);
}

const criterion = new nn.NLLLoss();

///////////////////////////////////////////////////////////////////////////////
// Training code
///////////////////////////////////////////////////////////////////////////////

/** Wraps hidden states in new Tensors, to detach them from their history. */
function repackageHidden(h: Hidden): Hidden {
  if (h instanceof tsr.Tensor) return h.detach();
  else return h.map((v) => repackageHidden(v)) as [tsr.Tensor, tsr.Tensor];
}

// getBatch subdivides the source data into chunks of length args.bptt.
// If source is equal to the example output of the batchify function, with
// a bptt-limit of 2, we'd get the following two Variables for i = 0:
// ┌ a g m s ┐ ┌ b h n t ┐
// └ b h n t ┘ └ c i o u ┘
// Note that despite the name of the function, the subdivison of data is not
// done along the batch dimension (i.e. dimension 1), since that was handled
// by the batchify function. The chunks are along dimension 0, corresponding
// to the seq_len dimension in the LSTM.

function getBatch(source: tsr.Tensor, i: number): [tsr.Tensor, tsr.Tensor] {
  const seqLen = Math.min(args.bptt, source.size(0) - 1 - i);
  const data = source.index(tsr.sl(i, i + seqLen));
  const target = source.index(tsr.sl(i + 1, i + 1 + seqLen)).reshape(-1);
  return [data, target];
}

async function evaluate(dataSource: tsr.Tensor): Promise<number> {
  // Turn on evaluation mode which disables dropout.
  model.eval();
  let totalLoss = 0.0;
  let hidden!: Hidden;
  if (args.model !== 'Transformer') hidden = (model as RNNModel).initHidden(evalBatchSize);
  await tsr.noGrad(async () => {
    for (let i = 0; i < dataSource.size(0) - 1; i += args.bptt) {
      const [data, targets] = getBatch(dataSource, i);
      let output: tsr.Tensor;
      if (args.model === 'Transformer') {
        output = (model as TransformerModel).forward(data);
        output = output.view(-1, ntokens);
      } else {
        [output, hidden] = (model as RNNModel).forward(data, hidden);
        hidden = repackageHidden(hidden);
      }
      totalLoss += data.size(0) * (await criterion.forward(output, targets).item() as number);
    }
  });
  return totalLoss / (dataSource.size(0) - 1);
}

async function train(): Promise<void> {
  // Turn on training mode which enables dropout.
  model.train();
  let totalLoss = 0.0;
  let startTime = performance.now();
  let hidden!: Hidden;
  if (args.model !== 'Transformer') hidden = (model as RNNModel).initHidden(args.batchSize);
  for (let batch = 0, i = 0; i < trainData.size(0) - 1; batch++, i += args.bptt) {
    const [data, targets] = getBatch(trainData, i);
    // Starting each batch, we detach the hidden state from how it was previously produced.
    // If we didn't, the model would try backpropagating all the way to start of the dataset.
    model.zeroGrad();
    let output: tsr.Tensor;
    if (args.model === 'Transformer') {
      output = (model as TransformerModel).forward(data);
      output = output.view(-1, ntokens);
    } else {
      hidden = repackageHidden(hidden);
      [output, hidden] = (model as RNNModel).forward(data, hidden);
    }
    const loss = criterion.forward(output, targets);
    loss.backward();

    // `clipGradNorm_` helps prevent the exploding gradient problem in RNNs / LSTMs.
    nn.clipGradNorm_(model.parameters(), args.clip);
    tsr.noGrad(() => { for (const p of model.parameters()) p.add_(p.grad!, { alpha: -lr }); });

    totalLoss += await loss.item() as number;

    if (batch % args.logInterval === 0 && batch > 0) {
      const curLoss = totalLoss / args.logInterval;
      const elapsed = (performance.now() - startTime) / 1000;
      console.log(`| epoch ${String(epoch).padStart(3)} | ${String(batch).padStart(5)}/${String(Math.floor(trainData.size(0) / args.bptt)).padStart(5)} batches | lr ${lr.toFixed(2)} | ms/batch ${(elapsed * 1000 / args.logInterval).toFixed(2).padStart(5)} | loss ${curLoss.toFixed(2).padStart(5)} | ppl ${Math.exp(curLoss).toFixed(2).padStart(8)}`);
      totalLoss = 0;
      startTime = performance.now();
    }
    if (args.dryRun) break;
  }
}

// Loop over epochs.
let lr = args.lr;
let bestValLoss: number | undefined;
let epoch = 1;

// At any point you can hit Ctrl + C to break out of training early.
process.once('SIGINT', () => { console.log('-'.repeat(89)); console.log('Exiting from training early'); args.epochs = epoch; });
for (; epoch <= args.epochs; epoch++) {
  const epochStartTime = performance.now();
  await train();
  const valLoss = await evaluate(valData);
  console.log('-'.repeat(89));
  console.log(`| end of epoch ${String(epoch).padStart(3)} | time: ${((performance.now() - epochStartTime) / 1000).toFixed(2).padStart(5)}s | valid loss ${valLoss.toFixed(2).padStart(5)} | valid ppl ${Math.exp(valLoss).toFixed(2).padStart(8)}`);
  console.log('-'.repeat(89));
  // Save the model if the validation loss is the best we've seen so far.
  if (!bestValLoss || valLoss < bestValLoss) {
    nn.saveFile(args.save, model.stateDict());
    bestValLoss = valLoss;
  } else {
    // Anneal the learning rate if no improvement has been seen in the validation dataset.
    lr /= 4.0;
  }
}

// Load the best saved model.
model = args.model === 'Transformer'
  ? new TransformerModel(ntokens, args.emsize, args.nhead, args.nhid, args.nlayers, args.dropout).to(device)
  : new RNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied).to(device);
model.loadStateDict(nn.loadFile(args.save));

// Run on test data.
const testLoss = await evaluate(testData);
console.log('='.repeat(89));
console.log(`| End of training | test loss ${testLoss.toFixed(2).padStart(5)} | test ppl ${Math.exp(testLoss).toFixed(2).padStart(8)}`);
console.log('='.repeat(89));
