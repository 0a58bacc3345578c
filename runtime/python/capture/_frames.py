"""Helpers of the frame runner (C#: runtime/Capture.Runtime/Dispatch): binding a call's arguments
as Python binds them, and raising an exception from an instruction run for real."""

import inspect
import weakref

# a function's signature changes only with its defaults (held here, compared by identity); weak, so
# that a compiled function that is deleted goes
_signatures = weakref.WeakKeyDictionary()


def bind(fn, args, kwargs):
    """(locals, globals, builtins) of the frame fn(*args, **kwargs) starts with: defaults applied, closure cells read."""
    signature, defaults, kwdefaults = _signatures.get(fn, (None, None, None))
    if signature is None or defaults is not fn.__defaults__ or kwdefaults is not fn.__kwdefaults__:
        # the parameters of fn's own code, as Python binds a call: not the signature inspect.signature
        # reports for a functools.wraps wrapper (the wrapped function's) or a __signature__ attribute
        signature = inspect._signature_from_function(inspect.Signature, fn)
        _signatures[fn] = (signature, fn.__defaults__, fn.__kwdefaults__)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    values = dict(bound.arguments)
    code = fn.__code__
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            values[name] = cell.cell_contents
        except ValueError:
            pass
    builtins = fn.__globals__.get("__builtins__", __builtins__)
    if not isinstance(builtins, dict):
        builtins = builtins.__dict__
    return values, fn.__globals__, builtins


def raise_(error):
    """Raises error, as RAISE_VARARGS does (the C# side then holds it as the pending exception)."""
    raise error
