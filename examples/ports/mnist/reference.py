"""The torch side of the mnist port's equivalence test (examples/test/ports.test.ts).

pytorch/examples' mnist Net (with fc1 sized for the 8x8 digits), the port's weights read from a
safetensors file, Adadelta and StepLR(step_size=1) stepped every `epoch` batches, dropout off, the
same batches: prints the loss of every step as JSON.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from safetensors_reader import read_safetensors  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(256, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return F.log_softmax(self.fc2(x), dim=1)


cfg = json.load(open(sys.argv[1]))
model = Net()
model.load_state_dict(read_safetensors(cfg["weights"]))
model.eval()  # dropout off
optimizer = torch.optim.Adadelta(model.parameters(), lr=cfg["lr"])
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=cfg["gamma"])
x = torch.tensor(cfg["x"], dtype=torch.float32).reshape(-1, 1, 8, 8)
y = torch.tensor(cfg["y"], dtype=torch.long)
bs, losses = cfg["batch_size"], []
for step in range(cfg["steps"]):
    data, target = x[step * bs:(step + 1) * bs], y[step * bs:(step + 1) * bs]
    optimizer.zero_grad()
    loss = F.nll_loss(model(data), target)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if (step + 1) % cfg["epoch"] == 0:
        scheduler.step()
print(json.dumps(losses))
