"""Code that reads its own frame (globals(), locals(), vars(), dir(), eval(), inspect.currentframe(),
sys._getframe()) must see the user's frame. Usage: frames.py BACKEND; prints `wrong: N`."""
import sys, inspect, torch, capture
backend = sys.argv[1] if len(sys.argv) > 1 else "roslyn"
scale = 100.0
def f_globals(x): return x * globals().get("scale", 1.0)
def f_locals(x):
    y = x + 1
    return locals()["y"] * 2
def f_vars(x):
    y = x + 2
    return vars()["y"]
def f_dir(x):
    y = x + 1
    return x * len(dir())
def f_eval(x):
    k = 3
    return x * eval("k + scale")
def f_frame(x):
    return x * inspect.currentframe().f_code.co_argcount
def f_getframe(x):
    return x + sys._getframe().f_lineno
bad = 0
for f in [f_globals, f_locals, f_vars, f_dir, f_eval, f_frame, f_getframe]:
    x = torch.randn(3)
    expected = f(x)
    try:
        actual = capture.compile(f, backend=backend)(x)
        ok = torch.allclose(actual, expected)
    except Exception as e:
        ok = False; print(type(e).__name__, e)
    print(f.__name__, "ok" if ok else "WRONG")
    bad += not ok
print("wrong:", bad)
