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


_MEMBER_METHODS = ("parameters", "named_parameters", "buffers", "named_buffers", "children", "named_children",
                   "modules", "named_modules")


def module_members(module, method, args, kwargs):
    """What nn.Module.METHOD(*args, **kwargs) yields, as (name or None, path, object): the path reaches
    the object from the module (a list of (dict attribute, key) steps: ("_modules", "fc"),
    ("_parameters", "weight")); and the
    paths of the modules whose _modules/_parameters/_buffers dicts the walk read (their keys decide
    the result). None when the method is not nn.Module's own or the call is not understood (a
    duplicate item, a prefix or memo argument): the capture then inlines or breaks as before."""
    import torch

    if method not in _MEMBER_METHODS or getattr(type(module), method) is not getattr(torch.nn.Module, method):
        return None
    try:
        result = list(getattr(module, method)(*args, **kwargs))
    except TypeError:
        return None
    paths, visited = {}, []

    def walk(m, path):
        if id(m) in paths and paths[id(m)][1] is m:
            return
        paths.setdefault(id(m), (path, m))
        visited.append(path)
        for d in ("_parameters", "_buffers"):
            for k, v in getattr(m, d).items():
                if v is not None:
                    paths.setdefault(id(v), (path + [(d, k)], v))
        for k, child in m._modules.items():
            if child is not None:
                walk(child, path + [("_modules", k)])
    walk(module, [])
    visited = [(path, {d: list(getattr(_follow(module, path), d).keys()) for d in ("_parameters", "_buffers", "_modules")})
               for path in visited]
    items = []
    for entry in result:
        obj = entry[1] if isinstance(entry, tuple) else entry
        found = paths.get(id(obj))
        if found is None or found[1] is not obj:
            return None
        items.append((entry[0] if isinstance(entry, tuple) else None, found[0], obj))
    if len({id(e[1] if isinstance(e, tuple) else e) for e in result}) != len(result):
        return None
    return items, visited


def _follow(module, path):
    for d, k in path:
        module = getattr(module, d)[k]
    return module


_TRUSTED = ("torch", "builtins", "collections", "functools", "itertools", "typing", "numpy", "math", "operator", "abc", "enum")


def plain_class(cls):
    """Whether the capture may make instances of cls symbolically: a class (metaclass with type's own
    __call__), object's __new__ and __setattr__ semantics, no builtin base but object, nothing from
    torch or the standard library in its MRO but object (and abc.ABC). __slots__ are fine: the rebuilt
    object sets them through object.__setattr__ as its __dict__ entries."""
    if not isinstance(cls, type) or type(cls).__call__ is not type.__call__:
        return False
    if cls.__new__ is not object.__new__:
        return False
    for c in cls.__mro__:
        if c is object:
            continue
        module = getattr(c, "__module__", "") or ""
        if module.split(".")[0] in _TRUSTED and c.__name__ != "ABC":
            return False
    return True


def namedtuple_fields(cls):
    """A namedtuple class's _fields (a tuple subclass made by collections.namedtuple or typing.NamedTuple), or None."""
    if isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_make") \
            and hasattr(cls, "_field_defaults") and type(cls).__call__ is type.__call__:
        return list(cls._fields)
    return None


def class_attribute(cls, name):
    """(kind, value) of name looked up on cls without binding: 'function', 'staticmethod' (its function),
    'classmethod' (its function), 'property' (its getter), 'value', or ('missing', None); other
    descriptors are ('descriptor', None)."""
    import inspect
    import types
    try:
        raw = inspect.getattr_static(cls, name)
    except AttributeError:
        return "missing", None
    if isinstance(raw, types.FunctionType):
        return "function", raw
    if isinstance(raw, staticmethod) and isinstance(raw.__func__, types.FunctionType):
        return "staticmethod", raw.__func__
    if isinstance(raw, classmethod) and isinstance(raw.__func__, types.FunctionType):
        return "classmethod", raw.__func__
    if isinstance(raw, property) and isinstance(raw.fget, types.FunctionType) and raw.fset is None:
        return "property", raw.fget
    if hasattr(type(raw), "__get__"):
        return "descriptor", None
    return "value", raw


def plain_store(cls, name, through_object=False):
    """Whether obj.name = v on an instance of cls just sets its value: object's __setattr__ (or a call of
    object.__setattr__ itself, as frozen dataclasses make), no data descriptor (a property) for name on
    the class but a slot of __slots__."""
    import inspect
    import types
    if not through_object and cls.__setattr__ is not object.__setattr__:
        return False
    try:
        raw = inspect.getattr_static(cls, name)
    except AttributeError:
        return "__dict__" in dir(cls) or not any("__slots__" in c.__dict__ for c in cls.__mro__)
    if isinstance(raw, types.MemberDescriptorType):
        return True
    return not (hasattr(type(raw), "__set__") or hasattr(type(raw), "__delete__"))
