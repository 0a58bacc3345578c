"""What the namespace guards of a capture read (C#: frontend/Capture.Frontend/Guards/NamespaceReads.cs)."""

import gc


def real_dict(namespace):
    """The dict behind a namespace: a type's __dict__ is a read-only proxy over it."""
    if type(namespace).__name__ == "mappingproxy":
        return gc.get_referents(namespace)[0]
    return namespace


def type_lookup(cls, name):
    """What looking name up on cls reads: [(class name, its dict, the value or None)] along cls.__mro__,
    up to the class whose dict holds name."""
    path = []
    for c in cls.__mro__:
        d = real_dict(c.__dict__)
        if name in d:
            path.append((f"{c.__module__}.{c.__qualname__}", d, d[name]))
            return path
        path.append((f"{c.__module__}.{c.__qualname__}", d, None))
    return path


def _module_of(value):
    if isinstance(value, property):
        value = value.fget
    owner = getattr(value, "__objclass__", None)  # method, slot and getset descriptors of C types
    if owner is not None:
        return getattr(owner, "__module__", "") or ""
    return getattr(value, "__module__", "") or ""


def defined_by_torch(cls, name):
    """Whether cls.name, looked up through the class, is torch's own (not put there by user code)."""
    for c in cls.__mro__:
        d = real_dict(c.__dict__)
        if name in d:
            module = _module_of(d[name])
            return module == "torch" or module.startswith("torch.") or module.startswith("torch._")
    return True
