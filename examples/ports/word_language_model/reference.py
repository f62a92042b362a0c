"""The torch side of the word language model port's equivalence test (examples/test/ports.test.ts).

pytorch/examples' RNNModel and TransformerModel (word_language_model/model.py) with the port's weights
(read from safetensors), trained as main.py's train() does: hidden state detached per batch (RNNs),
NLL loss, gradient clipping, then p -= lr * grad. Prints the loss of every batch as JSON.
"""
import json
import math
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


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer('pe', pe.unsqueeze(0).transpose(0, 1))

    def forward(self, x):
        return self.dropout(x + self.pe[:x.size(0), :])


class TransformerModel(nn.Transformer):
    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers)
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)

    def forward(self, src):
        sz = len(src)
        if self.src_mask is None or self.src_mask.size(0) != sz:
            mask = (torch.triu(torch.ones(sz, sz)) == 1).transpose(0, 1)
            self.src_mask = mask.float().masked_fill(mask == 0, float('-inf')).masked_fill(mask == 1, float(0.0))
        src = self.pos_encoder(self.input_emb(src) * math.sqrt(self.ninp))
        return F.log_softmax(self.decoder(self.encoder(src, mask=self.src_mask)), dim=-1)


def repackage_hidden(h):
    return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)


cfg = json.load(open(sys.argv[1]))
m = cfg["model"]
transformer = m["type"] == "Transformer"
if transformer:
    model = TransformerModel(m["ntokens"], m["emsize"], m["nhead"], m["nhid"], m["nlayers"], 0.0)
else:
    model = RNNModel(m["type"], m["ntokens"], m["emsize"], m["nhid"], m["nlayers"], 0.0, m["tied"])
model.load_state_dict(read_safetensors(cfg["weights"]))
criterion = nn.NLLLoss()
train_data = torch.tensor(cfg["data"], dtype=torch.long)
bptt, lr, losses = cfg["bptt"], cfg["lr"], []
# nn.Transformer's layers have dropout 0.1 (upstream passes its own only to the positional
# encoding): evaluation mode turns it off on both sides, gradients flow as in training.
model.eval() if transformer else model.train()
for step in range(cfg["steps"]):
    if step % cfg["epoch_batches"] == 0 and not transformer:
        hidden = model.init_hidden(train_data.size(1))
    i = (step % cfg["epoch_batches"]) * bptt
    data, targets = train_data[i:i + bptt], train_data[i + 1:i + 1 + bptt].reshape(-1)
    model.zero_grad()
    if transformer:
        output = model(data).view(-1, m["ntokens"])
    else:
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
    loss = criterion(output, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)
    losses.append(loss.item())
print(json.dumps(losses))
