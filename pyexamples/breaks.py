"""One function per kind of graph break. Each still gives eager PyTorch's result: the breaking
instruction runs for real and capture resumes after it. `./capture explain pyexamples/breaks.py`
shows every reason with its line."""

import numpy as np
import torch

import capture


def print_in_the_middle(x):
    y = torch.tanh(x) * 2
    print("  (print inside the compiled function)")
    return y + 1


def item_to_python(x):
    scale = x.abs().max().item()
    return x / scale


def data_dependent_branch(x):
    if x.sum() > 0:
        return x * 2
    return -x


def numpy_call(x):
    y = x.relu()
    factor = np.sqrt(2.0)
    return y * factor


def unsupported_builtin(x):
    names = sorted(dir(x))
    return x * len(names[:1])


EXAMPLES = {
    "print_in_the_middle": lambda: (torch.randn(4),),
    "item_to_python": lambda: (torch.randn(4),),
    "data_dependent_branch": lambda: (torch.randn(4),),
    "numpy_call": lambda: (torch.randn(4),),
    "unsupported_builtin": lambda: (torch.randn(4),),
}


if __name__ == "__main__":
    torch.manual_seed(0)
    for name, make in EXAMPLES.items():
        fn = globals()[name]
        args = make()
        report = capture.explain(fn, *args)
        same = torch.equal(capture.compile(fn, backend="eager")(*args), fn(*args))
        reasons = "; ".join(f"{b.reason} (line {b.lineno})" for b in report.break_reasons)
        print(f"{name}: matches eager: {same}; {report.graph_count} graphs, {report.graph_break_count} breaks: {reasons}")
