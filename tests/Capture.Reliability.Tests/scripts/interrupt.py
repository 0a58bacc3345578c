"""Ctrl-C during long compiled calls, or during time.sleep: KeyboardInterrupt, then finally and
atexit run. Prints `ready` when the next SIGINT should be sent. Usage: interrupt.py BACKEND compiled|sleep."""
import atexit
import sys
import time
import torch
import capture

atexit.register(lambda: print("atexit ran", flush=True))


def long(x):
    for _ in range(40):
        x = torch.sigmoid(x * 1.0001 + 0.5)
    return x


compiled = capture.compile(long, backend=sys.argv[1])
x = torch.randn(8_000_000)
compiled(x)
try:
    print("ready", flush=True)
    started = time.time()
    if sys.argv[2] == "sleep":
        time.sleep(120)
    while time.time() - started < 120:
        compiled(x)
    print("never interrupted", flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
finally:
    print("finally ran", flush=True)
