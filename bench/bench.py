"""`./capture bench [--quick] [--out DIR]`: Capture's compiled functions against eager PyTorch,
torch.jit.script and torch.jit.trace, measured in one process with the same thread count, and what
compiling costs against TorchScript and functorch's aot_function.

Each workload runs through every system: warm-up calls (the first one, which captures and compiles,
is timed separately as the first call), then repetitions timed one by one, in blocks that the
systems take turns at (the machine's drift falls on all alike); the table gives the
median in ms, the spread (interquartile range) and the ratio eager / system (above 1: faster than
eager). The per-call overhead workload times blocks of 200 calls, after a warm-up long enough for
.NET to re-jit the dispatch path optimized. Every system's result is checked against eager's before
it is timed; a mismatch is reported in the table and makes the run fail. Compile times are measured
from scratch (./capture bench turns the kernel cache off unless CAPTURE_CACHE is set), each
compiler's start-up in the process paid once beforehand. Writes results.md, results.json and
results.png (a bar chart of the ratios) to --out (bench/ by default; --quick runs small sizes, for
the smoke test, into .build/bench-quick/).
"""

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import capture

ROUNDS = 10  # turns per workload: this VM's speed swings 2x over seconds, and short turns spread a slow spell over every system
# before each timed block: the previous system's worker threads go idle first. libgomp's (torch's
# OpenMP) spin up to 300,000 times after a parallel region, milliseconds on this machine, and
# OpenBLAS's and .NET's spin too; on two cores a spinning thread halves the next system's speed
SETTLE_S = 0.05

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wait_until_idle(limit_s=20.0, window_s=0.1, busy=0.05):
    """
    Sleeps until the process's other threads are idle: under `busy` of a core in a `window_s` window
    (at most `limit_s`; returns the seconds waited). Compiling leaves work in the background: .NET
    re-jits the methods a compile called often (Roslyn's, thousands of them) on a thread of its own
    for seconds after, which on two cores takes one from whichever system is being timed (eager's
    softmax measured 8 ms instead of 3.4 while it ran).
    """
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        before = time.process_time()
        time.sleep(window_s)
        if time.process_time() - before < busy * window_s:
            break
    return time.perf_counter() - start


def pointwise_chain(x, y):
    # seven elementwise ops (one broadcast operand) with sigmoid and tanh
    return torch.sigmoid((x * 0.5 + y).relu() - 1.0) * torch.tanh(x)


def arithmetic_chain(x, y):
    # six elementwise ops of plain arithmetic: memory-bound in eager, one pass compiled
    return ((x * 0.5 + y).relu() - 1.0) * x + y * y


def softmax_rows(x):
    # max, sum of exp, divide: one kernel, rows in parallel, each row read from cache after the first pass
    return torch.softmax(x, dim=-1)


def layer_norm_rows(x, weight, bias):
    # mean, variance, normalize with the affine: one kernel
    return F.layer_norm(x, (x.shape[-1],), weight, bias)


def scale_rows(x):
    # one read and one write of the same bytes as softmax and layer_norm: the memory bound they meet
    return x * 1.5


def mlp_forward(x, w1, b1, w2, b2):
    # GELU MLP: two gemms (extern kernels) with their bias and activation epilogues
    return F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)


def attention_forward(x, wq, wk, wv, wo):
    # one head of self-attention: projections (gemms), scaled scores, softmax over keys, weighted sum
    q, k, v = x @ wq, x @ wk, x @ wv
    weights = torch.softmax(q @ k.transpose(-2, -1) * (q.shape[-1] ** -0.5), dim=-1)
    return (weights @ v) @ wo


def conv_block_forward(x, weight, bias, mean, var, gamma, beta):
    # conv, batch_norm (inference), relu
    y = F.conv2d(x, weight, bias, padding=1)
    return torch.relu(F.batch_norm(y, mean, var, gamma, beta, training=False))


def mlp_loss(x, w1, b1, w2, b2, target):
    # the training step's loss: GELU MLP and mean squared error; timed with its backward
    return ((F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2) - target) ** 2).mean()


def tiny_add(x):
    # one op on four floats: what a call costs beyond the op (guards, dispatch)
    return x + 1


def training_step(loss_fn):
    """A step's gradients: loss_fn's backward for every input that requires grad."""
    def step(*args):
        return torch.autograd.grad(loss_fn(*args), [a for a in args if a.requires_grad])
    return step


def same(a, b, tolerance):
    if isinstance(a, torch.Tensor):
        return torch.allclose(a, b, rtol=tolerance, atol=tolerance)
    return len(a) == len(b) and all(same(x, y, tolerance) for x, y in zip(a, b))


def workloads(quick):
    """(name, function, make inputs, tolerance, kind) for each row; kind "train" times forward + backward."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    rows = []
    for n in ([1 << 16] if quick else [1 << 20, 1 << 22, 1 << 24]):
        label = f"{n >> 20}M" if n >= 1 << 20 else f"{n >> 10}K"
        cols = 1024
        rows.append((f"pointwise chain (7 ops, sigmoid/tanh), {label} floats", pointwise_chain,
                     lambda n=n, cols=cols: (randn(n // cols, cols), randn(cols)), 1e-5))
        rows.append((f"arithmetic chain (6 ops), {label} floats", arithmetic_chain,
                     lambda n=n, cols=cols: (randn(n // cols, cols), randn(cols)), 1e-5))
    rows_, cols_ = (64, 256) if quick else (4096, 1024)
    rows.append((f"softmax over rows ({rows_}x{cols_})", softmax_rows, lambda: (randn(rows_, cols_),), 1e-5))
    rows.append((f"layer_norm over rows ({rows_}x{cols_})", layer_norm_rows,
                 lambda: (randn(rows_, cols_), randn(cols_), randn(cols_)), 1e-4))
    rows.append((f"scale (x * 1.5, the memory bound of the two above) ({rows_}x{cols_})", scale_rows, lambda: (randn(rows_, cols_),), 1e-6))
    batch, d, hidden = (8, 64, 256) if quick else (64, 1024, 4096)
    rows.append((f"GELU MLP forward ({batch}x{d} -> {hidden} -> {d})", mlp_forward,
                 lambda: (randn(batch, d), randn(hidden, d) * d ** -0.5, randn(hidden), randn(d, hidden) * hidden ** -0.5, randn(d)),
                 1e-4))
    batch, seq, dim = (2, 16, 32) if quick else (8, 128, 256)
    rows.append((f"attention block forward ({batch}x{seq}x{dim})", attention_forward,
                 lambda: (randn(batch, seq, dim),) + tuple(randn(dim, dim) * dim ** -0.5 for _ in range(4)), 1e-4))
    n, c, hw = (2, 8, 8) if quick else (8, 64, 56)
    rows.append((f"conv block forward (conv-bn-relu, {n}x{c}x{hw}x{hw})", conv_block_forward,
                 lambda: (randn(n, c, hw, hw), randn(c, c, 3, 3) * (9 * c) ** -0.5, randn(c), randn(c), randn(c).abs() + 0.5, randn(c), randn(c)), 1e-4))
    batch, d, hidden = (8, 64, 256) if quick else (64, 1024, 4096)

    def mlp_training_inputs():
        w = (randn(hidden, d) * d ** -0.5, randn(hidden), randn(d, hidden) * hidden ** -0.5, randn(d))
        return (randn(batch, d),) + tuple(t.requires_grad_() for t in w) + (randn(batch, d),)
    rows.append((f"MLP training step, forward + backward ({batch}x{d} -> {hidden} -> {d})", mlp_loss, mlp_training_inputs, 1e-4, "train"))
    rows.append(("per-call overhead (x + 1 on 4 floats)", tiny_add, lambda: (randn(4),), 1e-6, "dispatch"))
    return [r if len(r) == 5 else r + ("forward",) for r in rows]


def systems():
    """(name, wrap) per system; wrap(fn, args) gives the callable to time, or a str saying why there is none."""
    def script(fn, args):
        try:
            return torch.jit.script(fn)
        except Exception as e:  # noqa: BLE001 - a function TorchScript cannot compile gets no row
            return f"torch.jit.script failed: {type(e).__name__}"

    def trace(fn, args):
        try:
            return torch.jit.trace(fn, args, check_trace=False)
        except Exception as e:  # noqa: BLE001 - a function torch.jit.trace cannot record gets no row
            return f"torch.jit.trace failed: {type(e).__name__}"

    return [
        ("eager", lambda fn, args: fn),
        ("torch.jit.script", script),
        ("torch.jit.trace", trace),
        ("capture (roslyn)", lambda fn, args: capture.compile(fn, backend="roslyn")),
        ("capture (llvm)", lambda fn, args: capture.compile(fn, backend="llvm")),
    ]


def compile_times(fn, args, run):
    """
    What compiling costs, per system (ms): TorchScript's script() and trace(), functorch's
    aot_function (its first call: trace and partition with the nop compiler, and with ts_compile,
    which also compiles both halves with TorchScript), and Capture's phases from capture.explain
    (capture, optimize, codegen, then roslyn or llvm), summed over the function's graphs.
    """
    from functorch.compile import aot_function, nop, ts_compile

    rows = []

    def timed(system, make, **extra):
        start = time.perf_counter()
        try:
            make()
        except Exception as e:  # noqa: BLE001 - reported in the row
            rows.append({"system": system, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"})
            return
        rows.append({"system": system, "total_ms": (time.perf_counter() - start) * 1e3, **extra})

    timed("torch.jit.script", lambda: torch.jit.script(fn), phases={})
    timed("torch.jit.trace", lambda: torch.jit.trace(fn, args, check_trace=False), phases={})
    for compiler in (nop, ts_compile):
        timed(f"functorch aot_function ({compiler.__name__})",
              lambda c=compiler: run(aot_function(fn, fw_compiler=c, bw_compiler=c))(*args), phases={})
    for backend in ("roslyn", "llvm"):
        report = capture.explain(fn, *args, backend=backend)
        phases = {"capture": sum(report.compile_times) * 1e3}
        for graph in report.compile_phases:
            for name, seconds, _ in graph:
                phases[name] = phases.get(name, 0.0) + seconds * 1e3
        rows.append({"system": f"capture ({backend})", "total_ms": sum(phases.values()), "phases": phases})
    return rows


def blas():
    """torch's BLAS as built (Debian's is "generic": libblas.so.3) and the library that file resolves to here."""
    built = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    with open("/proc/self/maps") as maps:
        loaded = sorted({line.split()[-1] for line in maps if "blas" in line.rsplit("/", 1)[-1]})
    return f"{built.group(1) if built else 'unknown'} ({', '.join(os.path.realpath(p) for p in loaded) or 'none loaded'})"


def plot(results, path, environment):
    """The chart (bench/chart.py): each system's ratio against eager per workload with IQR error bars, and its first call."""
    import chart

    workloads = list(dict.fromkeys(r["workload"] for r in results))
    systems = [s for s in dict.fromkeys(r["system"] for r in results) if s != "eager"]
    by = {(r["workload"], r["system"]): r for r in results}
    eager = {w: (r["median_ms"], r["iqr_ms"]) for (w, s), r in by.items() if s == "eager" and "median_ms" in r}
    startup = {f"capture ({b})": float(environment[k].split()[0]) for b in ("roslyn", "llvm")
               for k in [f"{b} start-up (first compile in the process)"] if k in environment}
    chart.plot(path, f"Capture benchmarks ({environment['machine']}, torch {environment['torch']}, {environment['torch threads']} threads)",
               workloads, systems, lambda w, s: by.get((w, s)), lambda w, s: eager.get(w), startup)


def replot(out):
    """Redraws the charts from results.json and models.json in `out` (the measurements as they were)."""
    import models

    for name, draw in (("results", plot), ("models", models.plot)):
        source = os.path.join(out, f"{name}.json")
        if not os.path.exists(source):
            continue
        with open(source) as f:
            saved = json.load(f)
        draw(saved["results"], os.path.join(out, f"{name}.png"), saved["environment"])
        print(f"wrote {os.path.join(out, name + '.png')}")
    return 0


def main(argv):
    parser = argparse.ArgumentParser(prog="capture bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions (smoke test)")
    parser.add_argument("--out", help="folder for results.md and results.json")
    parser.add_argument("--only", help="run only the workloads whose name contains this text")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for torch (Capture's kernels use every core)")
    parser.add_argument("--models", action="store_true", help="only the whole models (bench/models.py: one process per backend)")
    parser.add_argument("--replot", action="store_true", help="redraw results.png (and models.png) from the JSON in --out, without measuring")
    if "--models" in argv:
        import models
        return models.main([a for a in argv if a != "--models"])
    options = parser.parse_args(argv)
    out = options.out or (os.path.join(ROOT, ".build", "bench-quick") if options.quick else os.path.join(ROOT, "bench"))
    if options.replot:
        return replot(out)
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(options.threads)
    repeat, warmup = (5, 2) if options.quick else (30, 5)
    environment = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "torch threads": torch.get_num_threads(),
        "torch BLAS": blas(),
        "capture": capture.__version__,
        "repetitions": repeat,
    }
    print("; ".join(f"{k}: {v}" for k, v in environment.items()), flush=True)

    # each compiler's start-up (Roslyn's first compile in a process takes seconds) is paid here, once,
    # and reported, so that the first workload's compile times are comparable with the others'
    for backend in ("roslyn", "llvm"):
        start = time.perf_counter()
        capture.compile(tiny_add, backend=backend)(torch.ones(4))
        environment[f"{backend} start-up (first compile in the process)"] = f"{(time.perf_counter() - start) * 1e3:.0f} ms"
        capture.reset()
    print("; ".join(f"{k}: {v}" for k, v in environment.items() if "start-up" in k), flush=True)

    results, compiles, failed = [], [], False
    for name, fn, make, tolerance, kind in workloads(options.quick):
        if options.only and options.only not in name:
            continue
        args = make()
        run = training_step if kind == "train" else (lambda f: f)
        # a call on four floats is too short to time one by one: a sample is the mean of a block of calls
        calls = 200 if kind == "dispatch" else 1
        expected = run(fn)(*args)
        # compile times first: torch.jit.script caches what it compiled per function
        if kind != "dispatch":
            for row in compile_times(fn, args, run):
                compiles.append({"workload": name, **row})
                print(f"{name:55} {row['system']:38} compile {row.get('total_ms', float('nan')):9.1f} ms"
                      + "".join(f"  {k} {v:.1f}" for k, v in row.get("phases", {}).items() if len(row["phases"]) > 1)
                      + (f"  {row['error']}" if "error" in row else ""), flush=True)
        # every system compiled and warmed up, then timed in turns: ROUNDS blocks of consecutive calls
        # each, so that drift in the machine's speed falls on all alike, while one system's worker
        # threads (OpenMP's, OpenBLAS's, .NET's spin a while after their work) do not slow the next
        # system's every call, as taking turns call by call did
        entries = []
        for system, wrap in systems():
            row = {"workload": name, "system": system}
            results.append(row)
            compiled = wrap(fn, args)
            if isinstance(compiled, str):
                row["error"] = compiled
                continue
            compiled = run(compiled)
            capture.reset()
            start = time.perf_counter()
            compiled(*args)
            row["first_call_ms"] = (time.perf_counter() - start) * 1e3
            # the dispatch path's warm-up lasts until .NET has re-jitted it optimized (tiered compilation
            # starts every method unoptimized and recompiles the ones called often, in the background)
            for _ in range(warmup if kind != "dispatch" else 0):
                compiled(*args)
            for _ in range(3 if kind == "dispatch" else 0):
                for _ in range(5000):
                    compiled(*args)
                time.sleep(0.2)
            row["matches_eager"] = same(compiled(*args), expected, tolerance)
            failed |= not row["matches_eager"]
            entries.append((row, compiled, []))
        settled = wait_until_idle()
        for row, _, _ in entries:
            row["settled_s"] = settled
        for _ in range(ROUNDS):
            for row, compiled, times in entries:
                time.sleep(SETTLE_S)
                compiled(*args)  # untimed
                for _ in range(max(1, repeat // ROUNDS)):
                    start = time.perf_counter()
                    for _ in range(calls):
                        compiled(*args)
                    times.append((time.perf_counter() - start) / calls)
        eager_median = statistics.median(entries[0][2])
        for row, compiled, times in entries:
            median = statistics.median(times)
            quartiles = statistics.quantiles(times, n=4) if len(times) >= 2 else [median, median, median]
            row.update(median_ms=median * 1e3, iqr_ms=(quartiles[2] - quartiles[0]) * 1e3, ratio_vs_eager=eager_median / median,
                       overhead_us=(median - eager_median) * 1e6)
            print(f"{name:55} {row['system']:18} {median * 1e3:9.3f} ms  x{eager_median / median:5.2f}  first call {row['first_call_ms']:8.1f} ms"
                  f"{'' if row['matches_eager'] else '  DIFFERS FROM EAGER'}", flush=True)

    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"environment": environment, "results": results, "compile": compiles}, f, indent=2)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("# Capture benchmarks\n\n")
        f.write("".join(f"- {k}: {v}\n" for k, v in environment.items()))
        f.write("\nMedian time per call (interquartile range); ratio = eager median / system median (above 1: faster "
                "than eager); first call = capture and compile.\n\n")
        f.write("| workload | system | median ms | IQR ms | vs eager | first call ms | matches eager |\n|---|---|---:|---:|---:|---:|---|\n")
        for r in results:
            if "error" in r:
                f.write(f"| {r['workload']} | {r['system']} | n/a | | | | {r['error']} |\n")
            else:
                f.write(f"| {r['workload']} | {r['system']} | {r['median_ms']:.3f} | {r['iqr_ms']:.3f} | {r['ratio_vs_eager']:.2f}x "
                        f"| {r['first_call_ms']:.1f} | {'yes' if r['matches_eager'] else 'NO'} |\n")
        overhead = [r for r in results if r["workload"].startswith("per-call overhead") and "error" not in r and r["system"].startswith("capture")]
        if overhead:
            f.write("\nPer-call overhead (median time per call minus eager's, on the tiny workload): "
                    + ", ".join(f"{r['system']} {r['overhead_us']:.1f} us" for r in overhead) + ".\n")
        f.write("\nCompile time in ms, from scratch (the kernel cache is off for the bench): torch.jit.script() and "
                "torch.jit.trace(); functorch aot_function's first call (trace and partition: nop; plus TorchScript "
                "compiles of both halves: ts_compile); Capture's phases from capture.explain, summed over the "
                "function's graphs (capture: bytecode to graph; optimize: the pass pipeline; codegen: lowering and "
                "C# or LLVM IR; roslyn / llvm: compiling that). Each compiler's start-up in the process is paid "
                "before the first workload and listed above.\n\n")
        columns = ("capture", "autograd", "optimize", "codegen", "roslyn / llvm")
        f.write(f"| workload | system | compile ms | {' | '.join(columns)} |\n|---|---|---:|{'---:|' * len(columns)}\n")
        for r in compiles:
            if "error" in r:
                f.write(f"| {r['workload']} | {r['system']} | n/a | {r['error']} |{' |' * (len(columns) - 1)}\n")
                continue
            cells = []
            for column in columns:
                # a forward/backward pair's phases are named "forward optimize", "backward llvm"...
                spent = [v for k, v in r["phases"].items() if k.split()[-1] in column.split(" / ")]
                cells.append(f"{sum(spent):.1f}" if spent else "")
            f.write(f"| {r['workload']} | {r['system']} | {r['total_ms']:.1f} | " + " | ".join(cells) + " |\n")
    plot(results, os.path.join(out, "results.png"), environment)
    print(f"wrote {os.path.join(out, 'results.md')}, results.json and results.png")
    if not options.only:
        # what the AST path captures next to torch.jit.script, on the same TorchScript-style cases
        sys.path.insert(0, os.path.join(ROOT, "tests", "ast_cases"))
        import harness
        ast_cases = harness.run("roslyn")
        failed |= bool(ast_cases["totals"]["capture_differs_from_eager"]) or bool(ast_cases["totals"]["control_flow_gradients_differ"])
        with open(os.path.join(out, "ast_cases.md"), "w") as f:
            f.write(harness.markdown(ast_cases))
        t = ast_cases["totals"]
        with open(os.path.join(out, "results.md"), "a") as f:
            f.write(f"\n## AST path versus torch.jit.script\n\nOn {t['cases']} TorchScript-style cases, torch.jit.script captures {t['torchscript']} "
                    f"and Capture's AST path {t['capture_ast']} (every case TorchScript captures, plus {', '.join(t['capture_only']) or 'none'}); "
                    f"torch.jit.script's result differs from eager's on {', '.join(t['torchscript_differs_from_eager']) or 'none'}, "
                    f"Capture's on {', '.join(t['capture_differs_from_eager']) or 'none'}. With gradients, the control-flow cases' gradients "
                    f"differ from eager's on {', '.join(t['control_flow_gradients_differ']) or 'none'}, and some graph runs node by node through torch on "
                    f"{', '.join(t['control_flow_not_compiled_with_gradients']) or 'none'}; each case side by side in [ast_cases.md](ast_cases.md).\n")
        print(f"wrote {os.path.join(out, 'ast_cases.md')}")
    if not options.quick and not options.only:
        # the whole models, one process per backend (bench/models.py), as a section of results.md
        import models
        failed |= models.main(["--out", out, "--threads", str(options.threads)]) != 0
        with open(os.path.join(out, "models.md")) as section, open(os.path.join(out, "results.md"), "a") as f:
            f.write("\n#" + section.read() + "\n![whole models](models.png)\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
