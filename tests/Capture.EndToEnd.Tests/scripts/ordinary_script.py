"""An ordinary script (no EXAMPLES dict): capture explain / capture report run it with its arguments
and report every frame it compiled."""

import sys

import torch

import capture

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


@capture.compile
def step(x):
    y = torch.relu(x) * SCALE
    print("step ran")
    return y.sum()


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return torch.tanh(self.fc(x))


net = capture.compile(Net())
torch.manual_seed(0)
for _ in range(2):
    step(torch.randn(4))
    net(torch.randn(3, 4))
print(f"scale {SCALE}")
