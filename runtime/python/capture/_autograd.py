"""The torch.autograd.Function a differentiated graph runs in: its forward runs the compiled
forward graph (under no_grad, as autograd.Function does) and saves what the backward needs; its
backward runs the compiled backward graph. Built by the C# runtime (Backends/GraphBackend.cs)."""

import torch
from torch.autograd.function import once_differentiable


class CompiledGraphFunction(torch.autograd.Function):
    """apply(run_forward, run_backward, differentiable, tangents_of_inputs, *inputs) -> the graph's tensor outputs.

    run_forward(inputs) returns (outputs, saved); run_backward(saved, tangents) returns one
    gradient per input (None where an input takes none). `differentiable` says which outputs
    carry gradients; the others are marked non-differentiable. `tangents_of_inputs[i]` lists the
    differentiable outputs input i flows into: when none of them got a gradient, neither does the
    input (None, as eager autograd leaves it), though the compiled backward is run with zeros."""

    @staticmethod
    def forward(ctx, run_forward, run_backward, differentiable, tangents_of_inputs, *inputs):
        outputs, saved = run_forward(inputs)
        ctx.run_backward = run_backward
        ctx.differentiable = differentiable
        ctx.tangents_of_inputs = tangents_of_inputs
        ctx.tangent_like = [(o.shape, o.dtype, o.device) for o, d in zip(outputs, differentiable) if d]
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(*saved)
        ctx.mark_non_differentiable(*[o for o, d in zip(outputs, differentiable) if not d])
        return tuple(outputs)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        given = [g for g, d in zip(grads, ctx.differentiable) if d]
        tangents = tuple(torch.zeros(shape, dtype=dtype, device=device) if g is None else g.contiguous()
                         for g, (shape, dtype, device) in zip(given, ctx.tangent_like))
        gradients = ctx.run_backward(tuple(ctx.saved_tensors), tangents)
        gradients = tuple(None if all(given[j] is None for j in used) else g
                          for g, used in zip(gradients, ctx.tangents_of_inputs))
        return (None, None, None, None) + gradients


def _resolve(name):
    """The object an op name denotes: the longest importable module prefix, then attributes."""
    import importlib
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for part in parts[split:]:
            obj = getattr(obj, part)
        return obj
    raise ValueError(f"cannot resolve {name!r}")


def opaque_vjp(name, args, kwarg_names, kwarg_values, grad_output, wanted):
    """The gradients of an opaque op (one outside Capture's registry) for the tensor arguments at
    `wanted` (positions among the tensors of args, then kwargs, depth first): the op runs again on
    detached copies that require grad, and torch's autograd differentiates it (a compiled backward
    node per opaque forward node, as a per-node autograd call)."""
    fn = _resolve(name)
    count = [0]
    leaves = []

    def mark(value):
        if isinstance(value, torch.Tensor):
            index = count[0]
            count[0] += 1
            if index in wanted:
                leaf = value.detach().requires_grad_(True)
                leaves.append((wanted.index(index), leaf))
                return leaf
            return value
        if isinstance(value, (tuple, list)):
            return type(value)(mark(v) for v in value)
        return value

    args = mark(args)
    kwargs = {k: mark(v) for k, v in zip(kwarg_names, kwarg_values)}
    leaves = [leaf for _, leaf in sorted(leaves, key=lambda p: p[0])]
    with torch.enable_grad():
        result = fn(*args, **kwargs)
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        grads = grad_output if isinstance(result, (tuple, list)) else (grad_output,)
        pairs = [(o, g) for o, g in zip(outputs, grads)
                 if isinstance(o, torch.Tensor) and o.requires_grad and g is not None]
        found = torch.autograd.grad([o for o, _ in pairs], leaves, [g for _, g in pairs], allow_unused=True) if pairs else [None] * len(leaves)
    return tuple(torch.zeros_like(leaf) if g is None else g for g, leaf in zip(found, leaves))
