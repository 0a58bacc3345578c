"""nn.Modules: containers (Sequential, ModuleList, ModuleDict) and their subclasses, parameter and
buffer access, train/eval, in-place state, submodules called in loops."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from harness import case


def _call(module_factory, *shape):
    """A case whose arguments are a module made under the fixed seed and an input."""
    return lambda: (module_factory(), torch.randn(*shape))


def mlp():
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)
        self.norm = nn.LayerNorm(5)

    def forward(self, x):
        return self.norm(x + F.gelu(self.fc(x)))


class Stack(nn.Module):
    def __init__(self, n=3):
        super().__init__()
        self.blocks = nn.ModuleList([Block() for _ in range(n)])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleDict({"a": nn.Linear(5, 2), "b": nn.Linear(5, 3)})

    def forward(self, x):
        return {k: h(x) for k, h in self.heads.items()}


class MySequential(nn.Sequential):
    pass


class Residual(nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


class WithBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("count", torch.zeros(()))
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        self.count += 1
        return self.fc(x) * self.count


class Configured(nn.Module):
    def __init__(self, depth=2, act="relu"):
        super().__init__()
        self.depth, self.act = depth, act
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        for _ in range(self.depth):
            x = self.fc(x)
            x = F.relu(x) if self.act == "relu" else torch.tanh(x)
        return x


class ParamUser(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, 5))
        self.b = nn.Parameter(torch.zeros(5))

    def forward(self, x):
        total = sum(p.sum() for p in self.parameters())
        names = [n for n, _ in self.named_parameters()]
        return x @ self.w + self.b + total * len(names)


class BufferLister(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.full((5,), 2.0))
        self.register_buffer("shift", torch.ones(5))

    def forward(self, x):
        for b in self.buffers():
            x = x * b
        return x + len(list(self.named_buffers()))


class ChildLister(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 5)
        self.b = nn.Linear(5, 5)

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x * len(list(self.modules()))


class RequiresGradCheck(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        if any([p.requires_grad for p in self.parameters(False)]):
            return self.fc(x)
        return x


class TrainingFlag(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        return self.fc(x) * (2 if self.training else 1)


class SubmoduleByName(nn.Module):
    def __init__(self):
        super().__init__()
        for i in range(3):
            self.add_module(f"layer{i}", nn.Linear(5, 5))

    def forward(self, x):
        for i in range(3):
            x = getattr(self, f"layer{i}")(x)
        return x


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(F.relu(self.bn(self.conv(x)))).flatten(1)


class SharedWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        return self.fc(self.fc(x))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(8, dim=2)
        q = q.view(b, t, 2, 4).transpose(1, 2)
        k = k.view(b, t, 2, 4).transpose(1, 2)
        v = v.view(b, t, 2, 4).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / 2.0)
        mask = torch.tril(torch.ones(t, t)).view(1, 1, t, t)
        att = att.masked_fill(mask == 0, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.proj(y)


def eval_mode(factory):
    def make():
        m = factory()
        m.eval()
        return m
    return make


def module_case(name, factory, *shape, grad=False, breaks=0, limit=None):
    def run(m, x):
        return m(x)
    run.__name__ = name
    run.__code__ = run.__code__.replace(co_name=name)
    case(args=_call(factory, *shape), grad=grad, breaks=breaks, limit=limit)(run)


module_case("sequential", mlp, 4, 5)
module_case("sequential_grad", mlp, 4, 5, grad=True)
module_case("module_list_loop", Stack, 4, 5)
module_case("module_list_loop_grad", Stack, 4, 5, grad=True)
module_case("module_dict_items", Heads, 4, 5)
module_case("sequential_subclass", lambda: MySequential(nn.Linear(5, 5), nn.Tanh()), 4, 5)
module_case("sequential_subclass_forward_super", lambda: Residual(nn.Linear(5, 5), nn.ReLU()), 4, 5)
module_case("buffer_updated_in_place", WithBuffer, 4, 5)
module_case("configured_python_attributes", Configured, 4, 5)
module_case("configured_tanh", lambda: Configured(3, "tanh"), 4, 5)
module_case("parameters_and_named_parameters", ParamUser, 4, 5)
module_case("parameters_grad", ParamUser, 4, 5, grad=True)
module_case("buffers_iteration", BufferLister, 4, 5)
module_case("children_and_modules", ChildLister, 4, 5)
module_case("requires_grad_any_parameters", RequiresGradCheck, 4, 5)
module_case("training_flag_train", TrainingFlag, 4, 5)
module_case("training_flag_eval", eval_mode(TrainingFlag), 4, 5)
module_case("submodule_getattr_by_name", SubmoduleByName, 4, 5)
module_case("conv_bn_eval", eval_mode(Conv), 2, 3, 8, 8)
module_case("conv_bn_train", Conv, 2, 3, 8, 8)
module_case("conv_bn_train_grad", Conv, 2, 3, 8, 8, grad=True)
module_case("shared_weights", SharedWeights, 4, 5, grad=True)
module_case("causal_attention", Attention, 2, 6, 8)
module_case("causal_attention_grad", Attention, 2, 6, 8, grad=True)
module_case("dropout_eval", eval_mode(lambda: nn.Sequential(nn.Linear(5, 5), nn.Dropout(0.5))), 4, 5)
module_case("dropout_train", lambda: nn.Sequential(nn.Linear(5, 5), nn.Dropout(0.5)), 4, 5)
module_case("layer_norm_gelu", lambda: nn.Sequential(nn.LayerNorm(5), nn.GELU()), 4, 5, grad=True)
module_case("activations", lambda: nn.Sequential(nn.SiLU(), nn.Hardswish(), nn.LeakyReLU(0.1), nn.ELU(), nn.Softplus(), nn.Mish()), 4, 5)
module_case("activations_grad", lambda: nn.Sequential(nn.SiLU(), nn.Hardsigmoid(), nn.LeakyReLU(0.1), nn.ELU(), nn.Softplus()), 4, 5, grad=True)
module_case("inplace_relu", lambda: nn.Sequential(nn.Linear(5, 5), nn.ReLU(inplace=True), nn.Linear(5, 2)), 4, 5)
module_case("pooling", lambda: nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(2)), 1, 2, 8, 8)
module_case("group_norm", lambda: nn.GroupNorm(2, 4), 2, 4, 3, 3)
module_case("instance_norm", lambda: nn.InstanceNorm2d(4), 2, 4, 3, 3)
module_case("conv_transpose", lambda: nn.ConvTranspose2d(3, 2, 2, stride=2), 1, 3, 4, 4)
module_case("conv1d", lambda: nn.Conv1d(3, 4, 3), 2, 3, 10)
module_case("identity_and_flatten", lambda: nn.Sequential(nn.Identity(), nn.Flatten(0)), 4, 5)
module_case("upsample", lambda: nn.Upsample(scale_factor=2, mode="nearest"), 1, 2, 3, 3)
module_case("pixel_shuffle", lambda: nn.PixelShuffle(2), 1, 8, 3, 3)
module_case("softmax_module", lambda: nn.Softmax(dim=1), 4, 5)
module_case("bilinear", lambda: nn.Sequential(nn.Unflatten(1, (5, 1)), nn.Flatten()), 4, 5)


class Gru(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(5, 5)

    def forward(self, x):
        h = torch.zeros(x.shape[0], 5)
        for _ in range(3):
            h = self.cell(x, h)
        return h


module_case("gru_cell_loop", Gru, 4, 5)
module_case("lstm", lambda: nn.LSTM(5, 4, batch_first=True), 2, 3, 5, limit="nn.LSTM runs torch's fused RNN kernel over flattened weights (_flat_weights, a list of parameters it rebuilds)")


class ModuleListSlice(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(5, 5) for _ in range(4)])

    def forward(self, x):
        for layer in self.layers[1:3]:
            x = layer(x)
        return self.layers[-1](x) + len(self.layers)


module_case("module_list_slice_and_index", ModuleListSlice, 4, 5)


class ModuleDictKeys(nn.Module):
    def __init__(self):
        super().__init__()
        self.branches = nn.ModuleDict({"x": nn.Linear(5, 5), "y": nn.Linear(5, 5)})

    def forward(self, x):
        out = 0
        for k in self.branches.keys():
            out = out + self.branches[k](x)
        for m in self.branches.values():
            out = out + m(x)
        return out * ("x" in self.branches)


module_case("module_dict_keys_values_contains", ModuleDictKeys, 4, 5)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.Sequential(nn.Linear(5, 5), nn.ReLU()), nn.Linear(5, 5))

    def forward(self, x):
        return self.inner[0][0](x) + self.inner(x)


module_case("nested_sequential_indexing", Nested, 4, 5)


class ParameterListUser(nn.Module):
    def __init__(self):
        super().__init__()
        self.ws = nn.ParameterList([nn.Parameter(torch.randn(5)) for _ in range(3)])

    def forward(self, x):
        for w in self.ws:
            x = x * w
        return x


module_case("parameter_list", ParameterListUser, 4, 5, grad=True)


class CallsHelperMethod(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def _scale(self, x, k):
        return x * k

    def forward(self, x):
        return self._scale(self.fc(x), 2)


module_case("helper_method", CallsHelperMethod, 4, 5)


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 5))

    def forward(self, x):
        return F.linear(x, self.weight).log_softmax(-1)


module_case("functional_with_parameter", Functional, 4, 5, grad=True)


class BatchNormTrainUpdatesStats(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(5)

    def forward(self, x):
        return self.bn(x)


module_case("batch_norm_1d_train", BatchNormTrainUpdatesStats, 4, 5)
module_case("batch_norm_1d_eval", eval_mode(BatchNormTrainUpdatesStats), 4, 5)


class Hooked(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)
        self.fc.register_forward_hook(lambda m, i, o: o * 2)

    def forward(self, x):
        return self.fc(x)


module_case("forward_hook", Hooked, 4, 5, limit="a module with forward hooks is called for real (its hooks are Python the capture does not inline)")


@case(args=lambda: (nn.Sequential(nn.Embedding(10, 4), nn.Flatten()), torch.randint(0, 10, (3, 2))))
def embedding(m, x):
    return m(x)


class ReadsStatisticsAroundTraining(nn.Module):
    """a buffer held in a local across the batch norm that writes it: eager's local sees the new contents"""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(5)

    def forward(self, x):
        before = self.bn.running_mean
        y = self.bn(x)
        return y, before * 2


module_case("stale_buffer_read", ReadsStatisticsAroundTraining, 4, 5)
