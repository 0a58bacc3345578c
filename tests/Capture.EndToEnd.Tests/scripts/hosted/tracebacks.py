"""Errors inside compiled code end their traceback at the user's line, as in eager. Usage:
tracebacks.py BACKEND. Prints, per case, `CASE: FILE:LINE expected LINE` for the last traceback entry."""
import os
import sys
import traceback

import torch

import capture


def shape_error(a):
    b = a.sin()
    return b @ torch.ones(7, 2)  # line: shape_error


def user_raise(x):
    y = x * 2
    if y.sum() > 0:
        raise ValueError("positive")  # line: user_raise
    return y


def index_error(x, index):
    y = x.cos() + 1
    return torch.gather(y, 0, index)  # line: index_error


def expected_line(case):
    with open(__file__) as source:
        for number, text in enumerate(source, 1):
            if text.rstrip().endswith(f"# line: {case}"):
                return number


cases = {
    "shape_error": (shape_error, (torch.randn(3, 3),)),
    "user_raise": (user_raise, (torch.ones(4),)),
    "index_error": (index_error, (torch.randn(5), torch.tensor([0, 9]))),
}
for case, (fn, args) in cases.items():
    compiled = capture.compile(fn, backend=sys.argv[1])
    if case == "index_error":
        compiled(torch.randn(5), torch.tensor([0, 1]))  # compiled first with good indices
    try:
        compiled(*args)
        print(f"{case}: no error")
    except Exception as error:
        last = traceback.extract_tb(error.__traceback__)[-1]
        print(f"{case}: {os.path.basename(last.filename)}:{last.lineno} expected {expected_line(case)} ({type(error).__name__}; {last.line})")
