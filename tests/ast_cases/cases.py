"""TorchScript-style functions and modules, run by harness.py under Capture's AST path and under
torch.jit.script side by side. Each case: name -> (target factory, arguments factory). A target is a
function or an nn.Module; the arguments are a tuple. Cases named `beyond_*` are Python that
TorchScript's language does not cover (closures, **kwargs, decorators, generators...)."""

import functools
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def arithmetic(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    z = (x + y) * 2 - y / 3 + x ** 2
    z -= 1
    return z.abs().sqrt() + math.pi


def optional_bias(x: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    if bias is not None:
        x = x + bias
    return x.relu()


def isinstance_refine(x: torch.Tensor, scale: Optional[float] = None) -> torch.Tensor:
    if scale is None:
        return x
    return x * scale


def typed_list(xs: List[torch.Tensor]) -> torch.Tensor:
    out: List[torch.Tensor] = []
    for t in xs:
        out.append(t * 2)
    return torch.stack(out).sum(0)


def typed_dict(d: Dict[str, torch.Tensor]) -> torch.Tensor:
    total = d["a"]
    for k in d.keys():
        if k != "a":
            total = total + d[k]
    return total


def tuple_return(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    values, indices = x.max(dim=1)
    return values * 2, indices


def string_mode(x: torch.Tensor, mode: str = "sum") -> torch.Tensor:
    if mode.startswith("su"):
        return x.sum(0)
    elif mode == "mean":
        return x.mean(0)
    return x.amax(0)


def raise_path(x: torch.Tensor, n: int) -> torch.Tensor:
    if n < 0:
        raise ValueError("n must be non-negative")
    return x * n


def assert_shape(x: torch.Tensor) -> torch.Tensor:
    assert x.dim() == 2, "expected a matrix"
    return x.t().contiguous()


def range_loop(x: torch.Tensor, n: int) -> torch.Tensor:
    for i in range(n):
        x = x * 0.5 + i
    return x


def tensor_if(x: torch.Tensor) -> torch.Tensor:
    if x.sum() > 0:
        y = x.relu()
    else:
        y = x.sigmoid() * 2
    return y + 1


def tensor_while(x: torch.Tensor) -> torch.Tensor:
    while x.abs().sum() < 100.0:
        x = x * 2 + 0.5
    return x


def tensor_ternary(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x if x.sum() > y.sum() else y


def shape_arithmetic(x: torch.Tensor) -> torch.Tensor:
    b, n = x.shape[0], x.shape[1]
    return x.view(b * n // 2, 2).sum(1)


def many_ops(x: torch.Tensor) -> torch.Tensor:
    y = x.square() + torch.triu(x) - x.clone().movedim(0, 1).t()
    v, i = y.topk(2, dim=1)
    return v.sum() + torch.norm(y) + y.cumsum(0).mean() + F.softmax(y, dim=-1).max()


def builtins_and_math(x: torch.Tensor, n: int) -> torch.Tensor:
    k = max(n, 2) + min(n, 1) + abs(-n) + int(math.floor(2.7))
    return x * float(k) + len(x.shape)


def grad_mode(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        frozen = x @ w
    return frozen + x @ w


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 4)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
        self.norm = nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = x + F.relu(layer(x))
        return self.norm(x)


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        h = self.proj(x) / temperature
        if h.mean() > 0:
            return torch.tanh(h)
        return torch.sigmoid(h)


class ConvBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)


class Sampler(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 5)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        logits = self.head(x) / temperature
        return logits.softmax(-1)


# ---- beyond TorchScript's language ----

def beyond_closure():
    k = torch.tensor(3.0)

    def inner(x):
        return x * k + 1
    return inner


def doubled(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs) * 2
    return wrapper


@doubled
def beyond_decorated(x, shift=0.0):
    return x + shift


def scaled(x, k=1.0, *, shift=0.0):
    return x * k + shift


def beyond_kwargs(x, **options):
    return scaled(x, **options)


def beyond_generators(xs):
    total = sum(t.sum() for t in xs)
    flags = all(t.dim() == 1 for t in xs)
    return torch.stack([t * 2 for t in xs if t.dim() == 1]) + total, flags


def fstring(x):
    label = f"{x.shape[0]} rows of {x.dtype}"
    return x * len(label)


def beyond_zip_enumerate(xs, ys):
    out = []
    for i, (a, b) in enumerate(zip(xs, ys)):
        out.append(a * i + b)
    return torch.cat(out)


def beyond_lambda_sort(xs):
    ordered = sorted(range(len(xs)), key=lambda i: -i)
    return torch.stack([xs[i] for i in ordered])


def beyond_module_dict_get(x, ops):
    for name in ops:
        x = getattr(torch, name)(x)
    return x


# control flow in Python that TorchScript cannot express, kept as cond / while_loop here
def beyond_control_closure_threshold():
    limit = 0.5

    def clip(x):
        if x.norm() > limit:
            return x * (limit / x.norm())
        return x
    return clip


@doubled
def beyond_control_decorated_while(x):
    while x.abs().sum() < 50.0:
        x = x * 2 + 0.25
    return x


class BeyondControlEarlyExit(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(4)])

    def forward(self, x, depth=2):
        for i, layer in enumerate(self.layers):
            if i == depth:
                break
            x = layer(x)
            if x.sum() > 0:
                x = x.relu()
        return x


torch.manual_seed(0)
_x = lambda *s: torch.randn(*s)

CASES = {
    "arithmetic": (lambda: arithmetic, lambda: (_x(3, 4), _x(3, 4))),
    "optional_bias": (lambda: optional_bias, lambda: (_x(3, 4), _x(4))),
    "optional_bias_none": (lambda: optional_bias, lambda: (_x(3, 4),)),
    "isinstance_refine": (lambda: isinstance_refine, lambda: (_x(3), 2.0)),
    "typed_list": (lambda: typed_list, lambda: ([_x(3), _x(3)],)),
    "typed_dict": (lambda: typed_dict, lambda: ({"a": _x(3), "b": _x(3)},)),
    "tuple_return": (lambda: tuple_return, lambda: (_x(3, 4),)),
    "string_mode": (lambda: string_mode, lambda: (_x(3, 4), "mean")),
    "raise_path": (lambda: raise_path, lambda: (_x(3), 2)),
    "assert_shape": (lambda: assert_shape, lambda: (_x(3, 4),)),
    "range_loop": (lambda: range_loop, lambda: (_x(3), 4)),
    "tensor_if": (lambda: tensor_if, lambda: (_x(3, 4),)),
    "tensor_while": (lambda: tensor_while, lambda: (torch.rand(4) + 0.1,)),
    "tensor_ternary": (lambda: tensor_ternary, lambda: (_x(3), _x(3))),
    "shape_arithmetic": (lambda: shape_arithmetic, lambda: (_x(4, 6),)),
    "many_ops": (lambda: many_ops, lambda: (_x(4, 4),)),
    "builtins_and_math": (lambda: builtins_and_math, lambda: (_x(3), 3)),
    "grad_mode": (lambda: grad_mode, lambda: (_x(2, 3).requires_grad_(), _x(3, 4))),
    "mlp": (lambda: MLP().eval(), lambda: (_x(2, 8),)),
    "residual": (lambda: Residual().eval(), lambda: (_x(2, 8),)),
    "gated": (lambda: Gated().eval(), lambda: (_x(2, 8),)),
    "conv_block": (lambda: ConvBlock().eval(), lambda: (_x(1, 3, 8, 8),)),
    "sampler": (lambda: Sampler().eval(), lambda: (_x(2, 8), 0.7)),
    "beyond_closure": (beyond_closure, lambda: (_x(3),)),
    "beyond_decorated": (lambda: beyond_decorated, lambda: (_x(3), 1.5)),
    "beyond_kwargs": (lambda: beyond_kwargs, lambda: (_x(3),)),
    "beyond_generators": (lambda: beyond_generators, lambda: ([_x(3), _x(3)],)),
    "fstring": (lambda: fstring, lambda: (_x(3),)),
    "beyond_zip_enumerate": (lambda: beyond_zip_enumerate, lambda: ([_x(2), _x(2)], [_x(2), _x(2)])),
    "beyond_lambda_sort": (lambda: beyond_lambda_sort, lambda: ([_x(2), _x(2), _x(2)],)),
    "beyond_module_dict_get": (lambda: beyond_module_dict_get, lambda: (_x(3), ("relu", "tanh"))),
    "beyond_control_closure_threshold": (beyond_control_closure_threshold, lambda: (_x(6),)),
    "beyond_control_decorated_while": (lambda: beyond_control_decorated_while, lambda: (torch.rand(4) + 0.1,)),
    "beyond_control_early_exit": (lambda: BeyondControlEarlyExit().eval(), lambda: (_x(2, 8),)),
}
