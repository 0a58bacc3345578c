"""Saved bytes of Capture's min-cut partitioner against functorch's min_cut_rematerialization_partition
(torch 1.13's functorch.compile) on the same functions and inputs. Prints one line per function:
"NAME: capture min-cut N B (...); save-all N B; functorch min-cut N B (K tensors)"."""

import torch, capture
import torch.nn.functional as F
from functorch.compile import aot_function, make_boxed_func, min_cut_rematerialization_partition

def functorch_saved(fn, args):
    n_out = 1
    box = {}
    def fw(gm, example_inputs):
        def run(*a):
            res = gm(*a)
            box["saved"] = [t for t in res[n_out:] if isinstance(t, torch.Tensor)]
            return res
        return make_boxed_func(run)
    def bw(gm, example_inputs):
        return make_boxed_func(gm)
    compiled = aot_function(fn, fw_compiler=fw, bw_compiler=bw, partition_fn=min_cut_rematerialization_partition)
    out = compiled(*args)
    out.sum().backward()
    s = box["saved"]
    return len(s), sum(t.numel() * t.element_size() for t in s)

def mlp(x, w1, b1, w2, b2):
    return F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)
def softmax(x):
    return torch.softmax(x, -1)
def layer_norm(x, w, b):
    return F.layer_norm(x, (x.shape[-1],), w, b)
def chain(x):
    return torch.tanh(torch.sin(x) * 2 + torch.exp(-x)).sigmoid()
def attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) * 0.125, dim=-1) @ v
def cross_entropy(logits, one_hot):
    return -(F.log_softmax(logits, dim=-1) * one_hot).sum(-1).mean()

g = torch.Generator().manual_seed(0)
def r(*s, grad=True):
    return torch.randn(*s, generator=g).requires_grad_(grad)
cases = {
    "mlp": (mlp, (r(64, 256), r(512, 256), r(512), r(128, 512), r(128))),
    "softmax": (softmax, (r(64, 1024),)),
    "layer_norm": (layer_norm, (r(64, 1024), r(1024), r(1024))),
    "chain": (chain, (r(256, 256),)),
    "attention": (attention, (r(4, 64, 32), r(4, 64, 32), r(4, 64, 32))),
    "cross_entropy": (cross_entropy, (r(64, 100), F.one_hot(torch.arange(64) % 100, 100).float())),
}
for name, (fn, args) in cases.items():
    e = capture.explain(fn, *args).autograd[0]
    n, b = functorch_saved(fn, args)
    print(f"{name}: capture min-cut {e['saved_bytes']} B ({len(e['saved'])} tensors: {e['saved']}); save-all {e['save_all_bytes']} B; functorch min-cut {b} B ({n} tensors)")
