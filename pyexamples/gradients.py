"""Gradients through compiled graphs: each model's loss is computed by a compiled function, and
loss.backward() runs the compiled backward graph (AOT autograd). Under `./capture run` it checks
outputs and every gradient against eager PyTorch; under plain python3 it runs eagerly."""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import capture
except ImportError:  # plain python3: the eager reference
    capture = None


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class ConvBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        y = F.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.head(y.flatten(1))


class Attention(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.scale = dim ** -0.5

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        weights = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)
        return self.norm(x + self.out(weights @ v))


def mlp_loss(model, x, target):
    return ((model(x) - target) ** 2).mean()


def conv_loss(model, x, target):
    return ((model(x) - target) ** 2).mean()


def attention_loss(model, x, target):
    return ((model(x) - target) ** 2).mean()


def layer_norm_loss(x, weight, bias, target):
    y = F.layer_norm(x, (x.shape[-1],), weight, bias)
    return ((y - target) ** 2).sum()


def cross_entropy(logits, one_hot):
    # softmax + cross-entropy, written out: -sum(one_hot * log_softmax(logits)) per row, averaged
    return -(F.log_softmax(logits, dim=-1) * one_hot).sum(-1).mean()


def _g(seed):
    return torch.Generator().manual_seed(seed)


torch.manual_seed(0)
MODELS = {"mlp": MLP(), "conv": ConvBlock(), "attention": Attention()}

EXAMPLES = {
    "mlp_loss": lambda: (MODELS["mlp"], torch.randn(8, 16, generator=_g(1)), torch.randn(8, 4, generator=_g(2))),
    "conv_loss": lambda: (MODELS["conv"], torch.randn(2, 3, 8, 8, generator=_g(3)), torch.randn(2, 10, generator=_g(4))),
    "attention_loss": lambda: (MODELS["attention"], torch.randn(2, 6, 32, generator=_g(5)), torch.randn(2, 6, 32, generator=_g(6))),
    "layer_norm_loss": lambda: (torch.randn(4, 10, generator=_g(7), requires_grad=True), torch.randn(10, generator=_g(8), requires_grad=True),
                                torch.randn(10, generator=_g(9), requires_grad=True), torch.randn(4, 10, generator=_g(10))),
    "cross_entropy": lambda: (torch.randn(6, 5, generator=_g(11), requires_grad=True),
                              F.one_hot(torch.tensor([0, 3, 1, 4, 2, 2]), 5).float()),
}


def _gradients(fn, args):
    """fn(*args) and the gradient of every tensor that requires grad (module parameters included)."""
    leaves = []
    for a in args:
        if isinstance(a, nn.Module):
            leaves.extend(a.parameters())
        elif isinstance(a, torch.Tensor) and a.requires_grad:
            leaves.append(a)
    for leaf in leaves:
        leaf.grad = None
    loss = fn(*args)
    loss.backward()
    return loss, [leaf.grad.clone() for leaf in leaves], loss.grad_fn


def _copy(args):
    return tuple(copy.deepcopy(a) for a in args)


if __name__ == "__main__":
    functions = {"mlp_loss": mlp_loss, "conv_loss": conv_loss, "attention_loss": attention_loss,
                 "layer_norm_loss": layer_norm_loss, "cross_entropy": cross_entropy}
    for name, fn in functions.items():
        args = EXAMPLES[name]()
        loss, grads, grad_fn = _gradients(fn, _copy(args))
        if capture is None:
            print(f"{name}: loss {loss.item():.6f}, {len(grads)} gradients")
            continue
        compiled = capture.compile(fn)
        c_loss, c_grads, c_grad_fn = _gradients(compiled, _copy(args))
        same_loss = torch.allclose(loss, c_loss, rtol=1e-5, atol=1e-6)
        same_grads = len(grads) == len(c_grads) and all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(grads, c_grads))
        compiled_backward = type(c_grad_fn).__name__ == "CompiledGraphFunctionBackward"
        print(f"{name}: loss matches eager: {same_loss}; {len(grads)} gradients match eager: {same_grads}; compiled backward: {compiled_backward}")
        print(f"  autograd: {capture.explain(fn, *_copy(args)).autograd[0]['status']}")
