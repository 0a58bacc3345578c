"""`./capture bench --models [--quick] [--out DIR] [--only TEXT]`: whole models, compiled, against eager.

Each system runs in a process of its own (`capture run bench/models.py --worker SYSTEM`), one after
the other: Capture's roslyn backend, its llvm backend, and TorchScript frozen for inference
(torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(m))), where the model scripts).
In each process eager PyTorch is timed too, in turns with the system (blocks of calls, ROUNDS
turns, each callable warmed up to its steady state first), so a ratio is eager's median over the
system's from the same process and the same minutes.
Every system's result is compared with eager's first (outputs; for training steps the loss, the
gradients and the parameters after a step from the same start); a mismatch is reported and makes the run fail.
Writes models.md, models.json and models.png to --out (bench/ by default; --quick: small inputs,
into .build/bench-quick/).
"""

import argparse
import copy
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEMS = ("roslyn", "llvm", "torchscript")
LABELS = {"roslyn": "capture (roslyn)", "llvm": "capture (llvm)", "torchscript": "TorchScript frozen"}
ROUNDS = 8
SETTLE_S = 0.05
# steady state before timing: .NET compiles Capture's per-call code again, optimized, once it has run
# a few dozen times (tiered compilation), which takes a second or so of calls on two cores
WARMUP_S = 1.5
WARMUP_CALLS = 300
# the time each system is timed for per row, at least (split over the rounds): 24 calls of a 0.3 ms
# model measured 7 ms, where this VM's pauses of 50-150 ms (a few a minute) or a slow phase decided
# the median; a fast model gets as many calls as fit in it, a slow one at least `repeat`
TIMED_S = 2.0
MAX_CALLS = 4000


def gpt_module():
    spec = importlib.util.spec_from_file_location("capture_gpt_example", os.path.join(ROOT, "pyexamples", "gpt.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def workloads(quick):
    """(name, make) per row; make() -> (kind, model, inputs): kind "inference" times model(*inputs)
    under no_grad in eval mode, "train" a step (forward, loss, backward, SGD) on the inputs (x, target)."""
    import torchvision

    side = 64 if quick else 224
    rows = []
    for name in ("resnet18", "mobilenet_v2", "efficientnet_b0"):
        rows.append((f"{name} (1x3x{side}x{side})",
                     lambda name=name: ("inference", getattr(torchvision.models, name)().eval(), (torch.randn(1, 3, side, side),))))
    d, heads, ff, b, t = (64, 4, 128, 2, 16) if quick else (512, 8, 2048, 8, 128)
    rows.append((f"TransformerEncoderLayer({d}, {heads}, {ff}) ({b}x{t})",
                 lambda: ("inference", torch.nn.TransformerEncoderLayer(d, heads, ff, batch_first=True).eval(), (torch.randn(b, t, d),))))
    gpt = gpt_module()
    sizes = [("small", 1, 16)] if quick else [("medium", 4, 128), ("small", 1, 16)]
    for size, b, t in sizes:
        def make(size=size, b=b, t=t):
            model = getattr(gpt.GPT, size)().eval()
            return "inference", model, (torch.randint(0, model.config.vocab_size, (b, t)),)
        c = getattr(gpt.GPT, size)().config
        rows.append((f"GPT {c.n_layer}x{c.n_embd} ({b}x{t} tokens)", make))
    # a new batch size and length on every call (automatic dynamic shapes: one graph for all of them once
    # a size changed, batch 1 included): time per sweep of 32 calls
    batches, lengths = (4, 16) if quick else (16, 64)

    def sweep():
        model = gpt.GPT.small().eval()
        generator = torch.Generator().manual_seed(1)
        sizes = [(int(torch.randint(1, batches + 1, (1,), generator=generator)), int(torch.randint(8, lengths + 1, (1,), generator=generator)))
                 for _ in range(32)]
        return "sweep", model, ([torch.randint(0, model.config.vocab_size, size, generator=generator) for size in sizes],)
    rows.append((f"GPT 2x32, varying lengths (batch 1-{batches} x 8-{lengths} tokens, new sizes every call; per 32 calls)", sweep))
    n, side = (2, 32) if quick else (8, 64)
    rows.append((f"resnet18 training step ({n}x3x{side}x{side})",
                 lambda: ("train", torchvision.models.resnet18(num_classes=10).train(), (torch.randn(n, 3, side, side), torch.randint(0, 10, (n,))))))
    b, t = (2, 16) if quick else (4, 64)

    def gpt_train():
        model = gpt.GPT.small().train()
        v = model.config.vocab_size
        return "train", model, (torch.randint(0, v, (b, t)), torch.randint(0, v, (b, t)))
    rows.append((f"GPT 2x32 training step ({b}x{t} tokens)", gpt_train))
    return rows


class Step:
    """One training step of `model` through `run` (the model itself or its compiled form), SGD."""

    def __init__(self, model, run):
        self.model, self.run = model, run
        self.opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        self.gpt = hasattr(model, "config")

    def __call__(self, x, target):
        self.opt.zero_grad()
        loss = self.run(x, target)[1] if self.gpt else F.cross_entropy(self.run(x), target)
        loss.backward()
        self.opt.step()
        return loss.detach()


def close(a, b, tolerance):
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(close(x, y, tolerance) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    return torch.allclose(a, b, rtol=tolerance, atol=tolerance)


def wrap(system, model, inputs, kind):
    """The callable to time for `system`, or a str saying why there is none."""
    import capture

    if system == "torchscript":
        if kind == "train":
            return "TorchScript frozen is for inference"
        try:
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
        except Exception as e:  # noqa: BLE001 - a model TorchScript cannot compile gets no row
            first = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
            return f"torch.jit.script failed: {type(e).__name__}: {first[:100]}"
    return capture.compile(model, backend=system)


def warm_up(fn, args):
    """Calls fn(*args) until WARMUP_S passed or WARMUP_CALLS were made (at least 3 calls); the median
    of the last calls' times (s), to size the timed blocks."""
    start, calls, last = time.perf_counter(), 0, []
    while calls < 3 or (calls < WARMUP_CALLS and time.perf_counter() - start < WARMUP_S):
        began = time.perf_counter()
        fn(*args)
        last = (last + [time.perf_counter() - began])[-20:]
        calls += 1
    return max(statistics.median(last), 1e-6)


def time_turns(callables, args, repeat, timed_s=TIMED_S):
    """Median and IQR (ms) per callable, timed in ROUNDS turns of blocks of calls, each warmed up first;
    each callable's blocks add up to `repeat` calls or `timed_s`, whichever is more (MAX_CALLS at most)."""
    from bench import wait_until_idle

    per_block = []
    for fn in callables:
        per_block.append(max(1, repeat // ROUNDS, min(MAX_CALLS, int(timed_s / warm_up(fn, args))) // ROUNDS))
    wait_until_idle()
    times = [[] for _ in callables]
    for _ in range(ROUNDS):
        for fn, samples, calls in zip(callables, times, per_block):
            time.sleep(SETTLE_S)
            fn(*args)  # untimed
            for _ in range(calls):
                start = time.perf_counter()
                fn(*args)
                samples.append(time.perf_counter() - start)
    out = []
    for samples in times:
        q = statistics.quantiles(samples, n=4) if len(samples) >= 2 else [samples[0]] * 3
        out.append((statistics.median(samples) * 1e3, (q[2] - q[0]) * 1e3))
    return out


def worker(system, quick, only, threads):
    torch.set_num_threads(threads)
    repeat, timed_s = (8, 0.2) if quick else (24, TIMED_S)
    rows = []
    for name, make in workloads(quick):
        if only and only not in name:
            continue
        # each row on its own: what earlier rows compiled is forgotten (both GPT rows run GPT.forward, and
        # the second, other sizes on the same code, would otherwise compile with dynamic sizes, as a
        # real second model of another size does: the varying-lengths row measures that case)
        import capture
        capture.reset()
        torch.manual_seed(0)
        kind, model, inputs = make()
        row = {"workload": name, "system": LABELS[system], "kind": kind}
        rows.append(row)
        try:
            if kind == "sweep":
                # one call per input of the list: the model and its compiled form each run the whole sweep
                with torch.no_grad():
                    xs = inputs[0]
                    expected = [model(x)[0] for x in xs]
                    start = time.perf_counter()
                    compiled = wrap(system, model, (xs[0],), "inference")
                    if isinstance(compiled, str):
                        row["error"] = compiled
                        continue
                    actual = [compiled(x)[0] for x in xs]
                    row["first_call_ms"] = (time.perf_counter() - start) * 1e3
                    row["matches_eager"] = close(actual, expected, 1e-3)
                    def run_eager(xs):
                        return [model(x) for x in xs]
                    def run_compiled(xs):
                        return [compiled(x) for x in xs]
                    run_compiled(xs)
                    (e, ei), (s, si) = time_turns([run_eager, run_compiled], inputs, repeat, timed_s)
            elif kind == "inference":
                with torch.no_grad():
                    expected = model(*inputs)
                    start = time.perf_counter()
                    compiled = wrap(system, model, inputs, kind)
                    if isinstance(compiled, str):
                        row["error"] = compiled
                        continue
                    actual = compiled(*inputs)
                    row["first_call_ms"] = (time.perf_counter() - start) * 1e3
                    row["matches_eager"] = close(actual, expected, 1e-3)
                    (e, ei), (s, si) = time_turns([model, compiled], inputs, repeat, timed_s)
                    if system != "torchscript":
                        import capture
                        report = capture.explain(model, *inputs, backend=system)
                        row["graphs"], row["breaks"] = report.graph_count, report.graph_break_count
            else:
                reference = copy.deepcopy(model)
                compiled = wrap(system, model, inputs, kind)
                if isinstance(compiled, str):
                    row["error"] = compiled
                    continue
                eager_step, step = Step(reference, reference), Step(model, compiled)
                start = time.perf_counter()
                loss = step(*inputs)
                row["first_call_ms"] = (time.perf_counter() - start) * 1e3
                expected = eager_step(*inputs)
                # the loss, each gradient (a step at lr=1e-3 hides a wrong one in the parameters) and the parameters
                row["matches_eager"] = close(loss, expected, 1e-4) and all(
                    close(p.grad, q.grad, 1e-3) and close(p, q, 1e-4) for p, q in zip(model.parameters(), reference.parameters()))
                step(*inputs)
                (e, ei), (s, si) = time_turns([eager_step, step], inputs, repeat, timed_s)
        except Exception as e:  # noqa: BLE001 - reported in the row
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
            continue
        row.update(eager_median_ms=e, eager_iqr_ms=ei, median_ms=s, iqr_ms=si, ratio_vs_eager=e / s,
                   ratio_low=(e - ei / 2) / (s + si / 2), ratio_high=(e + ei / 2) / max(s - si / 2, 1e-9))
        print(f"{name:45} {LABELS[system]:20} eager {e:9.2f} ms  {s:9.2f} ms  x{e / s:5.2f}"
              f"{'' if row['matches_eager'] else '  DIFFERS FROM EAGER'}", file=sys.stderr, flush=True)
    return rows


def plot(rows, path, environment):
    """The chart (bench/chart.py): ratios against eager per model and system with IQR error bars, and each first call."""
    import chart

    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    by = {(r["workload"], r["system"]): r for r in rows if "ratio_vs_eager" in r}
    chart.plot(path, f"Whole models ({environment['machine']}, torch {environment['torch']}, {environment['torch threads']} threads; "
               "one process per system: its first call pays the compiler's start-up)",
               workloads, [LABELS[s] for s in SYSTEMS], lambda w, s: by.get((w, s)),
               lambda w, s: (by[(w, s)]["eager_median_ms"], by[(w, s)]["eager_iqr_ms"]) if (w, s) in by else None)


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def write(rows, out, environment):
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump({"environment": environment, "results": rows}, f, indent=2)
    with open(os.path.join(out, "models.md"), "w") as f:
        f.write("# Whole models\n\n")
        f.write("".join(f"- {k}: {v}\n" for k, v in environment.items()))
        f.write(f"\nOne process per system; in each, eager PyTorch and the system timed in turns ({ROUNDS} rounds; each timed for "
                f"{TIMED_S:g} s or 24 calls a row, whichever is more). Median ms (IQR); "
                "ratio = eager median / system median in that process (above 1: faster than eager). Inference "
                "rows run under torch.no_grad() in eval mode; training rows time forward, loss, backward and an SGD step.\n\n")
        f.write("| model | system | eager ms | system ms | vs eager | graphs / breaks | first call ms | matches eager |\n"
                "|---|---|---:|---:|---:|---|---:|---|\n")
        for r in rows:
            if "error" in r:
                f.write(f"| {r['workload']} | {r['system']} | | | n/a | | | {r['error']} |\n")
                continue
            graphs = f"{r['graphs']} / {r['breaks']}" if "graphs" in r else ""
            f.write(f"| {r['workload']} | {r['system']} | {r['eager_median_ms']:.2f} ({r['eager_iqr_ms']:.2f}) | "
                    f"{r['median_ms']:.2f} ({r['iqr_ms']:.2f}) | {r['ratio_vs_eager']:.2f}x | {graphs} | "
                    f"{r['first_call_ms']:.0f} | {'yes' if r['matches_eager'] else 'NO'} |\n")
        f.write("\nGeometric mean of the ratios: " + ", ".join(
            f"{LABELS[s]} {geometric_mean([r['ratio_vs_eager'] for r in rows if r['system'] == LABELS[s] and 'ratio_vs_eager' in r]):.2f}x"
            + f" over {sum(1 for r in rows if r['system'] == LABELS[s] and 'ratio_vs_eager' in r)} rows" for s in SYSTEMS) + ".\n")
    plot(rows, os.path.join(out, "models.png"), environment)


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (this VM has been an Intel Xeon and an AMD EPYC: timings differ)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")
    except OSError:
        return "unknown CPU"


def main(argv):
    parser = argparse.ArgumentParser(prog="capture bench --models", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs (smoke test)")
    parser.add_argument("--out", help="folder for models.md, models.json and models.png")
    parser.add_argument("--only", help="run only the models whose name contains this text")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for torch")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        rows = worker(options.worker, options.quick, options.only, options.threads)
        with open(options.json, "w") as f:
            json.dump(rows, f)
        return 0

    out = options.out or (os.path.join(ROOT, ".build", "bench-quick") if options.quick else os.path.join(ROOT, "bench"))
    os.makedirs(out, exist_ok=True)
    environment = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores ({cpu_model()})",
        "torch": torch.__version__,
        "torch threads": options.threads,
    }
    rows = []
    for system in SYSTEMS:
        path = os.path.join(out, f".models-{system}.json")
        command = [os.path.join(ROOT, "capture"), "run", os.path.abspath(__file__), "--worker", system, "--json", path,
                   "--threads", str(options.threads)] + (["--quick"] if options.quick else []) + (["--only", options.only] if options.only else [])
        print(f"{LABELS[system]}: one process", file=sys.stderr, flush=True)
        done = subprocess.run(command, stdout=sys.stderr)
        if done.returncode != 0 or not os.path.exists(path):
            rows.append({"workload": "(all)", "system": LABELS[system], "error": f"worker exited with {done.returncode}"})
            continue
        with open(path) as f:
            rows.extend(json.load(f))
        os.remove(path)
    order = {name: i for i, (name, _) in enumerate(workloads(options.quick))}
    rows.sort(key=lambda r: (order.get(r["workload"], -1), SYSTEMS.index(next(s for s in SYSTEMS if LABELS[s] == r["system"]))))
    write(rows, out, environment)
    print(f"wrote {os.path.join(out, 'models.md')}, models.json and models.png")
    failed = any(r.get("matches_eager") is False for r in rows) or any(r["system"] != LABELS["torchscript"] and "error" in r for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
