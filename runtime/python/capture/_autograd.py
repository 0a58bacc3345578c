"""The torch.autograd.Function a differentiated graph runs in: its forward runs the compiled
forward graph (under no_grad, as autograd.Function does) and saves what the backward needs; its
backward runs the compiled backward graph. Built by the C# runtime (Backends/GraphBackend.cs)."""

import torch
from torch.autograd.function import once_differentiable


class CompiledGraphFunction(torch.autograd.Function):
    """apply(run_forward, run_backward, differentiable, *inputs) -> the graph's tensor outputs.

    run_forward(inputs) returns (outputs, saved); run_backward(saved, tangents) returns one
    gradient per input (None where an input takes none). `differentiable` says which outputs
    carry gradients; the others are marked non-differentiable."""

    @staticmethod
    def forward(ctx, run_forward, run_backward, differentiable, *inputs):
        outputs, saved = run_forward(inputs)
        ctx.run_backward = run_backward
        ctx.differentiable = differentiable
        ctx.save_for_backward(*saved)
        ctx.mark_non_differentiable(*[o for o, d in zip(outputs, differentiable) if not d])
        return tuple(outputs)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        tangents = tuple(g.contiguous() for g, d in zip(grads, ctx.differentiable) if d)
        gradients = ctx.run_backward(tuple(ctx.saved_tensors), tangents)
        return (None, None, None) + tuple(gradients)
