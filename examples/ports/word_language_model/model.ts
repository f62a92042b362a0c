/**
 * A port of pytorch/examples' word_language_model/model.py (BSD-3-Clause): the RNNModel (LSTM, GRU,
 * RNN_TANH or RNN_RELU with an embedding encoder and a linear decoder, optionally tied). The
 * Transformer variant is not ported (see NOTES.md).
 */
import * as tsr from 'tessera';

const { nn } = tsr;
const F = nn.functional;
type Tensor = tsr.Tensor;
export type Hidden = Tensor | [Tensor, Tensor];

/** Container module with an encoder, a recurrent module, and a decoder. */
export class RNNModel extends nn.Module<[Tensor, Hidden], [Tensor, Hidden]> {
  ntoken: number; drop: tsr.nn.Dropout; encoder: tsr.nn.Embedding; rnn: tsr.nn.RNNBase; decoder: tsr.nn.Linear;
  rnnType: string; nhid: number; nlayers: number;
  constructor(rnnType: string, ntoken: number, ninp: number, nhid: number, nlayers: number, dropout = 0.5, tieWeights = false) {
    super();
    this.ntoken = ntoken;
    this.drop = new nn.Dropout(dropout);
    this.encoder = new nn.Embedding(ntoken, ninp);
    if (['LSTM', 'GRU'].includes(rnnType)) {
      this.rnn = new nn[rnnType as 'LSTM' | 'GRU'](ninp, nhid, nlayers, { dropout });
    } else {
      const nonlinearity = ({ RNN_TANH: 'tanh', RNN_RELU: 'relu' } as const)[rnnType as 'RNN_TANH' | 'RNN_RELU'];
      if (nonlinearity === undefined) throw new Error(`An invalid option for \`--model\` was supplied, options are ['LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU']`);
      this.rnn = new nn.RNN(ninp, nhid, nlayers, { nonlinearity, dropout });
    }
    this.decoder = new nn.Linear(nhid, ntoken);

    // Optionally tie weights as in:
    // "Using the Output Embedding to Improve Language Models" (Press & Wolf 2016)
    // https://arxiv.org/abs/1608.05859
    // and
    // "Tying Word Vectors and Word Classifiers: A Loss Framework for Language Modeling" (Inan et al. 2016)
    // https://arxiv.org/abs/1611.01462
    if (tieWeights) {
      if (nhid !== ninp) throw new Error('When using the tied flag, nhid must be equal to emsize');
      this.decoder.weight = this.encoder.weight;
    }

    this.initWeights();

    this.rnnType = rnnType;
    this.nhid = nhid;
    this.nlayers = nlayers;
  }

  initWeights(): void {
    const initrange = 0.1;
    nn.init.uniform_(this.encoder.weight, -initrange, initrange);
    nn.init.zeros_(this.decoder.bias!);
    nn.init.uniform_(this.decoder.weight, -initrange, initrange);
  }

  forward(input: Tensor, hidden: Hidden): [Tensor, Hidden] {
    const emb = this.drop.forward(this.encoder.forward(input));
    let [output, hiddenOut] = this.rnn.forward(emb, hidden);
    output = this.drop.forward(output);
    let decoded = this.decoder.forward(output);
    decoded = decoded.view(-1, this.ntoken);
    return [F.logSoftmax(decoded, 1), hiddenOut];
  }

  initHidden(bsz: number): Hidden {
    const weight = this.parameters()[0]!;
    if (this.rnnType === 'LSTM') {
      return [weight.newZeros([this.nlayers, bsz, this.nhid]),
        weight.newZeros([this.nlayers, bsz, this.nhid])];
    } else {
      return weight.newZeros([this.nlayers, bsz, this.nhid]);
    }
  }
}
