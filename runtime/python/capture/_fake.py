"""Metadata of torch calls outside Capture's op registry, from torch's own FakeTensorMode.

A fake tensor has sizes, strides, dtype and device but no data. Under FakeTensorMode torch runs an
op's meta kernel, its Python reference or decomposition, or (for ops with neither) the real kernel on
zeros of the same sizes, and wraps the result as fake tensors: the result's metadata is what the real
call gives. Ops whose result sizes depend on values (nonzero, unique, one_hot without num_classes,
`.item()`) raise instead of guessing.

`infer` also reports what the call did to its arguments: whether it wrote into one (an in-place op or
`out=`), and whether a result shares memory with one (a view such as movedim, or the argument itself
as `contiguous()` returns it). C# (MetaInference.cs) turns that into graph metadata or a reason to
break.
"""

import torch
from torch._subclasses.fake_tensor import (DataDependentOutputException, DynamicOutputShapeException,
                                           FakeTensorMode)
from torch.utils._pytree import tree_flatten

_mode = None


# aten ops that write their running statistics (arguments 3 and 4) in training mode, which torch
# 1.13's schemas do not mark as written (and whose kernels do not bump version counters)
_BATCH_NORMS = {getattr(torch.ops.aten, n).default for n in ("native_batch_norm", "_batch_norm_impl_index", "batch_norm")
                if hasattr(torch.ops.aten, n)}


class _RecordingFakeTensorMode(FakeTensorMode):
    """FakeTensorMode that notes whether a random aten op ran (a per-node gradient must not redraw)
    and whether an aten op wrote into one of the call's arguments (`watched`): by the op's schema
    (Tensor(a!)), or batch_norm's running statistics in training mode."""

    random = False
    wrote = False
    watched = ()

    def _is_watched(self, value):
        return isinstance(value, torch.Tensor) and any(value is w or value._base is w for w in self.watched)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if torch.Tag.nondeterministic_seeded in func.tags:
            self.random = True
        kwargs = kwargs or {}
        for i, a in enumerate(func._schema.arguments):
            if a.alias_info is not None and a.alias_info.is_write:
                value = args[i] if i < len(args) else kwargs.get(a.name)
                if self._is_watched(value) or (isinstance(value, (list, tuple)) and any(map(self._is_watched, value))):
                    self.wrote = True
        if func in _BATCH_NORMS:
            training = args[5] if len(args) > 5 else kwargs.get("training", False)
            if training and any(self._is_watched(v) for v in args[3:5]):
                self.wrote = True
        return super().__torch_dispatch__(func, types, args, kwargs)


def _fake_mode():
    global _mode
    if _mode is None:
        _mode = _RecordingFakeTensorMode(throw_on_data_dependent_ops=True)
    return _mode


def tensor(sizes, strides, dtype):
    """A fake CPU tensor with these sizes, strides and dtype."""
    with _fake_mode():
        return torch.empty_strided(sizes, strides, dtype=dtype)


class DataDependent(Exception):
    """The call's result depends on tensor values, not only on metadata."""


def _one_hot(tensor, num_classes=-1):
    """F.one_hot's result metadata when num_classes is given (its kernel checks the values, which fake
    tensors do not have; the real call still does, and raises as eager does)."""
    if num_classes < 0:
        raise DataDependent("one_hot without num_classes: its size is the largest value plus one")
    return torch.empty(*tensor.shape, num_classes, dtype=torch.int64)


# functions whose result metadata is known without their kernel: called instead of them on fake tensors
_METADATA_ONLY = {torch._C._nn.one_hot: _one_hot}


def infer(fn, args, kwargs, fakes):
    """Calls fn under FakeTensorMode; returns (result, wrote, aliased, random).

    fakes: the fake tensors among the arguments. The generator's state is restored afterwards, as a
    fallback kernel of a random op (poisson) draws from it for real."""
    versions = [t._version for t in fakes]
    mode = _fake_mode()
    mode.random, mode.wrote, mode.watched = False, False, tuple(fakes)
    try:
        with torch.random.fork_rng(devices=[]), mode:
            result = _METADATA_ONLY.get(fn, fn)(*args, **kwargs)
    except (DataDependentOutputException, DynamicOutputShapeException) as e:
        raise DataDependent(f"its result depends on tensor values ({e})") from None
    finally:
        mode.watched = ()
    wrote = mode.wrote or any(t._version != v for t, v in zip(fakes, versions))
    ids = {id(t) for t in fakes}
    aliased = any(isinstance(r, torch.Tensor) and (id(r) in ids or (r._base is not None and id(r._base) in ids))
                  for r in tree_flatten(result)[0])
    return result, wrote, aliased, mode.random
