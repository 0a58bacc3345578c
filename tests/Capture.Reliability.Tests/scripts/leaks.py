"""Calls that raise inside compiled code must not keep their inputs or intermediates.
Usage: leaks.py BACKEND MODE CALLS; prints the input's refcount before and after, and RSS growth."""
import gc
import sys
import torch
import capture

backend, mode, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])


def fails(x):
    y = x * 2
    return y[100]  # IndexError, raised by torch inside the compiled code


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


compiled = capture.compile(fails, backend=backend, mode=mode)
x = torch.randn(4)
before = sys.getrefcount(x)
for _ in range(100):  # warm-up: capture and compile
    try:
        compiled(x)
    except IndexError:
        pass
rss_before = rss_mb()
kinds = set()
for _ in range(calls):
    try:
        compiled(x)
    except Exception as e:
        kinds.add(type(e).__name__)
gc.collect()
print(f"raised: {sorted(kinds)}")
print(f"refcount: {before} -> {sys.getrefcount(x)}")
print(f"rss growth MB: {rss_mb() - rss_before:.1f}")
