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
from torch.utils._pytree import tree_flatten, tree_map

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


def _repeat_interleave(tensor, repeats=None, dim=None, *, output_size=None):
    """repeat_interleave's result metadata when repeats is a Python int (torch computes it through a
    tensor of repeats, which fake tensors take for a value-dependent size)."""
    if not isinstance(repeats, int) or isinstance(repeats, bool):
        return torch.repeat_interleave(tensor, repeats, dim, output_size=output_size)
    if dim is None:
        return torch.empty(tensor.numel() * repeats, dtype=tensor.dtype)
    dim = dim % max(tensor.dim(), 1)
    return torch.empty(*(s * repeats if i == dim else s for i, s in enumerate(tensor.shape)), dtype=tensor.dtype)


# functions whose result metadata is known without their kernel: called instead of them on fake tensors
_METADATA_ONLY = {torch._C._nn.one_hot: _one_hot, torch.Tensor.repeat_interleave: _repeat_interleave,
                  torch.repeat_interleave: _repeat_interleave}


def _real(fake, variant):
    """A real tensor with a fake one's sizes, strides and dtype: zeros, ones, or distinct small values."""
    made = torch.empty_strided(fake.shape, fake.stride(), dtype=fake.dtype)
    if variant == 2 and made.numel() > 0 and made.dtype != torch.bool:
        made.copy_((torch.arange(made.numel()) % 3).reshape(made.shape))
    else:
        made.fill_(variant % 2)
    return made.requires_grad_(fake.requires_grad) if fake.is_floating_point() or fake.is_complex() else made


def _layout(result):
    return [(tuple(r.shape), r.stride(), r.dtype) if isinstance(r, torch.Tensor) else r for r in tree_flatten(result)[0]]


def _on_real(fn, args, kwargs, fakes):
    """For an op torch cannot run on fake tensors (its meta function fails, or its decomposition makes
    real tensors): the call on real tensors of the same metadata, three times (zeros, ones, distinct
    values). Returns (result, wrote, aliased, random) when all three agree on the result's sizes,
    strides and dtypes; None when a run fails or they differ (the sizes depend on values)."""
    runs = []
    for variant in range(3):
        real = {id(f): _real(f, variant) for f in fakes}
        swap = lambda v: real.get(id(v), v) if isinstance(v, torch.Tensor) else v  # noqa: E731
        before = {k: (t._version, t.detach().clone()) for k, t in real.items()}
        try:
            with torch.random.fork_rng(devices=[]):
                state = torch.random.get_rng_state()
                result = fn(*tree_map(swap, args), **tree_map(swap, kwargs))
                random = not torch.equal(state, torch.random.get_rng_state())
        except Exception:
            return None
        wrote = any(t._version != before[k][0] or not torch.equal(t.detach(), before[k][1]) for k, t in real.items())
        storages = {t.storage().data_ptr() for t in real.values() if t.numel() > 0}
        aliased = any(isinstance(r, torch.Tensor) and r.numel() > 0 and r.storage().data_ptr() in storages
                      for r in tree_flatten(result)[0])
        runs.append((result, wrote, aliased, random))
    if any(_layout(r[0]) != _layout(runs[0][0]) for r in runs[1:]):
        raise DataDependent("its result's sizes differ for different tensor values")
    return runs[0][0], any(r[1] for r in runs), any(r[2] for r in runs), any(r[3] for r in runs)


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
    except Exception:
        # torch's fake-tensor support fails for this op (a meta function's bug, a decomposition that
        # makes real tensors): the real kernel on real tensors of the same metadata, when it tells
        mode.watched = ()
        answer = _on_real(fn, args, kwargs, fakes)
        if answer is None:
            raise
        return answer
    finally:
        mode.watched = ()
    wrote = mode.wrote or any(t._version != v for t, v in zip(fakes, versions))
    ids = {id(t) for t in fakes}
    aliased = any(isinstance(r, torch.Tensor) and (id(r) in ids or (r._base is not None and id(r._base) in ids))
                  for r in tree_flatten(result)[0])
    return result, wrote, aliased, mode.random
