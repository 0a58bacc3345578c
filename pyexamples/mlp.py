"""A small MLP forward pass, compiled by Capture (under `./capture run`) or run eagerly (plain
python3, where `import capture` is not available): both print the same thing."""

import torch
import torch.nn as nn

try:
    import capture
except ImportError:  # plain python3: the eager reference
    capture = None


class MLP(nn.Module):
    def __init__(self, d_in=16, d_hidden=32, d_out=4):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)

    def forward(self, x):
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


def mlp(x, w1, b1, w2, b2):
    return torch.nn.functional.gelu(x @ w1 + b1) @ w2 + b2


def _weights(seed=0, d_in=16, d_hidden=32, d_out=4):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(8, d_in, generator=g),
        torch.randn(d_in, d_hidden, generator=g) * d_in**-0.5,
        torch.zeros(d_hidden),
        torch.randn(d_hidden, d_out, generator=g) * d_hidden**-0.5,
        torch.zeros(d_out),
    )


torch.manual_seed(0)
model = MLP().eval()

EXAMPLES = {
    "mlp": _weights,
    "model": lambda: (torch.randn(8, 16, generator=torch.Generator().manual_seed(1)),),
}


if __name__ == "__main__":
    run_mlp = capture.compile(mlp) if capture else mlp
    run_model = capture.compile(model) if capture else model
    x, w1, b1, w2, b2 = _weights()
    out = run_mlp(x, w1, b1, w2, b2)
    print("mlp(x) ->", tuple(out.shape))
    print(out)
    with torch.no_grad():
        y = run_model(*EXAMPLES["model"]())
    print("MLP module ->", tuple(y.shape), "sum", round(float(y.sum()), 4))
