"""torch's functions under another name: `capture._same.torch.nn.functional.max_pool2d` is
`torch.nn.functional.max_pool2d`.

A registry op called in a form its rules do not cover (max_pool2d with return_indices=True) enters
the graph as an opaque call of torch's own function, its metadata from fake tensors. The node is
named through this module so that no rule, kernel or pass takes it for the registry op of the
plain name.
"""

import importlib


def __getattr__(name):
    return importlib.import_module(name)
