"""The torch side of the VAE port's equivalence test (examples/test/ports.test.ts).

pytorch/examples' VAE (vae/main.py, sized for the 8x8 digits) with the port's weights read from
safetensors, trained with Adam on the reconstruction + KL loss; the reparameterisation noise of each
step is given (the same on both sides), not drawn. Prints the loss of every step as JSON.
"""
import json
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from safetensors_reader import read_safetensors  # noqa: E402


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(64, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 64)
        self.eps = None

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + self.eps * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


cfg = json.load(open(sys.argv[1]))
model = VAE()
model.load_state_dict(read_safetensors(cfg["weights"]))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.tensor(cfg["x"], dtype=torch.float32).reshape(-1, 1, 8, 8)
eps = torch.tensor(cfg["eps"], dtype=torch.float32).reshape(cfg["steps"], cfg["batch_size"], 20)
bs, losses = cfg["batch_size"], []
model.train()
for step in range(cfg["steps"]):
    data = x[step * bs:(step + 1) * bs]
    model.eps = eps[step]
    optimizer.zero_grad()
    recon, mu, logvar = model(data)
    loss = loss_function(recon, data, mu, logvar)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(json.dumps(losses))
