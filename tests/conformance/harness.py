"""The conformance suite's runner: cases of the kind Dynamo's own test suite holds, each compared with
eager PyTorch on every backend, and its graph-break count checked against what it should be.

A category file (functions.py, containers.py, ...) declares cases with @case:

    @case(breaks=0)                                 # expected graph breaks (Dynamo's count)
    def list_pop(x):                                # default argument: one tensor randn(4, 5)
        ...

    @case(args=lambda: (torch.randn(3), [1, 2]), grad=True)
    def ...

`args` makes fresh arguments (called under a fixed seed, so eager and compiled runs get equal
ones); `grad=True` makes every floating tensor argument require grad and compares gradients too.
`limit="why"` marks a known limit: its break count may differ (the case still has to match eager);
the README lists each with its reason. not_yet.txt lists the cases that still break more than they
should (the work list of whole-graph capture): they must match eager too, and a case that captures
as expected while listed there fails until its line is removed, so the list only shrinks. What is compared: outputs, arguments after the call (mutated
state: tensors, lists, dicts, objects' attributes, modules' parameters and buffers), text printed,
gradients, and the same again on a second call (the cached capture).
"""

import contextlib
import copy
import importlib.util
import io
import os
import re
import sys
import traceback

import torch

import capture

CASES = []


class Case:
    def __init__(self, fn, args, breaks, grad, limit, rtol, atol):
        self.fn, self.args, self.breaks, self.grad, self.limit = fn, args, breaks, grad, limit
        self.rtol, self.atol = rtol, atol
        self.name = fn.__name__


def case(args=None, breaks=0, grad=False, limit=None, rtol=1e-4, atol=1e-5):
    def register(fn):
        CASES.append(Case(fn, args or (lambda: (torch.randn(4, 5),)), breaks, grad, limit, rtol, atol))
        return fn
    return register


def _fresh(c):
    torch.manual_seed(0)
    made = c.args()
    made = tuple(made) if isinstance(made, (tuple, list)) else (made,)
    if c.grad:
        made = tuple(a.requires_grad_(True) if isinstance(a, torch.Tensor) and a.is_floating_point() and a.is_leaf else a
                     for a in made)
    return made


def _state(value, seen=None):
    """What a value holds, for comparing mutations: tensors as copies, containers item by item,
    objects by their attributes, modules by parameters and buffers."""
    seen = set() if seen is None else seen
    if isinstance(value, torch.Tensor):
        return ("tensor", value.detach().clone())
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    if id(value) in seen:
        return "<seen>"
    seen.add(id(value))
    if isinstance(value, torch.nn.Module):
        return ("module", {k: _state(v, seen) for k, v in value.state_dict(keep_vars=True).items()}, value.training)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_state(v, seen) for v in value])
    if isinstance(value, dict):
        return ("dict", [(repr(k), _state(v, seen)) for k, v in value.items()])
    if isinstance(value, (set, frozenset)):
        return ("set", sorted(repr(v) for v in value))
    if hasattr(value, "__dict__") and not callable(value):
        return (type(value).__name__, {k: _state(v, seen) for k, v in vars(value).items()})
    return repr(type(value))


def _same(a, b, c, where="result"):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return f"{where}: {type(a).__name__} vs eager's {type(b).__name__}"
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"{where}: {a.dtype}{list(a.shape)} vs eager's {b.dtype}{list(b.shape)}"
        if a.is_floating_point():
            ok = torch.allclose(a.detach(), b.detach(), rtol=c.rtol, atol=c.atol, equal_nan=True)
        else:
            ok = torch.equal(a, b)
        return None if ok else f"{where}: values differ from eager's"
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if type(a) is not type(b) or len(a) != len(b):
            return f"{where}: {type(a).__name__} of {len(a)} vs eager's {type(b).__name__} of {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if (d := _same(x, y, c, f"{where}[{i}]")) is not None:
                return d
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a.keys()) != list(b.keys()):
            return f"{where}: keys {list(a.keys())} vs eager's {list(b.keys())}"
        for k in a:
            if (d := _same(a[k], b[k], c, f"{where}[{k!r}]")) is not None:
                return d
        return None
    if type(a) is not type(b):
        return f"{where}: {type(a).__name__} vs eager's {type(b).__name__}"
    if isinstance(a, float) and a != a and b != b:
        return None
    try:
        equal = a == b
        if isinstance(equal, torch.Tensor):
            equal = bool(equal.all())
    except Exception:
        equal = repr(a) == repr(b)
    return None if equal else f"{where}: {a!r} vs eager's {b!r}"


def _leaves(args):
    found = []

    def walk(v):
        if isinstance(v, torch.Tensor):
            if v.requires_grad and v.is_leaf:
                found.append(v)
        elif isinstance(v, torch.nn.Module):
            found.extend(p for p in v.parameters() if p.requires_grad)
        elif isinstance(v, (list, tuple)):
            for i in v:
                walk(i)
        elif isinstance(v, dict):
            for i in v.values():
                walk(i)
    walk(args)
    return found


def _loss(result):
    total = None
    stack = [result]
    while stack:
        v = stack.pop()
        if isinstance(v, torch.Tensor) and v.requires_grad and v.is_floating_point():
            s = v.sum()
            total = s if total is None else total + s
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return total


def _run(fn, args):
    out = io.StringIO()
    torch.manual_seed(1)
    with contextlib.redirect_stdout(out):
        result = fn(*args)
    return result, out.getvalue()


def _check(c, backend):
    """The first difference from eager on this backend, or None."""
    compiled = capture.compile(c.fn, backend=backend)
    eager_args, ours_args = _fresh(c), _fresh(c)
    for call in (1, 2):
        try:
            expected, expected_text = _run(c.fn, eager_args)
        except Exception as e:
            expected, expected_text = e, None
        try:
            actual, actual_text = _run(compiled, ours_args)
        except Exception as e:
            if isinstance(expected, Exception) and type(e) is type(expected):
                return None  # both raise the same kind of error
            return f"call {call}: raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}" + (
                "" if isinstance(expected, Exception) else "")
        if isinstance(expected, Exception):
            return f"call {call}: eager raised {type(expected).__name__}, compiled returned"
        for d in (_same(actual, expected, c, "result"), _same(_state(ours_args), _state(eager_args), c, "arguments after the call"),
                  None if actual_text == expected_text else f"printed {actual_text!r} vs eager's {expected_text!r}"):
            if d is not None:
                return f"call {call}: {d}"
        if c.grad:
            ours_loss, eager_loss = _loss(actual), _loss(expected)
            if (ours_loss is None) != (eager_loss is None):
                return f"call {call}: the result requires grad differently from eager's"
            if ours_loss is not None:
                ours_loss.backward()
                eager_loss.backward()
                for i, (p, q) in enumerate(zip(_leaves(ours_args), _leaves(eager_args))):
                    if (p.grad is None) != (q.grad is None):
                        return f"call {call}: gradient {i} is {'None' if p.grad is None else 'set'}, eager's {'None' if q.grad is None else 'set'}"
                    if p.grad is not None and (d := _same(p.grad, q.grad, c, f"gradient {i}")) is not None:
                        return f"call {call}: {d}"
                    p.grad = q.grad = None
    return None


def _breaks(c):
    explained = capture.explain(c.fn)(*_fresh(c))
    return explained.graph_break_count, [b.reason for b in explained.break_reasons]


def load(path):
    """The cases of one category file."""
    CASES.clear()
    sys.modules.setdefault("harness", sys.modules[__name__])  # case files import @case from here
    name = "conformance_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return list(CASES)


def not_yet(folder):
    """The names (category.case) in not_yet.txt."""
    path = os.path.join(folder, "not_yet.txt")
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {line.split("#")[0].strip() for line in f if line.split("#")[0].strip()}


def run(path, backends=("eager", "roslyn", "llvm")):
    """Runs one category file: (failures, cases, captured with the expected count, known limits, not yet)."""
    cases = load(path)
    category = os.path.splitext(os.path.basename(path))[0]
    pending = not_yet(os.path.dirname(os.path.abspath(path)))
    failures, expected_count, limits, waiting = [], 0, [], []
    for c in cases:
        capture.reset()
        try:
            count, reasons = _breaks(c)
        except Exception as e:
            failures.append(f"{c.name}: explain raised {type(e).__name__}: {e}")
            continue
        # break reasons are for users: no names of Capture's internals (its value classes, opcodes, stack slots)
        for reason in reasons:
            if re.search(r"\b[A-Z]\w*Value\b|opcode|FOR_ITER|without a source|\bS\[\d", reason):
                failures.append(f"{c.name}: a break reason uses Capture's internal words: {reason}")
        listed = f"{category}.{c.name}" in pending
        if count == c.breaks:
            expected_count += 1
            if c.limit:
                failures.append(f"{c.name}: marked as a known limit ({c.limit}) but now breaks as expected ({count}): drop the mark")
            if listed:
                failures.append(f"{c.name}: captured with the expected {count} breaks now: remove '{category}.{c.name}' from not_yet.txt")
        elif c.limit:
            limits.append(f"{c.name}: {c.limit}")
        elif listed:
            waiting.append(f"{c.name}: {count} graph breaks, expected {c.breaks}: {reasons[:3]}")
        else:
            failures.append(f"{c.name}: {count} graph breaks, expected {c.breaks}: {reasons}")
        for backend in backends:
            capture.reset()
            try:
                why = _check(c, backend)
            except Exception:
                why = "the harness failed: " + traceback.format_exc(limit=-3)
            if why is not None:
                failures.append(f"{c.name} [{backend}]: {why}")
    capture.reset()
    return failures, len(cases), expected_count, limits, waiting


if __name__ == "__main__":
    # ./capture run tests/conformance/harness.py tests/conformance/*.py  (CONFORMANCE_BACKENDS=eager,llvm to pick)
    chosen = tuple(os.environ.get("CONFORMANCE_BACKENDS", "eager,roslyn,llvm").split(","))
    total = matched = 0
    for path in sys.argv[1:]:
        if os.path.basename(path) == "harness.py":
            continue
        failures, n, ok, limits, waiting = run(path, chosen)
        total, matched = total + n, matched + ok
        print(f"{os.path.basename(path)}: {n} cases, {ok} with the expected break count, {len(limits)} known limits, "
              f"{len(waiting)} not yet, {len(failures)} failures")
        for f in failures + [f"limit: {l}" for l in limits] + [f"not yet: {w}" for w in waiting]:
            print("   ", f)
    print(f"{matched}/{total} captured with the expected break count")
