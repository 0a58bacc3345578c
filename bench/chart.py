"""The benchmark charts (bench.py's results.png, models.py's models.png): per workload and system, the
speed against eager on a log axis with labelled ticks and error bars from the interquartile ranges,
and beside it the first call's time (capture and compile included), with the compilers' start-up."""

import math

STARTUP = "compiler start-up (first compile in a process)"


def ratio_bounds(row, eager):
    """The ratio eager/system and its range from the IQRs: (eager - IQR/2) / (system + IQR/2) up to
    (eager + IQR/2) / (system - IQR/2)."""
    e, ei = eager
    s, si = row["median_ms"], row["iqr_ms"]
    return e / s, (e - ei / 2) / (s + si / 2), (e + ei / 2) / max(s - si / 2, 1e-9)


def ticks_for(low, high, candidates):
    """The candidate ticks that cover [low, high], one step beyond each end."""
    below = [t for t in candidates if t <= low] or candidates[:1]
    above = [t for t in candidates if t >= high] or candidates[-1:]
    lo, hi = below[-1], above[0]
    return [t for t in candidates if lo <= t <= hi]


def plot(path, title, workloads, systems, row_of, eager_of, startup=None):
    """
    Writes the chart to `path` and returns what it drew (tick labels, bar and error-bar counts). row_of(workload, system) gives a result row (median_ms, iqr_ms,
    first_call_ms) or None; eager_of(workload, system) gives eager's (median_ms, iqr_ms) in the same process;
    startup maps a system to its compiler's start-up in ms (a row of its own in the first-call panel).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: render to the file
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    rows = list(workloads) + ([STARTUP] if startup else [])
    figure, (speed, first) = plt.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]},
                                          figsize=(14, 0.24 * len(rows) * max(2, len(systems)) + 2.4))
    height = 0.8 / max(1, len(systems))
    # every bar first: the axis covers the ratios and their error bars (a range past the axis is cut at its edge)
    bars = {system: [] for system in systems}
    for i, system in enumerate(systems):
        for y, w in enumerate(rows):
            row, eager = (None, None) if w == STARTUP else (row_of(w, system), eager_of(w, system))
            ratio = ratio_bounds(row, eager) if row is not None and eager is not None and "median_ms" in row else None
            first_ms = startup.get(system) if w == STARTUP else (row or {}).get("first_call_ms") if ratio else None
            bars[system].append((y + i * height, ratio, first_ms))
    ratios = [b[1] for system in systems for b in bars[system] if b[1]]
    ticks = ticks_for(min([r[0] for r in ratios] + [0.5]) / 1.5, max([r[0] for r in ratios] + [2.0]) * 1.5,
                      [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000])
    firsts = []
    for i, system in enumerate(systems):
        colour = f"C{i}"
        drawn = [(y, r) for y, r, _ in bars[system] if r]
        ys = [y for y, _ in drawn]
        values = [r[0] for _, r in drawn]
        # a bar or a range past the axis is cut at its edge (an error bar never goes negative)
        err_low = [max(0.0, r[0] - max(r[1], ticks[0])) for _, r in drawn]
        err_high = [max(0.0, min(r[2], ticks[-1]) - r[0]) for _, r in drawn]
        speed.barh(ys, values, height=height, xerr=[err_low, err_high], capsize=2, color=colour, label=system,
                   error_kw={"elinewidth": 0.8, "ecolor": "#333333"})
        timed = [(y, f) for y, _, f in bars[system] if f]
        first.barh([y for y, _ in timed], [f for _, f in timed], height=height, color=colour)
        for y, v in timed:
            first.text(v, y, f" {v:,.0f}" if v >= 10 else f" {v:.1f}", va="center", fontsize=6)
        firsts.extend(f for _, f in timed)

    speed.set_yticks([y + height * (len(systems) - 1) / 2 for y in range(len(rows))], rows, fontsize=8)
    speed.invert_yaxis()
    speed.set_xscale("log")
    speed.xaxis.set_major_locator(FixedLocator(ticks))
    speed.xaxis.set_minor_locator(NullLocator())
    speed.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    speed.set_xlim(ticks[0], ticks[-1])
    speed.grid(axis="x", color="#dddddd", linewidth=0.6)
    speed.set_axisbelow(True)
    speed.axvline(1.0, color="black", linewidth=0.9)
    speed.set_xlabel("speed vs eager PyTorch, same process (eager median / system median; right of 1x: faster)\n"
                     "error bars: the ratio's range from both interquartile ranges", fontsize=8)
    speed.legend(fontsize=8, loc="lower right")

    first.set_xscale("log")
    if firsts:
        decades = range(math.floor(math.log10(min(firsts))), math.ceil(math.log10(max(firsts) * 3)) + 1)
        first.xaxis.set_major_locator(FixedLocator([10.0 ** d for d in decades]))
        first.xaxis.set_minor_locator(NullLocator())
        first.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} ms" if v < 1000 else f"{v / 1000:g} s"))
        first.set_xlim(10.0 ** decades[0], 10.0 ** decades[-1])
    first.grid(axis="x", color="#dddddd", linewidth=0.6)
    first.set_axisbelow(True)
    first.set_xlabel("first call: capture, compile and run\n" + ("(start-up: once per process, before any first call)" if startup
                     else "(a process's first call includes the compiler's start-up)"), fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.98))
    figure.savefig(path, dpi=100)
    drawn = {
        "ratio_ticks": [label.get_text() for label in speed.get_xticklabels()],
        "first_call_ticks": [label.get_text() for label in first.get_xticklabels()],
        "ratio_bars": len(speed.patches),
        "error_bars": sum(len(c.lines[2][0].get_segments()) for c in speed.containers if getattr(c, "lines", None)),
        "first_call_bars": len(first.patches),
    }
    plt.close(figure)
    return drawn
