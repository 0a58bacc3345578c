"""Capture: compile PyTorch model functions into graphs, two ways (bytecode and AST), and run them
through C# (Roslyn) or native (LLVM) code. Import it in python3.11 (scripts, pytest, Jupyter: .NET is
loaded into the process) or run a script with `./capture run FILE.py` (.NET embeds Python).

The public names follow torch.compile / torch._dynamo: compile, explain, compare, reset.
"""

import builtins as _builtins
import functools
import inspect
import types
import os

from . import _calls

try:
    import _capture_native as _native  # under `./capture run`: .NET embeds this interpreter
except ImportError:
    # plain python3.11, pytest, Jupyter: load .NET into this process and attach it to the interpreter
    import atexit as _atexit
    from . import _host

    _native = _host.load()
    # at exit, while Python can still take them, Capture hands back the objects it holds
    _atexit.register(_native.detach)

__version__ = _native.version()

__all__ = ["NotSupported", "compile", "explain", "compare", "report", "reset", "runtime_info", "disable", "allow_in_graph",
           "config", "ExplainOutput", "CompareOutput", "Diagnostic", "Report"]

_MODES = ("bytecode", "ast")
_BACKENDS = ("roslyn", "llvm", "eager")
# torch.compile's mode names: what each does here is in compile()'s docstring and the README
_TORCH_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# torch.compile's backend names that have a counterpart here (None: the default backend)
_TORCH_BACKENDS = {"inductor": None, "aot_eager": "eager"}
# options Capture reads; any other key (torch's Inductor settings) has no effect here
_OPTIONS = ("freezing", "max_autotune")


class NotSupported(Exception):
    """Something Capture does not do (yet). The message says what and where."""


_native.register_not_supported(NotSupported)


def runtime_info():
    """Versions and libraries of the running Capture runtime (capture, dotnet, libpython), and how many
    compiled kernel modules are loaded (roslyn_assemblies, llvm_objects: capture.reset() unloads them)."""
    return _native.runtime_info()


class _CompiledFunction:
    """A function whose calls run through Capture's frame runner."""

    def __init__(self, fn, fullgraph, backend, mode="bytecode", freezing=True, dynamic=None):
        self._fn = fn
        self._fullgraph = fullgraph
        self._backend = backend
        self._mode = mode
        self._run = _native.runner(backend, mode, fullgraph, freezing, dynamic)
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        fn = self._fn
        if _calls.recorded is not None:
            _calls.record(fn, fn, args, kwargs)
        try:
            if isinstance(fn, types.MethodType):
                # a bound method (model.generate): its function runs with the instance as first argument
                return self._run(fn.__func__, (fn.__self__,) + args, kwargs)
            return self._run(fn, args, kwargs)
        except BaseException as error:
            _raise_at_users_line(error)
            raise

    def __get__(self, instance, owner):
        return self if instance is None else functools.partial(self, instance)


def _compiled_module(module, fullgraph, backend, mode="bytecode", freezing=True, dynamic=None):
    import torch

    run = _native.runner(backend, mode, fullgraph, freezing, dynamic)

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
            if _calls.recorded is not None:
                _calls.record(orig, own or type(orig).forward, args, kwargs)
            try:
                if own is not None:
                    return run(own, args, kwargs)  # a forward set on the instance: what nn.Module.__call__ runs
                return run(type(orig).forward, (orig,) + args, kwargs)
            except BaseException as error:
                _raise_at_users_line(error)
                raise

        def __getattr__(self, name):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self._orig_mod, name)

    return CompiledModule(module)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _raise_at_users_line(error):
    """Re-raises `error` from a frame at the user's file and line where compiled code failed (the runtime
    marks it `_capture_where`: file, line, function), so that its traceback ends at the user's code, as
    in eager, instead of inside Capture. Returns when there is no mark (the caller re-raises as is)."""
    where = getattr(error, "_capture_where", None)
    if not (isinstance(where, tuple) and len(where) == 3):
        return
    try:
        del error._capture_where
    except AttributeError:
        return
    filename, lineno, name = where
    # Capture's own frames go (the compiled function's, a helper that raised for the user's `raise`);
    # torch's stay, after the user's line, as in eager. The raise below passes through __call__ again.
    kept = []
    tb = error.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            kept.append(tb)
        tb = tb.tb_next
    chain = None
    for tb in reversed(kept):
        chain = types.TracebackType(chain, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
    error.__traceback__ = chain
    # a code object whose one statement sits at that line of that file, spanning it as the user's
    # statement does (so that the traceback shows the line without a misplaced ^^^ marker)
    import linecache

    line = linecache.getline(filename, lineno).rstrip()
    indent = len(line) - len(line.lstrip())
    padding = " " * max(0, len(line) - indent - len("raise (__capture_error__)"))
    statement = " " * indent + f"raise ({padding}__capture_error__)"
    if indent:
        statement = "if 1:\n" + statement  # an indented line needs a block around it
        lineno -= 1
    code = _builtins.compile("\n" * (lineno - 1) + statement, filename, "exec").replace(co_name=name)
    namespace = {"__capture_error__": error}
    try:
        exec(code, namespace)
    finally:
        namespace.clear()
        error = None


def _has_hooks(module):
    """Whether nn.Module.__call__ would run hooks around module's forward (its own, or torch's global ones)."""
    from torch.nn.modules import module as _module

    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or _module._global_forward_hooks or _module._global_forward_pre_hooks or _module._global_backward_hooks)


def _default_backend():
    """$CAPTURE_BACKEND when set (runs a whole script on another backend), else roslyn."""
    return os.environ.get("CAPTURE_BACKEND") or "roslyn"


def _backend_named(backend, what):
    """A backend argument as Capture's backend: one of _BACKENDS, torch's names for them, or a callable."""
    if callable(backend) and not isinstance(backend, str):
        return backend
    if backend in _TORCH_BACKENDS:
        return _TORCH_BACKENDS[backend] or _default_backend()
    if backend not in _BACKENDS:
        raise ValueError(f"capture.{what}: backend must be one of {_BACKENDS}, torch's {tuple(_TORCH_BACKENDS)}, "
                         f"or a callable (gm, example_inputs) -> callable; got {backend!r}")
    return backend


def compile(model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None, options=None, disable=False):
    """Capture `model` (a function or an nn.Module) into graphs and compile them: torch.compile's
    signature, usable as @capture.compile or @capture.compile(...).

    backend: "roslyn" (C# kernels through Roslyn; the default, or $CAPTURE_BACKEND), "llvm" (native
    kernels through LLVM), "eager" (each graph node by node through torch: checks capture alone);
    torch's "inductor" means the default and "aot_eager" means "eager"; a callable `(gm,
    example_inputs) -> callable` receives each captured graph as a torch.fx.GraphModule with example
    tensors and returns what runs it, as torch.compile's custom backends do.

    mode: the capture path, "bytecode" (default: symbolic execution with guards and graph breaks) or
    "ast" (the function's source, whole, TorchScript-style); or torch.compile's names: "default" and
    "reduce-overhead" compile as by default (there are no CUDA graphs on CPU: a cache hit already costs
    one guard check and the kernels), "max-autotune" and "max-autotune-no-cudagraphs" choose the LLVM
    backend (native code for this CPU at O3, longer compiles) unless `backend` names one.

    options: {"freezing": bool} (default True: eval-mode modules under no_grad take parameters as
    constants, guarded), {"max_autotune": True} as mode "max-autotune"; torch's other Inductor keys are
    accepted and have no effect (a warning says which). As in torch.compile, `mode` (a torch mode name)
    and `options` cannot both be given.

    fullgraph=True: a graph break is an error.

    dynamic: None (default) compiles for the sizes of the first call, and when a later call's size
    differs, recompiles once with that dim symbolic (automatic dynamic: one graph serves every size);
    True makes every input dim symbolic from the first compile; False specializes on every size (each
    new size recompiles, up to capture.config.cache_size_limit). Sizes 0 and 1 always specialize, and
    a module's parameters and buffers keep their shapes. capture.mark_dynamic / mark_static choose per
    tensor and dim.
    disable=True returns `model` itself.
    """
    path = "bytecode"
    autotune = False
    if mode in _MODES:
        path = mode
    elif mode is None or mode in _TORCH_MODES:
        autotune = mode is not None and mode.startswith("max-autotune")
        if mode is not None and options is not None:
            raise RuntimeError("capture.compile: either mode or options can be specified, but both can't be specified at the same time")
    else:
        raise ValueError(f"capture.compile: mode must be one of {_MODES + _TORCH_MODES}, got {mode!r}")
    freezing = True
    if options is not None:
        if not isinstance(options, dict):
            raise TypeError(f"capture.compile: options must be a dict, got {type(options).__name__}")
        freezing = bool(options.get("freezing", True))
        autotune = autotune or bool(options.get("max_autotune", False))
        ignored = sorted(k for k in options if k not in _OPTIONS)
        if ignored:
            import warnings

            warnings.warn(f"capture.compile: options {ignored} have no effect in Capture (it reads {list(_OPTIONS)})", stacklevel=2)
    if backend is None:
        backend = "llvm" if autotune else _default_backend()
    backend = _backend_named(backend, "compile")
    if dynamic not in (None, True, False):
        raise TypeError(f"capture.compile: dynamic must be None, True or False, got {dynamic!r}")

    def wrap(target):
        import torch

        if disable or getattr(target, "_capture_disabled", False):
            return target
        if isinstance(target, torch.nn.Module):
            return _compiled_module(target, fullgraph, backend, path, freezing, dynamic)
        if not callable(target) or not hasattr(target, "__code__"):
            raise TypeError(f"capture.compile expects a Python function or an nn.Module, got {type(target).__name__}")
        return _CompiledFunction(target, fullgraph, backend, path, freezing, dynamic)

    return wrap if model is None else wrap(model)


def mark_dynamic(tensor, dim):
    """torch._dynamo.mark_dynamic: make dim `dim` (an int or a list of ints) of `tensor` symbolic in the
    next capture that takes it as an input, from its first compile (sizes 0 and 1 still specialize)."""
    _mark(tensor, dim, "_capture_dynamic_dims", "mark_dynamic")


def mark_static(tensor, dim):
    """torch._dynamo.mark_static: keep dim `dim` (an int or a list of ints) of `tensor` specialized,
    even when its size changes between calls (each size recompiles)."""
    _mark(tensor, dim, "_capture_static_dims", "mark_static")


def _mark(tensor, dim, attribute, what):
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"capture.{what} expects a tensor, got {type(tensor).__name__}")
    dims = list(dim) if isinstance(dim, (list, tuple)) else [dim]
    for d in dims:
        if not isinstance(d, int) or isinstance(d, bool):
            raise TypeError(f"capture.{what}: dim must be an int or a list of ints, got {d!r}")
        if not -tensor.dim() <= d < tensor.dim():
            raise IndexError(f"capture.{what}: dim {d} is out of range for a tensor of {tensor.dim()} dims")
    marked = set(getattr(tensor, attribute, ()))
    marked.update(d % tensor.dim() for d in dims)
    setattr(tensor, attribute, marked)


def disable(fn=None, recursive=True):
    """Keep `fn` out of Capture (torch._dynamo.disable): it runs as plain Python; a compiled function
    that calls it breaks its graph at the call, and capture.compile(fn) returns it unchanged. Usable
    as @capture.disable or capture.disable(fn)."""
    if fn is None:
        return lambda f: disable(f, recursive)
    if isinstance(fn, _CompiledFunction):
        fn = fn._fn
    if not callable(fn):
        raise TypeError(f"capture.disable expects a callable, got {type(fn).__name__}")

    @functools.wraps(fn)
    def disabled(*args, **kwargs):
        return fn(*args, **kwargs)

    disabled._capture_disabled = True
    return disabled


def allow_in_graph(fn):
    """torch._dynamo.allow_in_graph: calls of `fn` go into graphs as one node that calls it, instead of
    being inlined. Its result's metadata comes from running it on torch's meta device, so it must take
    and return tensors and use torch ops that have meta kernels; a graph holding such a node runs node
    by node through torch (no kernels) and differentiates through torch's autograd. `fn` must be
    reachable by module and name (defined at module level): the node calls it by that name, looked up
    on every call. Returns `fn` (a list or tuple of functions: each)."""
    if isinstance(fn, (list, tuple)):
        for f in fn:
            allow_in_graph(f)
        return fn
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"capture.allow_in_graph expects a Python function, got {type(fn).__name__}")
    if "<" in fn.__qualname__:
        raise NotSupported(f"capture.allow_in_graph({fn.__qualname__}): a graph node calls a function by its module and name, "
                           "and a local function has none: define it at module level")
    fn._capture_allow_in_graph = True
    return fn


class _Config:
    """Process-wide settings (torch._dynamo.config's names where they exist):

    cache_size_limit: captures per function before it runs eagerly (default 8).
    logs: what to print as it happens, as $CAPTURE_LOGS: a comma list of graph, guards, breaks,
        recompiles, code, perf, or "all"; "" for nothing.
    cache_dir: the compiled-kernel cache folder ($CAPTURE_CACHE_DIR, else $XDG_CACHE_HOME/capture or
        ~/.cache/capture; None with CAPTURE_CACHE=0); read-only here: set the environment before the
        first compile.
    """

    _logs = os.environ.get("CAPTURE_LOGS", "")

    @property
    def cache_size_limit(self):
        return _native.cache_size_limit()

    @cache_size_limit.setter
    def cache_size_limit(self, value):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"capture.config.cache_size_limit must be an int >= 0, got {value!r}")
        _native.cache_size_limit(value)

    @property
    def logs(self):
        return self._logs

    @logs.setter
    def logs(self, value):
        if not isinstance(value, str):
            raise TypeError(f"capture.config.logs must be a str (a comma list of kinds), got {type(value).__name__}")
        _native.set_logs(value)
        type(self)._logs = value

    @property
    def cache_dir(self):
        return _native.cache_dir()

    def __setattr__(self, name, value):
        if not hasattr(type(self), name) or name == "cache_dir":
            raise AttributeError(f"capture.config has no setting {name!r} (settable: cache_size_limit, logs)")
        object.__setattr__(self, name, value)

    def __repr__(self):
        return f"capture.config(cache_size_limit={self.cache_size_limit}, logs={self.logs!r}, cache_dir={self.cache_dir!r})"


config = _Config()


class BreakReason:
    """Why a graph ended early: the reason, and where in the user's code."""

    def __init__(self, reason, filename, lineno, user_stack=(), hint=None):
        self.reason = reason
        self.filename = filename
        self.lineno = lineno
        # how to avoid it: what to change in the code, or which Capture option helps
        self.hint = hint
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
        self._verbose_text = report["verbose_text"]
        self._result = report["result"]
        # str() gives everything (annotated source, graphs, every guard) rather than the summary
        self.verbose = False

    def summary(self):
        """The counts, breaks by reason with how to avoid each, recompiles, guards by kind, compile time by phase."""
        return f"Graph count: {self.graph_count}\nGraph break count: {self.graph_break_count}\n{self._text.rstrip()}"

    def details(self):
        """Per compiled frame: the annotated source, the breaks with their stacks, each graph's code with its
        guards (and the lines behind them), compile phases and the forward/backward split, the recompiles."""
        return f"Graph count: {self.graph_count}\nGraph break count: {self.graph_break_count}\n{self._verbose_text.rstrip()}"

    def __str__(self):
        return self.details() if self.verbose else self.summary()

    __repr__ = __str__

    def _repr_html_(self):
        """Jupyter's inline view: the counts as a table, the breaks with their lines, the full text folded."""
        import html

        rows = [("graphs", self.graph_count), ("graph breaks", self.graph_break_count),
                ("ops", sum(len(ops) for ops in self.ops_per_graph)), ("guards", len(self.guards)),
                ("recompiles", len(self.recompile_reasons)), ("backend", self.backend), ("path", self.mode)]
        table = "".join(f"<tr><th style='text-align:left'>{name}</th><td>{html.escape(str(value))}</td></tr>" for name, value in rows)
        breaks = "".join(f"<li>{html.escape(b.reason)} <code>{html.escape(os.path.basename(str(b.filename)))}:{b.lineno}</code>"
                         f"<br><small>to avoid it: {html.escape(b.hint or '')}</small></li>" for b in self.break_reasons)
        return (f"<div class='capture-explain'><table>{table}</table>"
                + (f"<p>Graph breaks:</p><ul>{breaks}</ul>" if breaks else "")
                + f"<details><summary>details</summary><pre>{html.escape(self.details())}</pre></details></div>")


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
        backend = getattr(fn, "_backend", None)
        # a compiled function's own backend, unless it is a callable (explain and compare report on Capture's backends)
        if backend is None or not isinstance(backend, str):
            backend = _default_backend()
    backend = _backend_named(backend, what)
    if not isinstance(backend, str):
        raise ValueError(f"capture.{what}: backend must be one of {_BACKENDS}, not a callable")
    return backend


def explain(fn, *args, backend=None, mode="bytecode", verbose=False, **kwargs):
    """Capture `fn` on these arguments and say what happened: graphs, guards, breaks, recompiles,
    and what compiling each graph took on `backend` (by default the compiled function's, else roslyn).
    With mode="ast", what the AST path captured, or the diagnostics with which it refused `fn`.

    str() of the result is a summary (counts, breaks by reason with how to avoid each, recompiles, guards
    by kind, compile time by phase); verbose=True, or .details(), gives everything: the annotated source,
    each graph's code and every guard with the line behind it.

    Also torch._dynamo.explain's newer form: `capture.explain(fn)(*args, **kwargs)`."""
    backend = _check_backend(backend, "explain", fn)
    if mode not in _MODES:
        raise ValueError(f"capture.explain: mode must be one of {_MODES}, got {mode!r}")
    target, leading = _target(fn, "explain")
    code = target.__code__
    required = code.co_argcount - len(target.__defaults__ or ()) - len(leading)
    if not args and not kwargs and (required > 0 or code.co_flags & inspect.CO_VARARGS):
        # explain(fn)(*args): fn needs arguments and none were given
        return lambda *a, **kw: _explained(_native.explain(target, leading + a, kw, backend, mode), verbose)
    return _explained(_native.explain(target, leading + args, kwargs, backend, mode), verbose)


def _explained(report, verbose):
    out = ExplainOutput(report)
    out.verbose = verbose
    return out


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
    """The AST path, the bytecode path and torch.jit.script on one call, side by side (`str()`), or as JSON (`to_json()`)."""

    def __init__(self, name, backend, ast, bytecode, expected, torchscript=None):
        self.function = name
        self.backend = backend
        self.ast = ast
        self.bytecode = bytecode
        # what torch.jit.script does with the same function (_script_side): captured, or its error
        self.torchscript = torchscript or {"captured": False, "error": "not tried", "matches_eager": None}
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
                "bytecode": self._side(self.bytecode, self.bytecode_matches_eager),
                "torchscript": dict(self.torchscript)}

    def to_json(self, indent=2):
        import json

        return json.dumps(self.to_dict(), indent=indent)

    def rows(self):
        """The side-by-side table: (label, AST, bytecode, torch.jit.script) per row."""
        data = self.to_dict()
        a, b, t = data["ast"], data["bytecode"], data["torchscript"]
        scripted = t["captured"]

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
            ("graphs", str(a["graph_count"]), str(b["graph_count"]), "1 (scripted)" if scripted else "- (not scripted)"),
            ("ops", f"{a['op_count']} ({cats(a['op_categories'])})", f"{b['op_count']} ({cats(b['op_categories'])})",
             f"{t['op_count']} graph nodes" if scripted else "-"),
            ("control flow kept", flow(a["control_flow"]) if a["control_flow"] or a["diagnostics"] else "- (decided at capture)",
             flow(b["control_flow"]) if b["control_flow"] else
             ("-, broken at " + ", ".join(f"line {x['lineno']}" for x in b["graph_breaks"]) if b["graph_breaks"] else "- (specialized)"),
             (", ".join(f"{k} {v}" for k, v in t["control_flow"].items()) or "-") if scripted else "-"),
            ("decided at capture", decided(self.ast), decided(self.bytecode), "- (types only)" if scripted else "-"),
            ("graph breaks", "- (never: one graph)", lines(b["graph_breaks"], "reason"), "- (never: one graph)" if scripted else "-"),
            ("diagnostics", lines(a["diagnostics"], "message"), "- (no diagnostics: breaks instead)", "-" if scripted else t["error"]),
            ("guards", str(len(a["guards"])), str(len(b["guards"])), "- (none: argument types)" if scripted else "-"),
            ("matches eager", yes(a["matches_eager"]), yes(b["matches_eager"]), yes(t["matches_eager"])),
            ("capture time", f"{a['capture_time_ms']:.1f} ms", f"{b['capture_time_ms']:.1f} ms",
             f"{t['script_time_ms']:.1f} ms" if scripted else "-"),
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
        width = min(max(max(len(r[1]) for r in rows), 12), 60)
        middle = min(max(max(len(r[2]) for r in rows), 12), 60)
        out = [f"compare {self.function} (backend {self.backend})",
               f"  {'':<18} {'AST':<{width}}  {'bytecode':<{middle}}  torch.jit.script"]
        for label, left, right, script in rows:
            out.append(f"  {label:<18} {left:<{width}}  {right:<{middle}}  {script}")
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
    diagnostics, guards, agreement with eager PyTorch, and capture time; a third column says what
    torch.jit.script does with the same function (an nn.Module: the module): scripted, or its error."""
    import copy

    backend = _check_backend(backend, "compare", fn)
    target, leading = _target(fn, "compare")
    expected = target(*leading, *copy.deepcopy(args), **copy.deepcopy(kwargs))
    reports = {}
    for mode in ("ast", "bytecode"):
        a, kw = copy.deepcopy((args, kwargs))
        reports[mode] = ExplainOutput(_native.explain(target, leading + a, kw, backend, mode))
    name = getattr(fn, "__name__", None) or (type(leading[0]).__name__ if leading else getattr(target, "__name__", "?"))
    # torch.jit.script takes a module whole (its forward is what runs), else the function
    import torch

    module = leading[0] if leading and isinstance(leading[0], torch.nn.Module) and target is type(leading[0]).forward else None
    script = _script_side(target if module is None else module, leading if module is None else (), args, kwargs, expected, backend == "eager")
    return CompareOutput(name, backend, reports["ast"], reports["bytecode"], expected, script)


def _script_side(scriptable, leading, args, kwargs, expected, exact):
    """torch.jit.script on the same function (an nn.Module: the module) and arguments: whether it
    scripts, its graph's node count and control flow (prim::If, prim::Loop), whether its result equals
    eager's, or the first line of its error."""
    import copy
    import time
    import warnings

    import torch

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scripted = torch.jit.script(scriptable)
        elapsed = (time.perf_counter() - start) * 1000
        a, kw = copy.deepcopy((args, kwargs))
        actual = scripted(*leading, *a, **kw)
    except Exception as error:  # noqa: BLE001 - TorchScript's refusal is the column's content
        text = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
        return {"captured": False, "error": f"{type(error).__name__}: {text[0] if text else ''}"[:200], "matches_eager": None}
    graph = scripted.graph if hasattr(scripted, "graph") else scripted.forward.graph
    kinds = {}

    def walk(block):
        for node in block.nodes():
            kinds[node.kind()] = kinds.get(node.kind(), 0) + 1
            for inner in node.blocks():
                walk(inner)

    walk(graph)
    flow = {"if": kinds.get("prim::If", 0), "loop": kinds.get("prim::Loop", 0)}
    return {"captured": True, "error": None, "matches_eager": _same(actual, expected, exact), "script_time_ms": elapsed,
            "op_count": sum(kinds.values()), "control_flow": {k: v for k, v in flow.items() if v}}


def report(path=None, *, compare=(), title=None):
    """Write one self-contained HTML report of everything Capture captured in this process so far
    (every compiled function, explain and compare call): per frame the annotated source, graphs as
    code and pictures, guards with the lines behind them, breaks, recompiles, generated code and
    timings. `compare` adds CompareOutput objects (from capture.compare) side by side. Returns the
    absolute path written; without a path, a Report whose `.html` is the page (Jupyter shows it inline)."""
    items = []
    for c in compare:
        if not isinstance(c, CompareOutput):
            raise TypeError(f"capture.report: compare= takes CompareOutput objects (from capture.compare), got {type(c).__name__}")
        items.append((c.function, [tuple(map(str, row)) for row in c.rows()], c.details()))
    if path is None:
        return Report(_native.report(None, title or "Capture report", items))
    return _native.report(os.fspath(path), title or "Capture report", items)


class Report:
    """capture.report() without a path: the HTML page, shown inline by Jupyter (in a frame of its own,
    so that its styles and scripts stay apart from the notebook's)."""

    def __init__(self, html):
        self.html = html

    def save(self, path):
        """Writes the page to `path` and returns the absolute path."""
        with open(path, "w", encoding="utf-8") as out:
            out.write(self.html)
        return os.path.abspath(path)

    def _repr_html_(self):
        import html

        return (f"<iframe srcdoc=\"{html.escape(self.html, quote=True)}\" "
                "style='width:100%;height:640px;border:1px solid #ccc'></iframe>")

    def __repr__(self):
        return f"<capture.Report: {len(self.html)} characters of HTML; .save(path) writes it>"


def reset():
    """Forget every cached capture."""
    _native.reset()


def _write_trace(folder):
    """CAPTURE_TRACE=DIR (as TORCH_TRACE): at exit, the HTML report of every frame this process compiled."""
    try:
        os.makedirs(folder, exist_ok=True)
        written = report(os.path.join(folder, f"capture_trace_{os.getpid()}.html"), title=f"Capture trace of process {os.getpid()}")
        import sys
        print(f"capture: trace written to {written}", file=sys.stderr)
    except Exception as e:  # the process is exiting: say why there is no trace, do not fail the exit
        import sys
        print(f"capture: CAPTURE_TRACE: no trace written ({type(e).__name__}: {e})", file=sys.stderr)


if os.environ.get("CAPTURE_TRACE"):
    import atexit

    # registered after the native module's own exit handler, so it runs before that one (atexit is LIFO)
    atexit.register(_write_trace, os.environ["CAPTURE_TRACE"])
