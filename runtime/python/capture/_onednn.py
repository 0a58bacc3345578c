"""oneDNN's blocked layout, as OneDnnLayoutPass uses it: the ops a compiled convolutional network runs
between to_blocked and to_dense, on torch tensors in oneDNN's own format (layout torch._mkldnn), the
way torch.jit.optimize_for_inference runs a frozen TorchScript model. A convolution's weight is
reordered for oneDNN once, on the first call that sees it, and kept while the compiled graph keeps
that weight (its frozen constant)."""

import weakref
from collections import namedtuple

import torch
import torch.nn.functional as F

# id(weight) -> its _Packed entry; an entry goes with its weight
_prepacked = {}

# a weight packed for oneDNN: a weak reference to the dense weight, its bias, the prepacked weight and
# bias, the geometry it was packed for (as the graph gives it), and that geometry as the lists the
# convolution takes
_Packed = namedtuple("_Packed", "weight bias packed packed_bias geometry padding stride dilation")


# the convolution TorchScript's frozen graphs call, as its C++ function (not through torch.ops' Python
# dispatch, on every call of every convolution)
_convolution = getattr(torch.ops.prim.mkldnn_convolution.default, "_op", torch.ops.prim.mkldnn_convolution)


def _pack(weight, bias, padding, stride, dilation, groups):
    """The entry of a weight packed for this geometry (padding, stride, dilation as the graph gives them,
    lists or tuples: compared as given), packed on the first call that sees it."""
    key = id(weight)
    entry = _prepacked.get(key)
    if entry is not None and entry.weight() is weight and entry.bias is bias and entry.geometry == (padding, stride, dilation, groups):
        return entry
    as_lists = (list(padding), list(stride), list(dilation))
    packed = torch._C._nn.mkldnn_reorder_conv2d_weight(weight.contiguous().to_mkldnn(), *as_lists, groups)
    packed_bias = None if bias is None else bias.contiguous().to_mkldnn()
    entry = _prepacked[key] = _Packed(weakref.ref(weight, lambda _, key=key: _prepacked.pop(key, None)), bias, packed, packed_bias,
                                      (padding, stride, dilation, groups), *as_lists)
    return entry


def _blocked(x, what):
    if not x.is_mkldnn:
        raise TypeError(f"capture._onednn.{what}: expected a tensor in oneDNN's blocked layout, got {x.layout}")
    return x


def to_blocked(x):
    return x.to_mkldnn()


def to_dense(x):
    return _blocked(x, "to_dense").to_dense()


def conv2d(x, weight, bias, padding, stride, dilation, groups):
    entry = _pack(weight, bias, padding, stride, dilation, groups)
    return _convolution(_blocked(x, "conv2d"), entry.packed, entry.packed_bias, entry.stride, entry.padding, entry.dilation, groups)


def relu(x):
    return torch.relu(_blocked(x, "relu"))


def relu_(x):
    return _blocked(x, "relu_").relu_()


def add_(x, y, alpha=1):
    return _blocked(x, "add_").add_(_blocked(y, "add_"), alpha=alpha)


# (min_val, max_val) -> a TorchScript function of one prim::MKLDNNHardTanh_ node: the op TorchScript's
# frozen graphs run for ReLU6 on blocked tensors reads its bounds from its node, so it is called
# through a graph of its own (torch.ops.prim.MKLDNNHardTanh_ from Python would have no node to read)
_hardtanh_functions = {}


def _hardtanh_function(min_val, max_val):
    key = (min_val, max_val)
    function = _hardtanh_functions.get(key)
    if function is None:
        graph = torch._C.parse_ir("graph(%x : Tensor):\n"
                                  f"  %y : Tensor = prim::MKLDNNHardTanh_[min_val={min_val!r}, max_val={max_val!r}](%x)\n"
                                  "  return (%y)\n")
        function = _hardtanh_functions[key] = torch._C._create_function_from_graph(f"capture_onednn_hardtanh_{len(_hardtanh_functions)}", graph)
    return function


def hardtanh(x, min_val, max_val):
    return _hardtanh_function(float(min_val), float(max_val))(_blocked(x, "hardtanh").clone())


def hardtanh_(x, min_val, max_val):
    return _hardtanh_function(float(min_val), float(max_val))(_blocked(x, "hardtanh_"))


def sigmoid(x):
    return torch.sigmoid(_blocked(x, "sigmoid"))


def add(x, y, alpha=1):
    return torch.add(_blocked(x, "add"), _blocked(y, "add"), alpha=alpha)


def mul(x, y):
    return torch.mul(_blocked(x, "mul"), _blocked(y, "mul"))


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return F.max_pool2d(_blocked(x, "max_pool2d"), kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    return F.avg_pool2d(_blocked(x, "avg_pool2d"), kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def adaptive_avg_pool2d(x, output_size):
    return F.adaptive_avg_pool2d(_blocked(x, "adaptive_avg_pool2d"), output_size)
