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
