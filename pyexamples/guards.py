"""Functions that recompile when what their capture depended on changes: a tensor's shape or dtype,
a global constant, a module's training mode. Every call still equals eager PyTorch."""

import torch

import capture

SCALE = 2.0


def scaled(x):
    return x * SCALE


def by_shape(x):
    if x.shape[0] > 2:
        return x.sum(0)
    return x.sum(1)


class Head(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)
        self.drop = torch.nn.Dropout(0.0)

    def forward(self, x):
        y = self.proj(x)
        return y * 0.5 if self.training else y


torch.manual_seed(0)
head = Head()

EXAMPLES = {
    "scaled": lambda: (torch.randn(3),),
    "by_shape": lambda: (torch.randn(3, 2),),
    "head": lambda: (torch.randn(2, 4),),
}


def same(a, b):
    return a.dtype == b.dtype and torch.allclose(a, b, rtol=1e-5, atol=1e-6)


if __name__ == "__main__":
    capture.reset()
    f, g, h = (capture.compile(fn) for fn in (scaled, by_shape, head))
    checks = [
        same(f(torch.ones(3)), scaled(torch.ones(3))),
        same(f(torch.ones(5)), scaled(torch.ones(5))),  # shape change
        same(f(torch.ones(3, dtype=torch.float64)), scaled(torch.ones(3, dtype=torch.float64))),  # dtype change
    ]
    SCALE = 3.0  # a global the capture depended on
    checks.append(same(f(torch.ones(3)), scaled(torch.ones(3))))
    checks.append(same(g(torch.ones(3, 2)), by_shape(torch.ones(3, 2))))
    checks.append(same(g(torch.ones(2, 3)), by_shape(torch.ones(2, 3))))
    x = torch.randn(2, 4)
    checks.append(same(h(x), head(x)))
    head.eval()  # module mode
    checks.append(same(h(x), head(x)))
    print("all calls match eager:", all(checks))
    print("recompiles:")
    for reason in capture._native.recompile_reasons():
        print("  " + reason)
