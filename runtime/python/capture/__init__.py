"""Capture: compile PyTorch model functions into graphs, two ways (bytecode and AST), and run them
through C# (Roslyn) or native (LLVM) code. Run scripts that import it with `./capture run FILE.py`.

The public names follow torch.compile / torch._dynamo: compile, explain, compare, reset.
"""

import functools
import os

try:
    import _capture_native as _native
except ImportError as _error:  # plain python3, not the Capture runtime
    raise ImportError(
        "the capture package runs inside Capture's runtime, which provides its native module: "
        "run your script with `./capture run FILE.py`"
    ) from _error

__version__ = _native.version()

__all__ = ["NotSupported", "compile", "explain", "compare", "reset", "runtime_info", "ExplainOutput"]

_MODES = ("bytecode", "ast")
_BACKENDS = ("roslyn", "llvm", "eager")
_NOT_BUILT = {"llvm": 8}


class NotSupported(Exception):
    """Something Capture does not do (yet). The message says what and where."""


_native.register_not_supported(NotSupported)


def runtime_info():
    """Versions and libraries of the running Capture runtime (capture, dotnet, libpython)."""
    return _native.runtime_info()


def _not_built(what, issue):
    raise NotSupported(f"{what} is not built yet in Capture {__version__} (tracked as issue {issue})")


class _CompiledFunction:
    """A function whose calls run through Capture's frame runner."""

    def __init__(self, fn, fullgraph, backend, mode="bytecode"):
        self._fn = fn
        self._fullgraph = fullgraph
        self._backend = backend
        self._mode = mode
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        return _native.run(self._fn, args, kwargs, self._fullgraph, self._backend, self._mode)

    def __get__(self, instance, owner):
        return self if instance is None else functools.partial(self, instance)


def _compiled_module(module, fullgraph, backend, mode="bytecode"):
    import torch

    class CompiledModule(torch.nn.Module):
        """Wraps an nn.Module: calls run its forward through Capture; attributes are the module's."""

        def __init__(self, orig):
            super().__init__()
            self._orig_mod = orig
            self._backend = backend

        def forward(self, *args, **kwargs):
            orig = self._orig_mod
            if orig._forward_hooks or orig._forward_pre_hooks or orig._backward_hooks:
                return orig(*args, **kwargs)  # hooks run around forward; not captured yet
            return _native.run(type(orig).forward, (orig,) + args, kwargs, fullgraph, self._backend, mode)

        def __getattr__(self, name):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self._orig_mod, name)

    return CompiledModule(module)


def _default_backend():
    """$CAPTURE_BACKEND when set (runs a whole script on another backend), else roslyn."""
    return os.environ.get("CAPTURE_BACKEND") or "roslyn"


def compile(fn=None, *, mode="bytecode", backend=None, fullgraph=False, dynamic=None):
    """Capture `fn` (a function or an nn.Module) into graphs and compile them.

    Usable as @capture.compile or @capture.compile(mode=..., backend=...). The backend defaults to
    $CAPTURE_BACKEND, else "roslyn".
    """
    if backend is None:
        backend = _default_backend()
    if mode not in _MODES:
        raise ValueError(f"capture.compile: mode must be one of {_MODES}, got {mode!r}")
    if backend not in _BACKENDS:
        raise ValueError(f"capture.compile: backend must be one of {_BACKENDS}, got {backend!r}")
    if backend in _NOT_BUILT:
        raise NotSupported(
            f"capture.compile(backend={backend!r}) is not built yet in Capture {__version__} (tracked as issue "
            f"{_NOT_BUILT[backend]}); backend='roslyn' (the default) compiles kernels as C#, backend='eager' runs the "
            "captured graphs through torch"
        )
    if dynamic:
        raise NotSupported("capture.compile(dynamic=True): captures specialize on sizes for now")

    def wrap(target):
        import torch

        if isinstance(target, torch.nn.Module):
            return _compiled_module(target, fullgraph, backend, mode)
        if not callable(target) or not hasattr(target, "__code__"):
            raise TypeError(f"capture.compile expects a Python function or an nn.Module, got {type(target).__name__}")
        return _CompiledFunction(target, fullgraph, backend, mode)

    return wrap if fn is None else wrap(fn)


class BreakReason:
    """Why a graph ended early: the reason, and where in the user's code."""

    def __init__(self, reason, filename, lineno, user_stack=()):
        self.reason = reason
        self.filename = filename
        self.lineno = lineno
        # the frames the break happened in, outermost first: "forward (model.py:12)"
        self.user_stack = list(user_stack)

    def __repr__(self):
        return f"BreakReason({self.reason!r}, {self.filename!r}, {self.lineno!r})"


class ExplainOutput:
    """What capture.explain found: graphs, graph breaks, guards, recompiles."""

    def __init__(self, report):
        self.graph_count = report["graph_count"]
        self.graph_break_count = report["graph_break_count"]
        self.break_reasons = [BreakReason(**b) for b in report["break_reasons"]]
        self.guards = report["guards"]
        self.ops_per_graph = report["ops_per_graph"]
        self.compile_times = report["compile_times"]
        # per graph: [(phase, seconds, note)] for what the backend did after capture (optimize, codegen, roslyn)
        self.compile_phases = report["compile_phases"]
        self.backend = report["backend"]
        self.graphs = report["graphs"]
        self.recompile_reasons = report["recompile_reasons"]
        self.eager_frames = report["eager_frames"]

    def __str__(self):
        lines = [f"Graph count: {self.graph_count}", f"Graph break count: {self.graph_break_count}"]
        if self.break_reasons:
            lines.append("Break reasons:")
            for i, b in enumerate(self.break_reasons, 1):
                lines.append(f"  {i}. {b.reason}\n     at {b.filename}:{b.lineno}")
                if len(b.user_stack) > 1:
                    lines.extend(f"       in {frame}" for frame in b.user_stack)
        if self.eager_frames:
            lines.append("Ran eagerly:")
            lines.extend(f"  {e}" for e in self.eager_frames)
        for i, (ops, graph) in enumerate(zip(self.ops_per_graph, self.graphs), 1):
            phases = "".join(
                f", {name} {seconds * 1000:.1f} ms" + (f" ({note})" if note else "")
                for name, seconds, note in self.compile_phases[i - 1]
            )
            lines.append(f"Graph {i} ({len(ops)} ops, captured in {self.compile_times[i - 1] * 1000:.1f} ms{phases}):")
            lines.extend("  " + line for line in graph.rstrip().splitlines())
        if self.guards:
            lines.append("Guards:")
            lines.extend(f"  {g}" for g in self.guards)
        if self.recompile_reasons:
            lines.append("Recompiles:")
            lines.extend(f"  {r}" for r in self.recompile_reasons)
        return "\n".join(lines)

    __repr__ = __str__


def explain(fn, *args, backend=None, **kwargs):
    """Capture `fn` on these arguments and say what happened: graphs, guards, breaks, recompiles,
    and what compiling each graph took on `backend` (by default the compiled function's, else roslyn)."""
    if backend is None:
        backend = getattr(fn, "_backend", None) or _default_backend()
    if backend not in _BACKENDS:
        raise ValueError(f"capture.explain: backend must be one of {_BACKENDS}, got {backend!r}")
    target = fn._fn if isinstance(fn, _CompiledFunction) else fn
    import torch

    if isinstance(target, torch.nn.Module):
        target = getattr(target, "_orig_mod", target)
        return ExplainOutput(_native.explain(type(target).forward, (target,) + args, kwargs, backend))
    if not hasattr(target, "__code__"):
        raise TypeError(f"capture.explain expects a Python function or an nn.Module, got {type(target).__name__}")
    return ExplainOutput(_native.explain(target, args, kwargs, backend))


def compare(fn, *args, **kwargs):
    """Capture `fn` through both the AST and the bytecode path and compare them side by side."""
    _not_built("capture.compare", 5)


def reset():
    """Forget every cached capture."""
    _native.reset()
