"""Python numbers in compiled code, converted as torch converts them. Usage: constants.py BACKEND; prints `wrong: N`."""
import sys
import torch
import capture

backend = sys.argv[1]


def add_beyond_int32(x):
    return x + 2**40  # wraps in int32, as eager does


def add_beyond_double_precision(x):
    return x + (2**62 + 1)  # exact in int64


def times_beyond_float32(x):
    return x * 3.5e38  # inf in float32


def compare_with_a_fraction(x):
    return x >= 2.5  # an int tensor against a float compares as floats


def compare_bools_with_an_int(x):
    return x > 1


bad = 0
for f, x in [(add_beyond_int32, torch.arange(5, dtype=torch.int32)), (add_beyond_double_precision, torch.arange(5)),
             (times_beyond_float32, torch.ones(4)), (compare_with_a_fraction, torch.arange(5, dtype=torch.int32)),
             (compare_bools_with_an_int, torch.tensor([True, False]))]:
    expected = f(x)
    actual = capture.compile(f, backend=backend)(x)
    ok = expected.dtype == actual.dtype and torch.equal(expected, actual)
    print(f.__name__, "ok" if ok else f"WRONG: eager {expected}, compiled {actual}")
    bad += not ok
print(f"wrong: {bad}")
