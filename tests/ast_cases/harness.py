"""Runs every case of cases.py three ways — eagerly, through torch.jit.script, and through Capture's
AST path (capture.compile(mode="ast")) — and says, per case, whether each captured it and whether
its result equals eager's. Prints one JSON object (cases and totals) on stdout; --markdown FILE also
writes the side-by-side table (bench/ast_cases.md). Run: ./capture run tests/ast_cases/harness.py
[--backend B] [--markdown FILE]."""

import argparse
import copy
import json
import os
import sys
import warnings

import torch

import capture

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402


def same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype and (
            torch.allclose(a, b, rtol=1e-4, atol=1e-5) if a.is_floating_point() else torch.equal(a, b))
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def first_line(error):
    text = str(error).strip().splitlines()
    detail = next((line.strip() for line in text[1:] if line.strip() and not line.startswith(" ")), "") if len(text) > 1 else ""
    return f"{type(error).__name__}: {(detail or (text[0] if text else ''))[:160]}"


def attempt(make, target, args, expected):
    """(captured, equal to eager, error text)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = make(target)
            actual = compiled(*copy.deepcopy(args))
    except Exception as error:  # noqa: BLE001 - reported per case
        return False, False, first_line(error)
    return True, same(actual, expected), None


def gradients(target, args, backend):
    """For a case run with its float tensor arguments (and a module's parameters) requiring grad: whether
    the compiled function's gradients equal eager's, and whether every graph, the pieces around control
    flow and its branches included, runs as generated code (None where nothing requires grad)."""
    def prepare():
        t, a = copy.deepcopy(target), copy.deepcopy(args)
        leaves = [v.requires_grad_() for v in a if isinstance(v, torch.Tensor) and v.is_floating_point()]
        return t, a, leaves + (list(t.parameters()) if isinstance(t, torch.nn.Module) else [])

    def total(out):
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return sum(o.sum() for o in outs if isinstance(o, torch.Tensor) and o.requires_grad)

    t, a, leaves = prepare()
    if not leaves:
        return None, None
    total(t(*a)).backward()
    expected = [leaf.grad for leaf in leaves]
    t, a, leaves = prepare()
    try:
        total(capture.compile(t, mode="ast", backend=backend)(*a)).backward()
    except Exception:  # noqa: BLE001 - a failure is a difference
        return False, None
    equal = all(same(leaf.grad, e) if e is not None else leaf.grad is None for leaf, e in zip(leaves, expected))
    t, a, _ = prepare()
    details = str(capture.explain(t, *a, mode="ast", backend=backend, verbose=True))
    return equal, "no kernels:" not in details


def run(backend):
    rows = []
    for name, (make_target, make_args) in cases.CASES.items():
        torch.manual_seed(0)
        target, args = make_target(), make_args()
        expected = target(*copy.deepcopy(args))
        script = attempt(torch.jit.script, target, args, expected)
        ast = attempt(lambda t: capture.compile(t, mode="ast", backend=backend), target, args, expected)
        # on a kernel backend, for inference (no_grad): whether every graph, control flow's subgraphs
        # included, runs as compiled code (with gradients, a graph with control flow compiles its
        # subgraphs with their own backward and runs its own ops through torch's autograd)
        compiled, grads_equal, grads_compiled = None, None, None
        if ast[0] and backend != "eager":
            with torch.no_grad():
                details = str(capture.explain(target, *copy.deepcopy(args), mode="ast", backend=backend, verbose=True))
            compiled = "no kernels:" not in details
        if ast[0] and (name.startswith("beyond_control") or name.startswith("tensor_")):
            grads_equal, grads_compiled = gradients(target, args, backend)
            if backend == "eager":
                grads_compiled = None
        rows.append({"case": name, "beyond_torchscript_language": name.startswith("beyond_"),
                     "control_flow": name.startswith("beyond_control") or name.startswith("tensor_"),
                     "torchscript": {"captured": script[0], "equal": script[1], "error": script[2]},
                     "capture_ast": {"captured": ast[0], "equal": ast[1], "error": ast[2], "compiled": compiled,
                                     "gradients_equal": grads_equal, "compiled_with_gradients": grads_compiled}})
    totals = {side: sum(1 for r in rows if r[side]["captured"]) for side in ("torchscript", "capture_ast")}
    totals["cases"] = len(rows)
    totals["torchscript_only"] = [r["case"] for r in rows if r["torchscript"]["captured"] and not r["capture_ast"]["captured"]]
    totals["capture_only"] = [r["case"] for r in rows if r["capture_ast"]["captured"] and not r["torchscript"]["captured"]]
    totals["capture_differs_from_eager"] = [r["case"] for r in rows if r["capture_ast"]["captured"] and not r["capture_ast"]["equal"]]
    totals["torchscript_differs_from_eager"] = [r["case"] for r in rows if r["torchscript"]["captured"] and not r["torchscript"]["equal"]]
    totals["control_flow_not_compiled"] = [r["case"] for r in rows if r["control_flow"] and r["capture_ast"]["compiled"] is False]
    totals["control_flow_gradients_differ"] = [r["case"] for r in rows if r["control_flow"] and r["capture_ast"]["gradients_equal"] is False]
    totals["control_flow_not_compiled_with_gradients"] = [r["case"] for r in rows if r["control_flow"] and r["capture_ast"]["compiled_with_gradients"] is False]
    return {"backend": backend, "totals": totals, "cases": rows}


def markdown(result):
    t = result["totals"]
    lines = ["# AST path versus torch.jit.script", "",
             f"{t['cases']} TorchScript-style cases (tests/ast_cases/cases.py), backend {result['backend']}: "
             f"torch.jit.script captures {t['torchscript']}, Capture's AST path {t['capture_ast']}. "
             "A captured result is compared with eager's: torch.jit.script's differs on "
             f"{', '.join(t['torchscript_differs_from_eager']) or 'none'}, Capture's on "
             f"{', '.join(t['capture_differs_from_eager']) or 'none'}. \"compiled\": for inference (no_grad), every graph of the "
             "capture, control flow's subgraphs included, runs as generated code (no: some graph runs node by node "
             "through torch, e.g. one that switches grad mode). \"gradients\": for the control-flow cases, run with their "
             "float inputs (and parameters) requiring grad: the gradients equal eager's, and every graph (the pieces "
             "around the control flow, each branch and loop body, each with its own forward/backward split) runs as "
             "generated code.", "",
             "| case | torch.jit.script | Capture AST path | compiled | gradients |", "|---|---|---|---|---|"]
    for r in result["cases"]:
        def cell(side):
            s = r[side]
            return ("yes" if s["equal"] else "yes, DIFFERS FROM EAGER") if s["captured"] else f"no: {s['error']}".replace("|", "\\|")
        compiled = {True: "yes", False: "no", None: ""}[r["capture_ast"].get("compiled")]
        c = r["capture_ast"]
        grads = "" if c.get("gradients_equal") is None else ("equal" if c["gradients_equal"] else "DIFFER") + {
            True: ", compiled", False: ", not all compiled", None: ""}[c.get("compiled_with_gradients")]
        lines.append(f"| {r['case']} | {cell('torchscript')} | {cell('capture_ast')} | {compiled} | {grads} |")
    return "\n".join(lines) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--markdown")
    options = parser.parse_args(argv)
    result = run(options.backend)
    if options.markdown:
        with open(options.markdown, "w") as f:
            f.write(markdown(result))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
