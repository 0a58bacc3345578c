"""Code that fails for its inputs raises what eager raises. Usage: errors.py BACKEND MODE; prints `mismatches: N`."""
import sys
import torch
import capture

backend, mode = sys.argv[1], sys.argv[2]


def shape_error(x, y):
    return x @ y


def index_error(x):
    return x[10]


def int_beyond_int64(x):
    return x + 2**70


def raised(fn, *args):
    try:
        fn(*args)
    except Exception as e:
        return type(e).__name__
    return None


bad = 0
for fn, args in [(shape_error, (torch.randn(2, 3), torch.randn(4, 5))), (index_error, (torch.randn(3),)),
                 (int_beyond_int64, (torch.randn(2),))]:
    expected, actual = raised(fn, *args), raised(capture.compile(fn, backend=backend, mode=mode), *args)
    print(f"{fn.__name__}: eager {expected}, compiled {actual}")
    bad += expected != actual
print(f"mismatches: {bad}")
