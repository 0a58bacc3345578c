"""backend=callable: each graph Capture captures goes to the user's backend as a torch.fx.GraphModule
with example inputs, as torch.compile(backend=fn) does. The C# side (CallableBackend.cs) builds the
torch.fx.Graph node by node; this file makes the module and the example inputs."""

import torch
import torch.fx


def graph_module(graph, constants, name):
    """A GraphModule over `graph` whose root holds `constants` ({attribute: tensor}) for its get_attr nodes."""
    root = torch.nn.Module()
    for attribute, value in constants.items():
        root.register_buffer(attribute, value)
    graph.lint()
    return torch.fx.GraphModule(root, graph, class_name=name)


def example_inputs(specs):
    """Tensors like the graph's inputs: (sizes, strides, dtype, requires_grad) each; random values."""
    inputs = []
    for sizes, strides, dtype, requires_grad in specs:
        dtype = getattr(torch, dtype)
        if strides is None:
            strides = torch.empty(sizes, device="meta").stride()
        extent = 1 + sum((s - 1) * st for s, st in zip(sizes, strides)) if all(sizes) else 0
        if dtype.is_floating_point or dtype.is_complex:
            storage = torch.randn(extent, dtype=dtype)
        elif dtype == torch.bool:
            storage = torch.zeros(extent, dtype=dtype)
        else:
            storage = torch.randint(0, 2, (extent,), dtype=dtype)
        value = storage.as_strided(sizes, strides)
        if requires_grad:
            value = value.detach().requires_grad_()
        inputs.append(value)
    return inputs
