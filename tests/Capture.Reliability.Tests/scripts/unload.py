"""Compiled code goes when nothing holds it: capture.reset() and recompile cycles leave neither the
functions nor their kernels loaded. Usage: unload.py BACKEND CYCLES."""
import gc
import sys
import weakref
import torch
import capture

backend, cycles = sys.argv[1], int(sys.argv[2])
x = torch.randn(64)
refs = []
for i in range(cycles):
    namespace = {}
    exec(f"def f(x):\n    return (x * {i + 1}.5).sigmoid() + {i}\n", {"torch": torch}, namespace)
    f = namespace["f"]
    refs.append(weakref.ref(f))
    capture.compile(f, backend=backend)(x)
    del f, namespace
    capture.reset()
gc.collect()
info = capture.runtime_info()
print(f"functions alive: {sum(r() is not None for r in refs)} of {cycles}")
print(f"kernel modules loaded: {info['roslyn_assemblies'] + info['llvm_objects']}")
