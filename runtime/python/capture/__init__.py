"""Capture: compile PyTorch model functions into graphs, two ways (bytecode and AST), and run them
through C# (Roslyn) or native (LLVM) code. Run scripts that import it with `./capture run FILE.py`.

The public names follow torch.compile / torch._dynamo: compile, explain, compare, reset.
"""

try:
    import _capture_native as _native
except ImportError as _error:  # plain python3, not the Capture runtime
    raise ImportError(
        "the capture package runs inside Capture's runtime, which provides its native module: "
        "run your script with `./capture run FILE.py`"
    ) from _error

__version__ = _native.version()

__all__ = ["NotSupported", "compile", "explain", "compare", "reset", "runtime_info"]

_MODES = ("bytecode", "ast")
_BACKENDS = ("roslyn", "llvm", "eager")


class NotSupported(Exception):
    """Something Capture does not do (yet). The message says what and where."""


def runtime_info():
    """Versions and libraries of the running Capture runtime (capture, dotnet, libpython)."""
    return _native.runtime_info()


def _not_built(what, issue):
    raise NotSupported(f"{what} is not built yet in Capture {__version__} (tracked as issue {issue})")


def compile(fn=None, *, mode="bytecode", backend="roslyn", fullgraph=False, dynamic=None):
    """Capture `fn` (a function or an nn.Module) into graphs and compile them.

    Usable as @capture.compile or @capture.compile(mode=..., backend=...).
    """
    if mode not in _MODES:
        raise ValueError(f"capture.compile: mode must be one of {_MODES}, got {mode!r}")
    if backend not in _BACKENDS:
        raise ValueError(f"capture.compile: backend must be one of {_BACKENDS}, got {backend!r}")
    _not_built(f"capture.compile(mode={mode!r}, backend={backend!r})", 4 if mode == "bytecode" else 5)


def explain(fn, *args, **kwargs):
    """Capture `fn` on these arguments and say what happened: graphs, guards, breaks, recompiles."""
    _not_built("capture.explain", 4)


def compare(fn, *args, **kwargs):
    """Capture `fn` through both the AST and the bytecode path and compare them side by side."""
    _not_built("capture.compare", 5)


def reset():
    """Forget every cached capture."""
    _not_built("capture.reset", 4)
