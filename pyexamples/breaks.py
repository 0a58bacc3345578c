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


def break_inside_no_grad(x):
    # a frame with a with-block is captured whole or not at all: this one runs eagerly
    with torch.no_grad():
        y = x * 2
        print("  (print inside a no_grad block)")
    return y + x


def _normalize(x):
    return x / x.abs().sum().item()


def break_in_a_helper(x):
    # the break is inside an inlined call: its report lists the user stack
    return _normalize(x) * 3


EXAMPLES = {
    "print_in_the_middle": lambda: (torch.randn(4),),
    "item_to_python": lambda: (torch.randn(4),),
    "data_dependent_branch": lambda: (torch.randn(4),),
    "numpy_call": lambda: (torch.randn(4),),
    "unsupported_builtin": lambda: (torch.randn(4),),
    "break_inside_no_grad": lambda: (torch.randn(4),),
    "break_in_a_helper": lambda: (torch.randn(4),),
}


if __name__ == "__main__":
    torch.manual_seed(0)
    for name, make in EXAMPLES.items():
        fn = globals()[name]
        args = make()
        report = capture.explain(fn, *args)
        same = torch.allclose(capture.compile(fn)(*args), fn(*args), rtol=1e-5, atol=1e-6)
        reasons = "; ".join(f"{b.reason} (line {b.lineno}{', in ' + ' -> '.join(b.user_stack) if len(b.user_stack) > 1 else ''})"
                            for b in report.break_reasons)
        print(f"{name}: matches eager: {same}; {report.graph_count} graphs, {report.graph_break_count} breaks: {reasons}")
