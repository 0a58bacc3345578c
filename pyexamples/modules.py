"""nn.Modules captured whole: an MLP, a residual conv block, and a small attention block. Each
captures as one graph in eval mode and matches eager PyTorch."""

import math

import torch
import torch.nn.functional as F

import capture


class MLP(torch.nn.Module):
    def __init__(self, d=16, hidden=32):
        super().__init__()
        self.fc1 = torch.nn.Linear(d, hidden)
        self.act = torch.nn.GELU()
        self.fc2 = torch.nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ResidualConvBlock(torch.nn.Module):
    def __init__(self, channels=8):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(channels)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)) + x)


class Attention(torch.nn.Module):
    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.out = torch.nn.Linear(dim, dim)
        self.norm = torch.nn.LayerNorm(dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
        y = F.softmax(scores, dim=-1) @ v
        return x + self.out(y.transpose(1, 2).reshape(b, t, d))

    def split_heads(self, z):
        b, t, d = z.shape
        return z.view(b, t, self.heads, d // self.heads).transpose(1, 2)


torch.manual_seed(0)
mlp = MLP().eval()
conv_block = ResidualConvBlock().eval()
attention = Attention().eval()
# torch.nn's own encoder layer: its forward checks for a fused fast path (generator expressions,
# has_torch_function) and runs F.multi_head_attention_forward, all inlined into one graph
encoder_layer = torch.nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first=True).eval()

EXAMPLES = {
    "mlp": lambda: (torch.randn(4, 16),),
    "conv_block": lambda: (torch.randn(2, 8, 8, 8),),
    "attention": lambda: (torch.randn(2, 5, 16),),
    "encoder_layer": lambda: (torch.randn(2, 5, 16),),
}


if __name__ == "__main__":
    torch.manual_seed(1)
    for name, make in EXAMPLES.items():
        module = globals()[name]
        args = make()
        report = capture.explain(module, *args)
        close = torch.allclose(capture.compile(module)(*args), module(*args), rtol=1e-4, atol=1e-5)
        print(f"{name}: matches eager: {close}; {report.graph_count} graph(s), {report.graph_break_count} breaks, "
              f"{len(report.ops_per_graph[0])} ops")
