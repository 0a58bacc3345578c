"""`./capture soak [--calls N] [--backend B] [--every K]`: a long run that must stay flat.

Calls compiled functions N times (1,000,000 by default), mixing what real programs do: inputs of
several shapes (recompiles up to the limit, then the functions run as plain Python), calls that raise
inside the compiled code (an index error, a shape error), calls that break the graph (print, .item()),
nn.Modules, and capture.reset() now and then. Every K calls it prints the process's resident memory and
the reference counts of the inputs, which must stay flat after warm-up: a leak shows as a number that
keeps growing. Exits 1 when a compiled result differs from eager's, or when memory or a refcount
grew between the second report and the last by more than the limits (--max-rss-growth MB)."""

import argparse
import io
import sys
import time
import contextlib

import torch
import capture


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def pointwise(x, y):
    return torch.sigmoid(x * 0.5 + y).relu() - torch.tanh(x)


def rows(x):
    return torch.softmax(x * 2, dim=-1).sum(dim=0)


def raises_index(x):
    y = x * 2
    return y[1000]


def raises_shape(x, y):
    return (x + 1) @ y


def breaks(x):
    y = x.sin()
    scale = float(y.sum().item())
    return y * scale


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(16, 16)
        self.act = torch.nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x)) + x


def same(compiled, eager, *args):
    """Compiled and eager give the same result, or raise the same exception type."""
    try:
        expected = eager(*args)
    except Exception as e:
        try:
            compiled(*args)
        except Exception as actual:
            return type(actual) is type(e)
        return False
    return torch.allclose(compiled(*args), expected, rtol=1e-4, atol=1e-5)


def main():
    parser = argparse.ArgumentParser(prog="capture soak", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--backend", default="roslyn")
    parser.add_argument("--every", type=int, default=100_000, help="calls between reports")
    parser.add_argument("--reset-every", type=int, default=50_000, help="calls between capture.reset()")
    parser.add_argument("--max-rss-growth", type=float, default=64.0, help="MB of growth allowed from the second report to the last")
    args = parser.parse_args()
    torch.manual_seed(0)

    block = Block().eval()
    compiled = {
        "pointwise": capture.compile(pointwise, backend=args.backend),
        "rows": capture.compile(rows, backend=args.backend),
        "raises_index": capture.compile(raises_index, backend=args.backend),
        "raises_shape": capture.compile(raises_shape, backend=args.backend),
        "breaks": capture.compile(breaks, backend=args.backend),
        "block": capture.compile(block, backend=args.backend),
    }
    shapes = [(8,), (16,), (4, 16), (32,)]
    inputs = [(torch.randn(*s), torch.randn(*s)) for s in shapes]
    block_input = torch.randn(4, 16)
    watched = [t for pair in inputs for t in pair] + [block_input]
    start = time.perf_counter()
    reports, mismatches = [], 0
    quiet = io.StringIO()
    for call in range(1, args.calls + 1):
        x, y = inputs[call % len(inputs)]
        kind = call % 10
        try:
            if kind < 4:
                ok = same(compiled["pointwise"], pointwise, x, y)
            elif kind < 6:
                ok = same(compiled["rows"], rows, x)
            elif kind == 6:
                ok = same(compiled["raises_index"], raises_index, x)
            elif kind == 7:
                ok = same(compiled["raises_shape"], raises_shape, x, y.reshape(-1, 1) if y.dim() == 2 else y)
            elif kind == 8:
                with contextlib.redirect_stdout(quiet):
                    ok = same(compiled["breaks"], breaks, x)
            else:
                with torch.no_grad():
                    ok = same(compiled["block"], block, block_input)
        except Exception as e:  # a failure of Capture's own
            print(f"call {call}: {type(e).__name__}: {e}", file=sys.stderr)
            ok = False
        mismatches += not ok
        if call % args.reset_every == 0:
            capture.reset()
        if call % args.every == 0 or call == args.calls:
            refs = max(sys.getrefcount(t) for t in watched)
            reports.append((call, rss_mb(), refs))
            print(f"{call:>9} calls  {time.perf_counter() - start:7.1f} s  rss {rss_mb():7.1f} MB  "
                  f"max input refcount {refs}  mismatches {mismatches}", flush=True)
    failed = mismatches > 0
    if len(reports) >= 3:
        _, rss_warm, refs_warm = reports[1]
        _, rss_end, refs_end = reports[-1]
        if rss_end - rss_warm > args.max_rss_growth:
            print(f"memory grew {rss_end - rss_warm:.1f} MB after warm-up (limit {args.max_rss_growth} MB)")
            failed = True
        if refs_end > refs_warm:
            print(f"input refcounts grew from {refs_warm} to {refs_end} after warm-up")
            failed = True
    print(f"soak {'FAILED' if failed else 'passed'}: {args.calls} calls on {args.backend}, {mismatches} mismatches")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
