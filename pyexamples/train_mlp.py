"""A few SGD steps of a small MLP on synthetic data, with the loss computed by a compiled function:
loss.backward() runs the compiled backward graph. Under `./capture run` it also trains an eager
copy from the same start and compares the losses step by step; under plain python3 it trains
eagerly (the losses printed are the same)."""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import capture
except ImportError:  # plain python3: the eager reference
    capture = None


class MLP(nn.Module):
    def __init__(self, d_in=16, d_hidden=64, d_out=1):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.fc3 = nn.Linear(d_hidden, d_out)

    def forward(self, x):
        return self.fc3(F.gelu(self.fc2(torch.relu(self.fc1(x)))))


def data(seed=0, n=256, d_in=16):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=g)
    w = torch.randn(d_in, 1, generator=g)
    y = torch.sin(x @ w) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def make_loss(model):
    def loss_fn(x, y):
        return ((model(x) - y) ** 2).mean()
    return loss_fn


def train(loss_fn, params, x, y, steps=10, lr=0.05, batch=128):
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
    losses = []
    for step in range(steps):
        i = (step * batch) % x.shape[0]
        loss = loss_fn(x[i:i + batch], y[i:i + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


EXAMPLES = {"loss_fn": lambda: data()}

torch.manual_seed(0)
model = MLP()
loss_fn = make_loss(model)

if __name__ == "__main__":
    x, y = data()
    reference = copy.deepcopy(model)
    run = capture.compile(loss_fn) if capture else loss_fn
    losses = train(run, model.parameters(), x, y)
    for step, loss in enumerate(losses):
        print(f"step {step}: loss {loss:.5f}")
    print(f"loss went down: {losses[-1] < losses[0]}")
    if capture:
        eager = train(make_loss(reference), reference.parameters(), x, y)
        worst = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses, eager))
        print(f"losses match eager step by step: {worst < 1e-4} (largest relative difference {worst:.2e})")
        same = all(torch.allclose(p, q, rtol=1e-4, atol=1e-5) for p, q in zip(model.parameters(), reference.parameters()))
        print(f"trained parameters match eager: {same}")
