"""Functions with work the optimizer removes. `./capture graph pyexamples/optimize.py::repeated
--stage optimized` shows the graph after the passes, `--passes` what each pass changed;
`scaled_positions` shows constant folding."""

import torch

import capture


def repeated(x, y):
    # the same gelu twice, a multiplication by one, a square through pow, and an unused value
    a = torch.nn.functional.gelu(x + y)
    b = torch.nn.functional.gelu(x + y)
    unused = torch.exp(x)
    return (a * 1 + b) ** 2


def scaled_positions(x):
    # a table computed from constants only (folded into one constant at compile time), and the
    # same product written twice (computed once)
    positions = torch.arange(8) / 8.0
    scale = torch.exp(-positions) * 2 + 1
    return x * scale + (x * scale).sum(-1, keepdim=True)


def view_chains(x):
    # transposing back and forth, a view of a view, squeeze(unsqueeze(...))
    y = x.t().t().reshape(-1).view(4, 6)
    return y.unsqueeze(0).squeeze(0).sum(0)


EXAMPLES = {
    "repeated": lambda: (torch.randn(4, 8), torch.randn(4, 8)),
    "scaled_positions": lambda: (torch.randn(4, 8),),
    "view_chains": lambda: (torch.randn(6, 4),),
}


if __name__ == "__main__":
    torch.manual_seed(0)
    for name, make in EXAMPLES.items():
        fn = globals()[name]
        args = make()
        same = torch.allclose(capture.compile(fn)(*args), fn(*args), rtol=1e-5, atol=1e-6)
        print(f"{name}: matches eager: {same}")
