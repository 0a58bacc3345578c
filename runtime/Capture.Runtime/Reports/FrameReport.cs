using Capture.Runtime.Backends;
using Capture.Runtime.Compile;
using Capture.Runtime.Dispatch;

namespace Capture.Runtime.Reports;


/// <summary>How a source line of a compiled frame ran.</summary>
public enum LineMark { None, Captured, GraphBreak, Eager, Refused }

/// <summary>One line of a frame's source listing, with how it ran and why.</summary>
public sealed record ListingLine(int Number, string Text, LineMark Mark, IReadOnlyList<string> Notes);

/// <summary>A guard of one graph, grouped by the value it reads (L['self'] holds L['self'].fc.weight), with the lines behind it.</summary>
public sealed record GuardEntry(string Group, string Kind, string Text, IReadOnlyList<GuardUse> Uses);

/// <summary>Why a capture ended early, or failed, at a line.</summary>
public sealed record BreakEntry(string Kind, string Reason, string? File, int? Line, IReadOnlyList<string> UserStack);

/// <summary>One graph of a frame: the capture event and what reports show of it.</summary>
public sealed record GraphEntry(int Number, CaptureEvent.Captured Event)
{
    public Graph Graph => Event.Capture.Graph;

    public int OpCount => Graph.Nodes.Count(n => n is CallOp or CallModule or Cond or WhileLoop);

    public string Entry => LiveLog.EntryText(Event);

    /// <summary>What the backend's compile pipeline did with the graph (null for a discarded capture).</summary>
    public CompileTrace? Trace => Event.Compiled?.Trace;

    /// <summary>The optimized graph and its fusion groups, when the backend optimized it (roslyn, llvm).</summary>
    public OptimizedGraph? Optimized => Trace?.Main.Optimized;

    public IReadOnlyList<GuardEntry> Guards { get; } = Event.Capture.Guards.Guards
        .Select(g => new GuardEntry(FrameReport.GroupOf(g), g.Kind, g.ToString()!, Event.Capture.Guards.UsesOf(g)))
        .OrderBy(g => g.Group == FrameReport.GlobalGroup ? 1 : 0).ThenBy(g => g.Group, StringComparer.Ordinal)
        .ToList();

    /// <summary>
    /// The guards as reports show them: one line per value, so that guards of the same kind on the items
    /// of one list (a list of 721 names from dir(), read after a break) are one line, with their count.
    /// </summary>
    public IReadOnlyList<GuardLine> GuardLines => GuardLine.Collapse(Event.Capture.Guards.Guards
        .OrderBy(g => FrameReport.GroupOf(g) == FrameReport.GlobalGroup ? 1 : 0).ThenBy(FrameReport.GroupOf, StringComparer.Ordinal)
        .ToList(), Event.Capture.Guards);
}

/// <summary>One line of a graph's guards in a report: one guard, or a run of guards of one kind on consecutive items of one value.</summary>
public sealed record GuardLine(string Group, string Kind, string Text, IReadOnlyList<GuardUse> Uses, int Count)
{
    private const int Shown = 3;

    public static IReadOnlyList<GuardLine> Collapse(IReadOnlyList<Guard> guards, GuardSet set)
    {
        var lines = new List<GuardLine>();
        for (var i = 0; i < guards.Count;)
        {
            var end = i + 1;
            if (guards[i].Subject is ItemSource first)
                while (end < guards.Count && guards[end].Subject is ItemSource next && next.Base.Equals(first.Base)
                       && next.Index == first.Index + (end - i) && guards[end].Kind == guards[i].Kind)
                    end++;
            if (end - i < 3)
            {
                for (; i < end; i++) lines.Add(new GuardLine(FrameReport.GroupOf(guards[i]), guards[i].Kind, guards[i].ToString()!, set.UsesOf(guards[i]), 1));
                continue;
            }
            var run = guards.Skip(i).Take(end - i).ToList();
            var (lo, hi) = (((ItemSource)run[0].Subject!).Index, ((ItemSource)run[^1].Subject!).Index);
            var range = $"{((ItemSource)run[0].Subject!).Base}[{lo}..{hi}]";
            // "X == V" for each item: one list of the values, the middle ones left out
            var values = run.Select(g => (g.ToString()!, g.Subject!.ToString()!)).Select(p => p.Item1.StartsWith(p.Item2 + " == ", StringComparison.Ordinal) ? p.Item1[(p.Item2.Length + 4)..] : null).ToList();
            var text = values.All(v => v is not null)
                ? $"{range} == [{string.Join(", ", values.Take(Shown))}, ..., {values[^1]}]"
                : $"{run[0]} ... {run[^1]}";
            var uses = run.SelectMany(g => set.UsesOf(g).Select(u => u with { Why = u.Why.Replace(g.Subject!.ToString()!, range) })).Distinct().ToList();
            lines.Add(new GuardLine(FrameReport.GroupOf(run[0]), run[0].Kind, text, uses, run.Count));
            i = end;
        }
        return lines;
    }
}

/// <summary>
/// Everything reports say about one compiled frame (a function's code object, on one backend and
/// capture path): the annotated source, its graphs with their guards, the breaks, the recompiles,
/// and why parts of it ran eagerly. Built from capture events; rendered as text and HTML.
/// </summary>
public sealed class FrameReport
{
    public const string GlobalGroup = "torch global state";

    public required string Name { get; init; }
    public required string File { get; init; }
    public required int FirstLine { get; init; }
    public required string Backend { get; init; }
    public required CaptureMode Mode { get; init; }

    /// <summary>"compiled" (calls of a compiled function) or "explain" (one explain or compare call).</summary>
    public required string Purpose { get; init; }
    public required IReadOnlyList<ListingLine> Listing { get; init; }
    public required IReadOnlyList<GraphEntry> Graphs { get; init; }
    public required IReadOnlyList<BreakEntry> Breaks { get; init; }

    /// <summary>Each recompile: the graph it made and the guard of an earlier graph that failed.</summary>
    public required IReadOnlyList<(int Graph, string Reason)> Recompiles { get; init; }
    public required IReadOnlyList<string> EagerReasons { get; init; }
    public required IReadOnlyList<Capture.Frontend.Diagnostic> Diagnostics { get; init; }

    public string ModeName => Mode == CaptureMode.Ast ? "ast" : "bytecode";

    /// <summary>The frames of these events, in the order each was first seen.</summary>
    /// <summary>
    /// The frames of these events, in the order each was first seen. Explain and compare calls that
    /// captured a frame exactly as an earlier one did (same graphs, breaks and diagnostics) are shown once.
    /// </summary>
    public static IReadOnlyList<FrameReport> Build(IEnumerable<CaptureEvent> events) =>
        events.Where(e => e.Code is not null)
            .GroupBy(e => (e.Code!.FileName, e.Code.FirstLine, e.Code.Name, e.Runner))
            .Select(g => Build(g.ToList()))
            .DistinctBy(f => f.Purpose == "compiled" ? f : (object)f.Signature)
            .ToList();

    /// <summary>What the frame captured, for telling repeated explain calls apart.</summary>
    private string Signature => string.Join("\n", new[] { File, FirstLine.ToString(), Name, ModeName, Backend }
        .Concat(Graphs.Select(g => CodePrinter.Print(g.Graph)))
        .Concat(Breaks.Select(b => $"{b.Reason}@{b.Line}"))
        .Concat(Diagnostics.Select(d => d.ToString()))
        .Concat(EagerReasons));

    private static FrameReport Build(List<CaptureEvent> events)
    {
        var code = events[0].Code!;
        var captures = events.OfType<CaptureEvent.Captured>().ToList();
        var graphs = captures.Where(c => !c.Discarded).Select((c, i) => new GraphEntry(i + 1, c)).ToList();
        var breaks = captures.Select(c => c.Capture.Exit).OfType<ExitPlan.Break>()
            .Select(b => new BreakEntry("graph break", b.Cause.Reason, b.Cause.Location?.File, b.Cause.Location?.Line, b.Cause.UserStack))
            .Concat(events.OfType<CaptureEvent.CaptureFailed>().Select(f =>
                new BreakEntry("capture failed", f.Reason, f.Instruction.Location?.File, f.Instruction.Location?.Line, [])))
            .DistinctBy(b => (b.Kind, b.Reason, b.Line))
            .ToList();
        var diagnostics = events.OfType<CaptureEvent.AstRefused>().SelectMany(r => r.Diagnostics).DistinctBy(d => d.ToString()).ToList();
        return new FrameReport
        {
            Name = code.Name,
            File = code.FileName,
            FirstLine = code.FirstLine,
            Backend = events[0].Backend,
            Mode = events[0].Mode,
            Purpose = events[0].Purpose,
            Graphs = graphs,
            Breaks = breaks,
            Recompiles = graphs.Where(g => g.Event.RecompileReason is not null).Select(g => (g.Number, g.Event.RecompileReason!)).ToList(),
            EagerReasons = events.OfType<CaptureEvent.RanEagerly>().Select(r => r.Reason).Distinct().ToList(),
            Diagnostics = diagnostics,
            Listing = SourceListing.Annotate(code, events, graphs, breaks, diagnostics),
        };
    }

    /// <summary>The value a guard reads, by its outermost source: L['self'].fc.weight is in L['self'].</summary>
    public static string GroupOf(Guard guard)
    {
        return guard.Subject is { } source ? Root(source).ToString()! : GlobalGroup;
    }

    private static Source Root(Source source) => source switch
    {
        AttrSource a => Root(a.Base), ItemSource i => Root(i.Base), KeySource k => Root(k.Base), _ => source,
    };
}
