"""Trains the MLP described in a JSON file with PyTorch and prints the per-step losses as JSON.

Used by torch-equivalence.test.ts: same initial weights, data and hyperparameters as the Tessera run.
"""
import json
import sys

import torch

cfg = json.load(open(sys.argv[1]))
torch.set_default_dtype(torch.float32)
x = torch.tensor(cfg["x"], dtype=torch.float32).reshape(cfg["n"], cfg["d"])
y = torch.tensor(cfg["y"], dtype=torch.int64)
model = torch.nn.Sequential(torch.nn.Linear(cfg["d"], cfg["h"]), torch.nn.Tanh(), torch.nn.Linear(cfg["h"], cfg["c"]))
with torch.no_grad():
    for name, p in model.named_parameters():
        p.copy_(torch.tensor(cfg["params"][name], dtype=torch.float32).reshape(p.shape))
o = cfg["optimizer"]
if o["name"] == "sgd":
    opt = torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=o["momentum"], weight_decay=o["weightDecay"], nesterov=o["nesterov"])
elif o["name"] == "rmsprop":
    opt = torch.optim.RMSprop(model.parameters(), lr=o["lr"], alpha=o["alpha"], eps=o["eps"], weight_decay=o["weightDecay"], momentum=o["momentum"], centered=o["centered"])
elif o["name"] == "adagrad":
    opt = torch.optim.Adagrad(model.parameters(), lr=o["lr"], lr_decay=o["lrDecay"], weight_decay=o["weightDecay"], initial_accumulator_value=o["initialAccumulatorValue"], eps=o["eps"])
elif o["name"] == "adamax":
    opt = torch.optim.Adamax(model.parameters(), lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weightDecay"])
elif o["name"] == "radam":
    opt = torch.optim.RAdam(model.parameters(), lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weightDecay"])
elif o["name"] == "nadam":
    # torch 1.13 multiplies mu_t into the next mu product twice; torch 2.0 fixed that (and Tessera
    # follows the fix): its own update, with that one line as torch 2 has it.
    import inspect
    import torch.optim.nadam as nadam
    exec(inspect.getsource(nadam._single_tensor_nadam).replace("mu_product * mu * mu_next", "mu_product * mu_next"), nadam.__dict__)
    opt = torch.optim.NAdam(model.parameters(), lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weightDecay"], momentum_decay=o["momentumDecay"])
elif o["name"] == "adadelta":
    opt = torch.optim.Adadelta(model.parameters(), lr=o["lr"], rho=o["rho"], eps=o["eps"], weight_decay=o["weightDecay"])
else:
    opt = torch.optim.Adam(model.parameters(), lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weightDecay"])
losses = []
for _ in range(cfg["steps"]):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(json.dumps(losses))
