"""Monkeypatching after a compile: every next call must equal eager (a stale result is a failure).
Usage: monkeypatch.py BACKEND MODE; prints one line per case and `stale: N`."""
import sys
import torch
import torch.nn.functional as F
import capture

backend, mode = sys.argv[1], sys.argv[2]
stale = []


def check(name, fn, make, patch, unpatch):
    compiled = capture.compile(fn, backend=backend, mode=mode)
    args = make()
    compiled(*args)
    patch()
    try:
        expected = fn(*args)
        try:
            actual = compiled(*args)
            # float32 products may round differently from eager's (1e-7): a stale result is off by far more
            ok = torch.allclose(actual, expected, rtol=1e-5, atol=1e-6)
        except capture.NotSupported:
            ok = mode == "ast"  # the AST path refuses what it cannot express: no stale result
    finally:
        unpatch()
    print(f"{name}: {'ok' if ok else 'STALE'}")
    if not ok:
        stale.append(name)


def uses_sigmoid(x):
    return torch.sigmoid(x)


sigmoid = torch.sigmoid
check("torch.sigmoid replaced", uses_sigmoid, lambda: (torch.randn(4),),
      lambda: setattr(torch, "sigmoid", lambda t: t * 0 + 42), lambda: setattr(torch, "sigmoid", sigmoid))


def uses_gelu(x):
    return F.gelu(x)


gelu = F.gelu
check("F.gelu replaced", uses_gelu, lambda: (torch.randn(4),),
      lambda: setattr(F, "gelu", lambda t: t * 0 + 7), lambda: setattr(F, "gelu", gelu))


def uses_method(x):
    return x.sigmoid() + 1


check("torch.Tensor.sigmoid replaced", uses_method, lambda: (torch.randn(4),),
      lambda: setattr(torch.Tensor, "sigmoid", lambda t: t * 0 + 3), lambda: delattr(torch.Tensor, "sigmoid"))


def uses_add(x):
    return x + 1


check("torch.Tensor.__add__ replaced", uses_add, lambda: (torch.randn(4),),
      lambda: setattr(torch.Tensor, "__add__", lambda a, b: torch.full_like(a, 5.0)), lambda: delattr(torch.Tensor, "__add__"))

relu = torch.nn.ReLU()


def uses_relu(x):
    return relu(x)


relu_forward = torch.nn.ReLU.forward
check("nn.ReLU.forward replaced", uses_relu, lambda: (torch.randn(4),),
      lambda: setattr(torch.nn.ReLU, "forward", lambda self, t: t * 0 + 5), lambda: setattr(torch.nn.ReLU, "forward", relu_forward))


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.act = torch.nn.ReLU()

    def forward(self, x):
        return self.act(x) + 1


block = Block()
check("a submodule's forward replaced on the instance", block, lambda: (torch.randn(4),),
      lambda: setattr(block.act, "forward", lambda t: t * 0 + 9), lambda: block.act.__dict__.pop("forward"))
block_forward = Block.forward
check("a user class's forward replaced", block, lambda: (torch.randn(4),),
      lambda: setattr(Block, "forward", lambda self, x: x * 0 + 11), lambda: setattr(Block, "forward", block_forward))


def helper(x):
    return x + 1


def other(x):
    return x - 1


def uses_helper(x):
    return helper(x) * 2


helper_code = helper.__code__
check("a helper's __code__ swapped", uses_helper, lambda: (torch.randn(4),),
      lambda: setattr(helper, "__code__", other.__code__), lambda: setattr(helper, "__code__", helper_code))


def uses_relu_twice(x):
    return relu(x) * 2


hooks = []
check("a forward hook added", uses_relu_twice, lambda: (torch.randn(4),),
      lambda: hooks.append(relu.register_forward_hook(lambda m, i, o: o + 100)), lambda: hooks[0].remove())


def uses_len(x):
    return x * len([1, 2])


check("a global shadowing a builtin", uses_len, lambda: (torch.randn(4),),
      lambda: globals().__setitem__("len", lambda v: 10), lambda: globals().pop("len"))


class Stack(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(2)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


stack = Stack()
check("ModuleList.append", stack, lambda: (torch.randn(2, 4),),
      lambda: stack.layers.append(torch.nn.Linear(4, 4)), lambda: stack.layers.__delitem__(2))
print(f"stale: {len(stale)}")
