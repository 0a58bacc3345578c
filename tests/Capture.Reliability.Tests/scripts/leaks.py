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
kinds = set()


def batch():
    for _ in range(calls):
        try:
            compiled(x)
        except Exception as e:
            kinds.add(type(e).__name__)
    gc.collect()


# a first batch grows the heaps to their working size once (.NET's first-generation budget follows the
# CPU's cache size: 8 MB on one machine, 25 MB on another); a leak grows them again in the second
batch()
rss_before = rss_mb()
batch()
print(f"raised: {sorted(kinds)}")
print(f"refcount: {before} -> {sys.getrefcount(x)}")
print(f"rss growth MB: {rss_mb() - rss_before:.1f}")
