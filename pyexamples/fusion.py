"""Kernels the optimizer groups and the memory it plans. `./capture graph
pyexamples/fusion.py::mlp_block --stage optimized` prints the optimized graph, then its fusion
groups (one kernel each) and its memory plan; `--decompose` splits softmax, layer_norm, gelu and
linear into core ops first, and the parts group back into the same kernels. With the Roslyn
backend, `--format csharp` prints the C# generated for the kernels it lowers (pointwise_chain)."""

import torch
import torch.nn.functional as F

import capture


def pointwise_chain(x, y):
    # seven elementwise ops with a broadcast operand: one loop over x, no intermediate in memory
    return torch.sigmoid((x * 0.5 + y).relu() - 1.0) * torch.tanh(x)


def mlp_block(x, w, b):
    # matmul + bias + activation: one kernel (the gemm with its epilogue)
    return F.gelu(x @ w + b)


def softmax_rows(x):
    # a scale, then a softmax over rows: one kernel (prologue + reduction + epilogue)
    return torch.softmax(x * 0.125, dim=-1)


def layer_norm_rows(x, residual, weight, bias):
    # a residual add, then layer_norm over the last dim: one kernel
    return F.layer_norm(x + residual, (x.shape[-1],), weight, bias)


torch.manual_seed(0)
# ten Linear + ReLU layers: the memory plan reuses two activation buffers for all nine intermediates
deep_mlp = torch.nn.Sequential(*[m for _ in range(10) for m in (torch.nn.Linear(256, 256), torch.nn.ReLU())]).eval()

EXAMPLES = {
    "pointwise_chain": lambda: (torch.randn(256, 512), torch.randn(512)),
    "mlp_block": lambda: (torch.randn(64, 128), torch.randn(128, 256), torch.randn(256)),
    "softmax_rows": lambda: (torch.randn(32, 512),),
    "layer_norm_rows": lambda: (torch.randn(32, 512), torch.randn(32, 512), torch.randn(512), torch.randn(512)),
    "deep_mlp": lambda: (torch.randn(64, 256),),
}


if __name__ == "__main__":
    torch.manual_seed(1)
    for name, make in EXAMPLES.items():
        fn = globals()[name]
        args = make()
        close = torch.allclose(capture.compile(fn)(*args), fn(*args), rtol=1e-4, atol=1e-5)
        print(f"{name}: matches eager: {close}")
