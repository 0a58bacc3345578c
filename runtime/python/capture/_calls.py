"""The first call of each compiled function of a script's run, kept so that `capture graph|compare|
explain|report FILE.py::fn` can capture `fn` on the arguments the script gave it (a script has no
EXAMPLES). Recording is off unless the CLI turns it on (C#: runtime/Capture.Cli/ScriptCalls.cs)."""

# name -> (target, args, kwargs): the function (or the module, for a compiled nn.Module) and a copy of
# the arguments of its first call; None while not recording
recorded = None


def start():
    global recorded
    recorded = {}


def record(target, fn, args, kwargs):
    """Keeps the first call of `fn` (called as `target(*args, **kwargs)`): tensors are copied as they
    were at the call, so that what the script did afterwards (in-place updates) does not change them."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "?")
    if name.endswith(".forward") and hasattr(target, "_modules"):
        name = type(target).__qualname__
    if name in recorded:
        return
    recorded[name] = (target, tuple(_copy(a) for a in args), {k: _copy(v) for k, v in kwargs.items()})


def _copy(value):
    import torch

    if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter):
        copy = value.detach().clone()
        return copy.requires_grad_() if value.requires_grad else copy
    if type(value) in (list, tuple):
        return type(value)(_copy(v) for v in value)
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    return value


def find(name):
    """The recorded calls named `name` (a function's name or qualified name, a module's class name),
    as a list of (name, target, args, kwargs); all of them when name is None."""
    items = list((recorded or {}).items())
    if name is None:
        return [(n, *call) for n, call in items]
    return [(n, *call) for n, call in items if n == name or n.rsplit(".", 1)[-1] == name]
