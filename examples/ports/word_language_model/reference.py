"""The torch side of the word language model port's equivalence test (examples/test/ports.test.ts).

pytorch/examples' RNNModel (word_language_model/model.py) with the port's weights (read from
safetensors), trained as main.py's train() does: hidden state detached per batch, NLL loss, gradient
clipping, then p -= lr * grad. Prints the loss of every batch as JSON.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from safetensors_reader import read_safetensors  # noqa: E402


class RNNModel(nn.Module):
    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ['LSTM', 'GRU']:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity={'RNN_TANH': 'tanh', 'RNN_RELU': 'relu'}[rnn_type], dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def forward(self, input, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(input)), hidden)
        return F.log_softmax(self.decoder(self.drop(output)).view(-1, self.ntoken), dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == 'LSTM':
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


def repackage_hidden(h):
    return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)


cfg = json.load(open(sys.argv[1]))
m = cfg["model"]
model = RNNModel(m["type"], m["ntokens"], m["emsize"], m["nhid"], m["nlayers"], 0.0, m["tied"])
model.load_state_dict(read_safetensors(cfg["weights"]))
criterion = nn.NLLLoss()
train_data = torch.tensor(cfg["data"], dtype=torch.long)
bptt, lr, losses = cfg["bptt"], cfg["lr"], []
model.train()
for step in range(cfg["steps"]):
    if step % cfg["epoch_batches"] == 0:
        hidden = model.init_hidden(train_data.size(1))
    i = (step % cfg["epoch_batches"]) * bptt
    data, targets = train_data[i:i + bptt], train_data[i + 1:i + 1 + bptt].reshape(-1)
    model.zero_grad()
    hidden = repackage_hidden(hidden)
    output, hidden = model(data, hidden)
    loss = criterion(output, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)
    losses.append(loss.item())
print(json.dumps(losses))
