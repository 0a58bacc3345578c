"""Repros: code found on public models and in bug reports that crashed or broke the graph once. Each
case names what it reproduces."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from harness import case


class AnyRequiresGrad(nn.Module):
    """a second call raised 'Cannot access a disposed object'"""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        if any([p.requires_grad for p in self.parameters(False)]):
            return self.fc(x) * 2
        return self.fc(x)


@case(args=lambda: (AnyRequiresGrad(), torch.randn(4, 5)))
def any_requires_grad_second_call(m, x):
    return m(x)


@case()
def cat_with_keyword_tensors(x):
    """torch.cat(tensors=..., dim=...) raised IndexOutOfRangeException on the kernel backends"""
    return torch.cat(tensors=[x, x * 2], dim=0)


@torch.jit.script_if_tracing
def _scripted(x, k: int):
    return x * k


@case()
def script_if_tracing_unbound_local(x):
    """calling a @torch.jit.script_if_tracing function raised UnboundLocalError"""
    return _scripted(x, 3)


@case()
def zeros_of_pair_of_size(x):
    """torch.zeros(_pair(a.size())) failed with 'must be tuple of SymInts'"""
    return torch.zeros(nn.modules.utils._pair(x.size(1))) + 1


class Parent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        return self.fc(x)


class ZeroArgSuper(Parent):
    """super() without arguments in an inlined method: '__class__ cell not found'"""

    def forward(self, x):
        return super().forward(x) + 1


@case(args=lambda: (ZeroArgSuper(), torch.randn(4, 5)))
def zero_argument_super(m, x):
    return m(x)


class GPTAttention(nn.Module):
    """nanoGPT's attention: a mask buffer sliced by the sequence length, arange on the input's device"""

    def __init__(self, n=8, heads=2, block=16):
        super().__init__()
        self.c_attn = nn.Linear(n, 3 * n)
        self.c_proj = nn.Linear(n, n)
        self.heads = heads
        self.register_buffer("bias", torch.tril(torch.ones(block, block)).view(1, 1, block, block))
        self.wpe = nn.Embedding(block, n)

    def forward(self, x):
        b, t, c = x.size()
        pos = torch.arange(0, t, dtype=torch.long, device=x.device).unsqueeze(0)
        x = x + self.wpe(pos)
        q, k, v = self.c_attn(x).split(c, dim=2)
        k = k.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        q = q.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y)


@case(args=lambda: (GPTAttention(), torch.randn(2, 6, 8)), grad=True)
def nanogpt_attention(m, x):
    return m(x)


class TorchvisionStyleBlock(nn.Sequential):
    """torchvision's Conv2dNormActivation: a Sequential subclass built from a list of layers"""

    def __init__(self):
        layers = [nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(inplace=True)]
        super().__init__(*layers)
        self.out_channels = 4


@case(args=lambda: (TorchvisionStyleBlock().eval(), torch.randn(1, 3, 6, 6)))
def conv_norm_activation_eval(m, x):
    return m(x)


class SqueezeExcite(nn.Module):
    """efficientnet's squeeze-excitation: adaptive pool, two 1x1 convs, scale"""

    def __init__(self):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(4, 2, 1)
        self.fc2 = nn.Conv2d(2, 4, 1)

    def forward(self, x):
        s = self.fc2(F.silu(self.fc1(self.avgpool(x))))
        return x * torch.sigmoid(s)


@case(args=lambda: (SqueezeExcite().eval(), torch.randn(1, 4, 5, 5)))
def squeeze_excitation(m, x):
    return m(x)


@case()
def stochastic_depth_eval(x):
    """torchvision's stochastic_depth in eval mode returns its input"""
    from torchvision.ops import stochastic_depth
    return stochastic_depth(x, 0.2, "row", training=False)


@case()
def channel_shuffle(x):
    """shufflenet's channel shuffle: view, transpose, contiguous, view"""
    y = x.reshape(1, 4, 5, 1)
    b, c, h, w = y.size()
    y = y.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous()
    return y.view(b, -1, h, w)


@case(args=lambda: (torch.randn(2, 3, 4),))
def layer_scale_permute(x):
    """convnext: permute to channels-last, layer norm, scale, permute back"""
    y = x.permute(0, 2, 1)
    y = F.layer_norm(y, (3,)) * torch.full((3,), 1e-6)
    return x + y.permute(0, 2, 1)


@case(args=lambda: (torch.randn(2, 6, 8),))
def window_partition(x):
    """swin's window partition: view and permute by computed sizes"""
    b, h, w = x.shape
    y = x.view(b, h // 2, 2, w // 4, 4).permute(0, 1, 3, 2, 4).reshape(-1, 2, 4)
    return y.sum(0)


@case(args=lambda: (torch.randn(2, 8),))
def rotary_embedding(x):
    """llama-style rotary embedding: cos/sin of outer(positions, inverse frequencies)"""
    t = torch.arange(x.shape[0], dtype=torch.float32)
    inv = 1.0 / (10000 ** (torch.arange(0, x.shape[1], 2).float() / x.shape[1]))
    freqs = torch.outer(t, inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    rotated = torch.cat((-x2, x1), dim=-1)
    return x * emb.cos() + rotated * emb.sin()


@case(args=lambda: (torch.randn(4, 5),))
def rms_norm(x):
    """llama's RMSNorm"""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


@case(args=lambda: (torch.randn(3, 5), torch.tensor([1, 0, 4])), grad=True)
def label_smoothing_loss(logits, target):
    """a hand-written label-smoothing loss: log_softmax, gather, mean"""
    logp = logits.log_softmax(-1)
    nll = -logp.gather(-1, target.unsqueeze(1)).squeeze(1)
    return (0.9 * nll - 0.1 * logp.mean(-1)).mean()


@case(args=lambda: (torch.randn(4, 5),))
def gelu_tanh_manual(x):
    """GPT-2's new_gelu"""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


@case(args=lambda: (torch.randn(2, 3, 4),))
def einsum_attention_scores(x):
    """attention scores with einsum"""
    return torch.einsum("bid,bjd->bij", x, x).softmax(-1)


@case(args=lambda: (torch.randn(4, 5),))
def top_k_logits(x):
    """nanoGPT's generate: keep the top k logits"""
    v, _ = torch.topk(x, 2)
    out = x.clone()
    out[out < v[:, [-1]]] = -float("Inf")
    return F.softmax(out, dim=-1)


@case(args=lambda: (torch.randn(1, 3, 8, 8),))
def interpolate_size_from_input(x):
    """FPN-style upsampling to another tensor's spatial size"""
    small = F.avg_pool2d(x, 2)
    return x + F.interpolate(small, size=x.shape[-2:], mode="nearest")


@case(args=lambda: (torch.randn(4, 5),))
def masked_mean(x):
    """a mean over a mask built from a comparison"""
    mask = (x > 0).float()
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1)


@case(args=lambda: (torch.randn(2, 4), torch.randn(2, 4)))
def kl_between_gaussians(mu, logvar):
    """a VAE's KL term"""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


@case(args=lambda: (torch.randn(4, 5),))
def clamp_by_tensor_stats(x):
    """clamping by statistics of the same tensor"""
    return x.clamp(x.mean() - x.std(), x.mean() + x.std())


@case(args=lambda: (torch.randn(3, 4),))
def padding_mask_from_lengths(x):
    """a padding mask from constant lengths"""
    lengths = torch.tensor([4, 2, 3])
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    return x.masked_fill(~mask, 0.0)


@case(args=lambda: (torch.randn(2, 3, 4, 4),))
def global_pool_flatten(x):
    """global average pool through mean over spatial dims, then flatten"""
    return torch.flatten(x.mean((2, 3), keepdim=True), 1)
