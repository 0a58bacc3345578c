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


# builtin iterators whose __reduce__ gives what they have not yielded yet, without advancing them
def _iterator_types():
    from collections import OrderedDict

    ordered = OrderedDict()
    return tuple({type(it) for it in (iter([]), iter(()), iter(range(0)), iter({}), iter({}.values()), iter({}.items()),
                                      iter(ordered), iter(ordered.values()), iter(ordered.items()))})


ITERATOR_TYPES = _iterator_types()


def is_builtin_iterator(value, limit=64):
    """Whether `value` is a builtin iterator over at most `limit` more items (capture unrolls what is left)."""
    import operator

    return type(value) in ITERATOR_TYPES and operator.length_hint(value) <= limit


def remaining(iterator):
    """The items a builtin iterator has not yielded yet, as a tuple (it is not advanced)."""
    reduced = iterator.__reduce__()
    sequence = reduced[1][0] if reduced[1] else ()
    start = reduced[2] if len(reduced) > 2 and reduced[2] is not None else 0
    return tuple(sequence)[start:]
