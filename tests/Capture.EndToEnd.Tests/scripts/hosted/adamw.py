"""A module trained with torch.optim.AdamW, compiled and eager side by side, in plain python3.11.
Usage: adamw.py BACKEND. Prints one line per step and `losses equal: True|False`."""
import sys

import torch

import capture

torch.manual_seed(0)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(12, 32)
        self.norm = torch.nn.LayerNorm(32)
        self.fc2 = torch.nn.Linear(32, 3)

    def forward(self, x):
        return self.fc2(torch.nn.functional.gelu(self.norm(self.fc1(x))))


eager = Net()
compiled_net = Net()
compiled_net.load_state_dict(eager.state_dict())
compiled = capture.compile(compiled_net, backend=sys.argv[1])
optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-2) for m in (eager, compiled_net)]
x, y = torch.randn(64, 12), torch.randint(0, 3, (64,))
same = True
for step in range(6):
    losses = []
    for model, optimizer in zip((eager, compiled), optimizers):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f"step {step}: eager {losses[0]:.6f} compiled {losses[1]:.6f}")
    same = same and abs(losses[0] - losses[1]) <= 1e-5 * max(1.0, abs(losses[0]))
print("parameters equal:", all(torch.allclose(a, b, atol=1e-5) for a, b in zip(eager.parameters(), compiled_net.parameters())))
print("losses equal:", same)
