"""Which tensors a compiled graph froze (took as constants), and which escaped through `.data`.

A frozen parameter is guarded by identity, version counter and data pointer. Writes through
`p.data` (`p.data.add_(1)`, `p.data.copy_(t)`) bump the version counter of the `.data` tensor, not
the parameter's, and `p.data = t` keeps the parameter's: so `.data` of a frozen tensor, read or set,
marks it escaped. An escaped tensor fails its frozen guard from then on (C#: FrozenTensorGuard) and
is never frozen again: it becomes a graph input, read on every call.

The hook is installed on torch.Tensor when the first tensor is frozen; until then `.data` is
torch's own. Once installed it costs one dict lookup per `.data` access of any tensor.
"""

import weakref

import torch

# id(tensor) -> weakref to it, for the tensors frozen now (an id is dropped when its tensor dies)
_frozen = {}
# ids of frozen tensors whose .data was read or set (dropped with the tensor, like _frozen's)
escaped = set()
_base_data = torch._C._TensorBase.data
_installed = False


def _forget(key):
    def forget(_ref):
        _frozen.pop(key, None)
        escaped.discard(key)
    return forget


def _escape(tensor):
    key = id(tensor)
    if key in _frozen:
        escaped.add(key)


def _get_data(self):
    if _frozen:
        _escape(self)
    return _base_data.__get__(self)


def _set_data(self, value):
    if _frozen:
        _escape(self)
    _base_data.__set__(self, value)


def freeze(tensor):
    """Notes `tensor` as frozen by a compiled graph; False when it escaped before (it must stay an input)."""
    global _installed
    key = id(tensor)
    if key in escaped:
        return False
    if not _installed:
        torch.Tensor.data = property(_get_data, _set_data, doc=_base_data.__doc__)
        _installed = True
    if key not in _frozen:
        _frozen[key] = weakref.ref(tensor, _forget(key))
    return True
