"""`./capture fuzz N [--seed S] [--backend B] [--no-grad] [--show]`: differential testing on random programs.

Generates N random Python functions over tensors (elementwise ops, broadcasting, reductions,
softmax and layer_norm, matrix products, views, Python branches and loops on sizes), runs each
eagerly and compiled on every backend (or the one --backend names), and compares the outputs, and,
when inputs require grad, the gradients of a weighted sum of the outputs. Program i has seed S + i;
a failure prints its seed, and `./capture fuzz 1 --seed SEED --show` replays that one program and prints its
source. Exits 1 when any program differs from eager."""

import argparse
import random
import sys
import traceback

import torch
import capture

BACKENDS = ("eager", "roslyn", "llvm")

UNARY = [
    "torch.sin({0})", "torch.cos({0})", "torch.tanh({0})", "torch.sigmoid({0})", "torch.relu({0})",
    "{0}.abs()", "-{0}", "torch.exp(torch.tanh({0}))", "torch.log({0}.abs() + 1)", "torch.sqrt({0}.abs() + 0.5)",
    "torch.nn.functional.gelu({0})", "torch.nn.functional.silu({0})", "{0} * {0}", "({0} * 0.5 + 1.25)",
    "torch.clamp({0}, -0.5, 0.75)", "{0}.square()",
]
BINARY = [
    "{0} + {1}", "{0} - {1}", "{0} * {1}", "{0} / ({1}.abs() + 1)", "torch.maximum({0}, {1})",
    "torch.minimum({0}, {1})", "torch.where({0} > 0, {0}, {1})", "{0} * 0.5 + {1} * 2",
]


class Program:
    """A random straight-line function with some Python control flow, and the shapes of its values."""

    def __init__(self, rng):
        self.rng = rng
        self.lines = []
        self.shapes = {}
        self.inputs = []
        self.count = 0

    def new(self, shape):
        name = f"v{self.count}"
        self.count += 1
        self.shapes[name] = tuple(shape)
        return name

    def input(self, shape):
        name = f"x{len(self.inputs)}"
        self.inputs.append((name, tuple(shape)))
        self.shapes[name] = tuple(shape)
        return name

    def pick(self, rank_at_least=0):
        names = [n for n, s in self.shapes.items() if len(s) >= rank_at_least]
        return self.rng.choice(names) if names else None

    def emit(self, expression, shape, indent=1):
        name = self.new(shape)
        self.lines.append("    " * indent + f"{name} = {expression}")
        return name

    def statement(self):
        rng = self.rng
        a = self.pick()
        shape = self.shapes[a]
        kind = rng.random()
        if kind < 0.3:
            return self.emit(rng.choice(UNARY).format(a), shape)
        if kind < 0.55:
            # a partner of the same shape, or one that broadcasts (its last dims, or a size-1 dim)
            same = [n for n, s in self.shapes.items() if s == shape and n != a]
            if same and rng.random() < 0.6:
                b = rng.choice(same)
            elif shape and rng.random() < 0.5:
                b = self.input(shape[-1:])
            else:
                b = self.input(tuple(1 if rng.random() < 0.5 else d for d in shape))
            return self.emit(rng.choice(BINARY).format(a, b), shape)
        if kind < 0.65 and shape:
            dim = rng.randrange(len(shape))
            keep = rng.random() < 0.5
            op = rng.choice(["sum", "mean", "amax"])
            out = tuple(1 if i == dim else d for i, d in enumerate(shape)) if keep else tuple(d for i, d in enumerate(shape) if i != dim)
            return self.emit(f"{a}.{op}(dim={dim - len(shape) if rng.random() < 0.5 else dim}, keepdim={keep})", out)
        if kind < 0.72 and shape:
            op = rng.choice(["torch.softmax({0}, dim=-1)", "torch.log_softmax({0}, dim=-1)",
                             "torch.nn.functional.layer_norm({0}, ({1},))"])
            return self.emit(op.format(a, shape[-1]), shape)
        if kind < 0.8 and shape:
            width = rng.choice([3, 5, 8])
            w = self.input((shape[-1], width))
            return self.emit(f"{a} @ {w}", shape[:-1] + (width,))
        if kind < 0.88 and len(shape) >= 2:
            view = rng.choice(["t", "flatten", "unsqueeze", "slice"])
            if view == "t":
                return self.emit(f"{a}.transpose(-1, -2)", shape[:-2] + (shape[-1], shape[-2]))
            if view == "flatten":
                return self.emit(f"{a}.reshape({shape[0]}, -1)", (shape[0], int(torch.tensor(shape[1:]).prod())))
            if view == "unsqueeze":
                return self.emit(f"{a}.unsqueeze(0)", (1,) + shape)
            k = max(1, shape[-1] // 2)
            return self.emit(f"{a}[..., :{k}]", shape[:-1] + (k,))
        if kind < 0.94:
            # a branch decided by a size: both sides keep the shape
            first = rng.choice(UNARY).format(a)
            second = rng.choice(UNARY).format(a)
            name = self.new(shape)
            bound = rng.choice([1, 2, 4, 8])
            axis = f"{a}.shape[0]" if shape else "1"
            self.lines.append(f"    if {axis} > {bound}:")
            self.lines.append(f"        {name} = {first}")
            self.lines.append("    else:")
            self.lines.append(f"        {name} = {second}")
            return name
        # a loop over a Python range
        name = self.new(shape)
        self.lines.append(f"    {name} = {a}")
        self.lines.append(f"    for i in range({rng.randint(1, 3)}):")
        self.lines.append(f"        {name} = {name} * 0.75 + i")
        return name

    def source(self, outputs):
        header = f"def fuzzed({', '.join(n for n, _ in self.inputs)}):"
        return "\n".join([header] + self.lines + [f"    return ({', '.join(outputs)},)"]) + "\n"


def generate(seed):
    """A random program and its inputs' shapes, from seed (the same seed makes the same program)."""
    rng = random.Random(seed)
    program = Program(rng)
    for _ in range(rng.randint(1, 2)):
        program.input(rng.choice([(8,), (4, 8), (2, 4, 8), (3, 5), (6, 1)]))
    last = None
    for _ in range(rng.randint(2, 9)):
        last = program.statement()
    made = [n for n in program.shapes if n.startswith("v")]
    outputs = sorted({last, rng.choice(made)}) if made else [program.inputs[0][0]]
    # inputs declared as the statements asked for them: build the header last
    return program.source(outputs), program.inputs


def close(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype and torch.allclose(a, b, rtol=2e-3, atol=2e-4, equal_nan=True)
    if isinstance(a, (tuple, list)):
        return type(a) == type(b) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


def run(fn, inputs, grad, weights):
    """The outputs, and the inputs' gradients of sum(weight * output) when grad."""
    args = [t.detach().clone().requires_grad_(grad) for t in inputs]
    outputs = fn(*args)
    if not grad:
        return outputs, None
    loss = sum((o * w).sum() for o, w in zip(outputs, weights) if o.requires_grad)
    if not isinstance(loss, torch.Tensor):
        return outputs, None
    loss.backward()
    return [o.detach() for o in outputs], [a.grad for a in args]


def check(seed, backends, grad, show):
    source, input_shapes = generate(seed)
    namespace = {"torch": torch}
    exec(compile(source, f"<fuzz seed {seed}>", "exec"), namespace)
    fn = namespace["fuzzed"]
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(shape, generator=gen) for _, shape in input_shapes]
    with torch.no_grad():
        shapes = [o.shape for o in fn(*inputs)]
    weights = [torch.randn(s, generator=gen) for s in shapes]
    if show:
        print(source)
    expected, expected_grads = run(fn, inputs, grad, weights)
    failures = []
    for backend in backends:
        try:
            compiled = capture.compile(fn, backend=backend)
            actual, actual_grads = run(compiled, inputs, grad, weights)
            if not close(list(actual), list(expected)):
                failures.append(f"seed {seed} {backend}: outputs differ from eager")
            elif grad and not close(actual_grads, expected_grads):
                failures.append(f"seed {seed} {backend}: gradients differ from eager")
        except Exception as e:
            failures.append(f"seed {seed} {backend}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            if show:
                traceback.print_exc()
    return failures


def main():
    parser = argparse.ArgumentParser(prog="capture fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=200, help="how many programs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first program (program i has seed + i)")
    parser.add_argument("--backend", choices=BACKENDS, help="one backend (all by default)")
    parser.add_argument("--no-grad", action="store_true", help="outputs only, no gradients")
    parser.add_argument("--show", action="store_true", help="print each program's source")
    args = parser.parse_args()
    backends = [args.backend] if args.backend else list(BACKENDS)
    failures = []
    for i in range(args.count):
        seed = args.seed + i
        failures += check(seed, backends, grad=not args.no_grad and seed % 2 == 0, show=args.show)
        capture.reset()
    for failure in failures:
        print(failure)
    print(f"fuzz: {args.count} programs (seeds {args.seed}..{args.seed + args.count - 1}) x {len(backends)} backends, "
          f"{len(failures)} failures{'' if not failures else ' (replay one: ./capture fuzz 1 --seed SEED --show)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
