"""Capture: compile PyTorch model functions into graphs, two ways (bytecode and AST), and run them
through C# (Roslyn) or native (LLVM) code. Run scripts that import it with `./capture run FILE.py`.

The public names follow torch.compile / torch._dynamo: compile, explain, compare, reset.
"""

import functools
import types
import os

try:
    import _capture_native as _native
except ImportError as _error:  # plain python3, not the Capture runtime
    raise ImportError(
        "the capture package runs inside Capture's runtime, which provides its native module: "
        "run your script with `./capture run FILE.py`"
    ) from _error

__version__ = _native.version()

__all__ = ["NotSupported", "compile", "explain", "compare", "report", "reset", "runtime_info", "ExplainOutput", "CompareOutput",
           "Diagnostic"]

_MODES = ("bytecode", "ast")
_BACKENDS = ("roslyn", "llvm", "eager")


class NotSupported(Exception):
    """Something Capture does not do (yet). The message says what and where."""


_native.register_not_supported(NotSupported)


def runtime_info():
    """Versions and libraries of the running Capture runtime (capture, dotnet, libpython), and how many
    compiled kernel modules are loaded (roslyn_assemblies, llvm_objects: capture.reset() unloads them)."""
    return _native.runtime_info()


class _CompiledFunction:
    """A function whose calls run through Capture's frame runner."""

    def __init__(self, fn, fullgraph, backend, mode="bytecode"):
        self._fn = fn
        self._fullgraph = fullgraph
        self._backend = backend
        self._mode = mode
        self._run = _native.runner(backend, mode, fullgraph)
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        fn = self._fn
        if isinstance(fn, types.MethodType):
            # a bound method (model.generate): its function runs with the instance as first argument
            return self._run(fn.__func__, (fn.__self__,) + args, kwargs)
        return self._run(fn, args, kwargs)

    def __get__(self, instance, owner):
        return self if instance is None else functools.partial(self, instance)


def _compiled_module(module, fullgraph, backend, mode="bytecode"):
    import torch

    run = _native.runner(backend, mode, fullgraph)

    class CompiledModule(torch.nn.Module):
        """Wraps an nn.Module: calls run its forward through Capture; attributes are the module's."""

        def __init__(self, orig):
            super().__init__()
            self._orig_mod = orig
            self._backend = backend

        def forward(self, *args, **kwargs):
            orig = self._orig_mod
            if _has_hooks(orig) or type(orig).__call__ is not torch.nn.Module.__call__:
                return orig(*args, **kwargs)  # hooks run around forward (or __call__ is the module's own); not captured yet
            own = orig.__dict__.get("forward")
            if own is not None:
                return run(own, args, kwargs)  # a forward set on the instance: what nn.Module.__call__ runs
            return run(type(orig).forward, (orig,) + args, kwargs)

        def __getattr__(self, name):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self._orig_mod, name)

    return CompiledModule(module)


def _has_hooks(module):
    """Whether nn.Module.__call__ would run hooks around module's forward (its own, or torch's global ones)."""
    from torch.nn.modules import module as _module

    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or _module._global_forward_hooks or _module._global_forward_pre_hooks or _module._global_backward_hooks)


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


class Diagnostic:
    """Why the AST path refused a function: the construct, where, what is wrong, what to do."""

    def __init__(self, construct, message, suggestion, filename, lineno, col, text):
        self.construct = construct
        self.message = message
        self.suggestion = suggestion
        self.filename = filename
        self.lineno = lineno
        self.col = col
        self._text = text

    def __str__(self):
        return self._text

    def __repr__(self):
        return f"Diagnostic({self.construct!r}, {self.filename!r}, {self.lineno!r}, {self.col!r})"


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
        self.mode = report["mode"]
        # per graph: ops by registry category, subgraphs included ({"pointwise": 3, "control flow": 1})
        self.op_categories = report["op_categories"]
        # per graph: the cond / while_loop nodes it kept, with their lines
        self.control_flow = report["control_flow"]
        # the AST path's reasons for refusing the function (file, line, col, construct, message, suggestion)
        self.diagnostics = [Diagnostic(**d) for d in report["diagnostics"]]
        # per guard: {"guard", "kind", "value" (the source it reads), "because" (the lines behind it), "lines"}
        self.guard_explanations = report["guard_explanations"]
        # per graph: its forward/backward split ({"status", "partitioner", "saved", "saved_bytes",
        # "save_all_bytes", "forward", "backward"}) or {"status"} alone where it has none
        self.autograd = report["autograd"]
        self._text = report["text"]
        self._result = report["result"]

    def __str__(self):
        # per compiled frame: summary, annotated source, breaks, graphs with guards and phases, recompiles
        return f"Graph count: {self.graph_count}\nGraph break count: {self.graph_break_count}\n{self._text.rstrip()}"

    __repr__ = __str__


def _target(fn, what):
    """The function (or nn.Module's forward, with the module first) that `fn` stands for."""
    import torch

    target = fn._fn if isinstance(fn, _CompiledFunction) else fn
    if isinstance(target, torch.nn.Module):
        target = getattr(target, "_orig_mod", target)
        return type(target).forward, (target,)
    if not hasattr(target, "__code__"):
        raise TypeError(f"capture.{what} expects a Python function or an nn.Module, got {type(target).__name__}")
    if isinstance(target, types.MethodType):
        return target.__func__, (target.__self__,)
    return target, ()


def _check_backend(backend, what, fn=None):
    if backend is None:
        backend = getattr(fn, "_backend", None) or _default_backend()
    if backend not in _BACKENDS:
        raise ValueError(f"capture.{what}: backend must be one of {_BACKENDS}, got {backend!r}")
    return backend


def explain(fn, *args, backend=None, mode="bytecode", **kwargs):
    """Capture `fn` on these arguments and say what happened: graphs, guards, breaks, recompiles,
    and what compiling each graph took on `backend` (by default the compiled function's, else roslyn).
    With mode="ast", what the AST path captured, or the diagnostics with which it refused `fn`."""
    backend = _check_backend(backend, "explain", fn)
    if mode not in _MODES:
        raise ValueError(f"capture.explain: mode must be one of {_MODES}, got {mode!r}")
    target, leading = _target(fn, "explain")
    return ExplainOutput(_native.explain(target, leading + args, kwargs, backend, mode))


def _same(a, b, exact):
    import torch

    if isinstance(a, torch.Tensor):
        if not (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        if a.is_floating_point():
            rtol, atol = (0, 0) if exact else (1e-4, 1e-5)
            return torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
        return torch.equal(a, b)
    if isinstance(a, (tuple, list)):
        return type(a) == type(b) and len(a) == len(b) and all(_same(x, y, exact) for x, y in zip(a, b))
    if isinstance(a, dict):
        return type(b) == dict and a.keys() == b.keys() and all(_same(a[k], b[k], exact) for k in a)
    return type(a) == type(b) and a == b


class CompareOutput:
    """The AST path and the bytecode path on one call, side by side (`str()`), or as JSON (`to_json()`)."""

    def __init__(self, name, backend, ast, bytecode, expected):
        self.function = name
        self.backend = backend
        self.ast = ast
        self.bytecode = bytecode
        exact = backend == "eager"
        # None when the AST path refused the function
        self.ast_matches_eager = None if ast.diagnostics else _same(ast._result, expected, exact)
        self.bytecode_matches_eager = _same(bytecode._result, expected, exact)

    def _side(self, report, matches):
        return {
            "graph_count": report.graph_count,
            "graphs": report.graphs,
            # ops in every graph, the branches and bodies of control flow included
            "op_count": sum(sum(counts.values()) for counts in report.op_categories),
            "op_categories": _merge_counts(report.op_categories),
            "control_flow": [cf for graph in report.control_flow for cf in graph],
            "graph_breaks": [{"reason": b.reason, "filename": b.filename, "lineno": b.lineno} for b in report.break_reasons],
            "diagnostics": [{"construct": d.construct, "message": d.message, "suggestion": d.suggestion, "filename": d.filename,
                             "lineno": d.lineno, "col": d.col} for d in report.diagnostics],
            "guards": report.guards,
            "matches_eager": matches,
            "capture_time_ms": sum(report.compile_times) * 1000,
        }

    def to_dict(self):
        return {"function": self.function, "backend": self.backend,
                "ast": self._side(self.ast, self.ast_matches_eager),
                "bytecode": self._side(self.bytecode, self.bytecode_matches_eager)}

    def to_json(self, indent=2):
        import json

        return json.dumps(self.to_dict(), indent=indent)

    def rows(self):
        """The side-by-side table: (label, AST, bytecode) per row."""
        data = self.to_dict()
        a, b = data["ast"], data["bytecode"]

        def yes(m):
            return "refused" if m is None else ("yes" if m else "NO")

        def cats(d):
            return ", ".join(f"{k} {v}" for k, v in d.items()) or "-"

        def flow(items):
            return ", ".join(f"{c['kind']} (line {c['lineno']})" for c in items) or "-"

        def decided(side):
            found = sorted({u for g in side.guard_explanations for u in g["because"] if " branches on " in u},
                           key=lambda u: int(u.split()[1]))
            return "; ".join(found) or "-"

        def lines(items, key):
            return "; ".join(f"line {i['lineno']}: {i[key]}" for i in items) or "-"

        rows = [
            ("graphs", str(a["graph_count"]), str(b["graph_count"])),
            ("ops", f"{a['op_count']} ({cats(a['op_categories'])})", f"{b['op_count']} ({cats(b['op_categories'])})"),
            ("control flow kept", flow(a["control_flow"]) if a["control_flow"] or a["diagnostics"] else "- (decided at capture)",
             flow(b["control_flow"]) if b["control_flow"] else
             ("-, broken at " + ", ".join(f"line {x['lineno']}" for x in b["graph_breaks"]) if b["graph_breaks"] else "- (specialized)")),
            ("decided at capture", decided(self.ast), decided(self.bytecode)),
            ("graph breaks", "- (never: one graph)", lines(b["graph_breaks"], "reason")),
            ("diagnostics", lines(a["diagnostics"], "message"), "- (no diagnostics: breaks instead)"),
            ("guards", str(len(a["guards"])), str(len(b["guards"]))),
            ("matches eager", yes(a["matches_eager"]), yes(b["matches_eager"])),
            ("capture time", f"{a['capture_time_ms']:.1f} ms", f"{b['capture_time_ms']:.1f} ms"),
        ]
        return rows

    def details(self):
        """Both paths' graphs, diagnostics and guards, as text."""
        out = []
        for title, side in (("AST", self.ast), ("bytecode", self.bytecode)):
            for i, graph in enumerate(side.graphs, 1):
                out.append(f"{title} graph {i} of {len(side.graphs)}:")
                out.extend("  " + line for line in graph.rstrip().splitlines())
            if side.diagnostics:
                out.append(f"{title} diagnostics:")
                out.extend("  " + line for d in side.diagnostics for line in str(d).splitlines())
            if side.guards:
                out.append(f"{title} guards:")
                out.extend(f"  {g}" for g in side.guards)
        return "\n".join(out)

    def __str__(self):
        rows = self.rows()
        width = max(len(r[1]) for r in rows)
        width = min(max(width, 12), 60)
        out = [f"compare {self.function} (backend {self.backend})",
               f"  {'':<18} {'AST':<{width}}  bytecode"]
        for label, left, right in rows:
            out.append(f"  {label:<18} {left:<{width}}  {right}")
        out.append(self.details())
        return "\n".join(out)

    __repr__ = __str__


def _merge_counts(per_graph):
    total = {}
    for counts in per_graph:
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return dict(sorted(total.items()))


def compare(fn, *args, backend=None, **kwargs):
    """Capture `fn` through both the AST and the bytecode path on these arguments and compare them
    side by side: graphs, ops by category, control flow kept or broken on, graph breaks versus
    diagnostics, guards, agreement with eager PyTorch, and capture time."""
    import copy

    backend = _check_backend(backend, "compare", fn)
    target, leading = _target(fn, "compare")
    expected = target(*leading, *copy.deepcopy(args), **copy.deepcopy(kwargs))
    reports = {}
    for mode in ("ast", "bytecode"):
        a, kw = copy.deepcopy((args, kwargs))
        reports[mode] = ExplainOutput(_native.explain(target, leading + a, kw, backend, mode))
    name = getattr(fn, "__name__", None) or (type(leading[0]).__name__ if leading else getattr(target, "__name__", "?"))
    return CompareOutput(name, backend, reports["ast"], reports["bytecode"], expected)


def report(path, *, compare=(), title=None):
    """Write one self-contained HTML report of everything Capture captured in this process so far
    (every compiled function, explain and compare call): per frame the annotated source, graphs as
    code and pictures, guards with the lines behind them, breaks, recompiles, generated code and
    timings. `compare` adds CompareOutput objects (from capture.compare) side by side. Returns the
    absolute path written."""
    items = []
    for c in compare:
        if not isinstance(c, CompareOutput):
            raise TypeError(f"capture.report: compare= takes CompareOutput objects (from capture.compare), got {type(c).__name__}")
        items.append((c.function, [tuple(map(str, row)) for row in c.rows()], c.details()))
    return _native.report(os.fspath(path), title or "Capture report", items)


def reset():
    """Forget every cached capture."""
    _native.reset()
