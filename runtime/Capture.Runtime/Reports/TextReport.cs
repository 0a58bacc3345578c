using System.Text;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Reports;

/// <summary>How a piece of report text is shown: colour in a terminal, nothing in plain text.</summary>
public enum TextStyle { Plain, Heading, Captured, Break, Eager, Refused, Dim, Code, Good, Bad }

/// <summary>Where <see cref="TextReport"/> writes: plain text, or a terminal with colour and tables.</summary>
public interface IReportWriter
{
    void Write(string text, TextStyle style = TextStyle.Plain);

    void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows);
}

/// <summary>
/// The terminal form of reports, per compiled frame: a summary table, the source listing with each
/// line marked captured / graph break / ran eagerly / refused, each graph as code with its compile
/// phases, code size and guards (grouped by the value they read, with the line behind each), the
/// breaks with their user stack, the recompiles with the guard that failed.
/// </summary>
public static class TextReport
{
    public static void Render(IReadOnlyList<FrameReport> frames, IReportWriter w)
    {
        if (frames.Count == 0) w.Write("No frame was captured.\n", TextStyle.Dim);
        var seen = new HashSet<(string, string)>();
        foreach (var frame in frames) Render(frame, w, seen);
    }

    /// <summary>The report as plain text: everything (verbose), or the summary (capture.explain's str()).</summary>
    public static string Plain(IReadOnlyList<FrameReport> frames, bool verbose = true)
    {
        var writer = new PlainWriter();
        if (verbose) Render(frames, writer);
        else Summary(frames, writer);
        return writer.ToString();
    }

    /// <summary>
    /// What explain shows by default, per frame: the counts, the breaks grouped by reason with how to
    /// avoid each, the recompiles with their reasons, what ran eagerly, the guards counted by kind and
    /// the compile time by phase. The annotated source, the graphs and every guard are in the verbose form.
    /// </summary>
    public static void Summary(IReadOnlyList<FrameReport> frames, IReportWriter w)
    {
        if (frames.Count == 0) w.Write("No frame was captured.\n", TextStyle.Dim);
        var seen = new HashSet<(string, string)>();
        foreach (var frame in frames)
        {
            w.Write($"== {frame.Name} ({Path.GetFileName(frame.File)}:{frame.FirstLine}) — {frame.ModeName} path, {frame.Backend} backend{(frame.Purpose == "compiled" ? "" : $", {frame.Purpose}")} ==\n", TextStyle.Heading);
            w.Table(["graphs", "ops", "graph breaks", "guards", "recompiles", "capture + compile"], [[
                GraphsCell(frame), frame.Graphs.Sum(g => g.OpCount).ToString(), BreaksCell(frame, seen),
                frame.Graphs.Sum(g => g.Guards.Count).ToString(), frame.Recompiles.Count.ToString(), $"{frame.Graphs.Sum(g => TotalMs(g)):0.0} ms",
            ]]);
            if (frame.Breaks.Count > 0)
            {
                w.Write("Graph breaks, by reason:\n", TextStyle.Heading);
                foreach (var group in frame.Breaks.GroupBy(b => b.Reason))
                {
                    var lines = string.Join(", ", group.Select(b => b.Line).Distinct().Select(l => $"{Path.GetFileName(group.First().File ?? "?")}:{l}"));
                    w.Write($"  {group.Count()}x {group.Key}", TextStyle.Break);
                    w.Write($"  ({lines})\n", TextStyle.Dim);
                    w.Write($"     to avoid it: {BreakHints.For(group.Key)}\n");
                }
            }
            foreach (var reason in frame.EagerReasons) w.Write($"Ran eagerly: {reason}\n", TextStyle.Eager);
            if (frame.Diagnostics.Count > 0)
                w.Write($"The AST path refused it: {frame.Diagnostics.Count} diagnostic(s), the first: {frame.Diagnostics[0].ToString()!.Split('\n')[0]}\n", TextStyle.Refused);
            if (frame.Recompiles.Count > 0)
            {
                w.Write("Recompiles:\n", TextStyle.Heading);
                foreach (var (graph, reason) in frame.Recompiles) w.Write($"  graph {graph}: {reason}\n", TextStyle.Break);
            }
            var kinds = frame.Graphs.SelectMany(g => g.Guards).GroupBy(g => g.Kind).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal);
            if (kinds.Any())
                w.Write($"Guards by kind: {string.Join(", ", kinds.Select(k => $"{k.Key} {k.Count()}"))}\n");
            var phases = frame.Graphs.SelectMany(g => (g.Trace?.Phases ?? []).Select(p => (p.Name, p.Time.TotalMilliseconds)))
                .Prepend(("capture", frame.Graphs.Sum(g => g.Event.CaptureTime.TotalMilliseconds)))
                .GroupBy(p => p.Item1).Select(p => $"{p.Key} {p.Sum(x => x.Item2):0.0} ms");
            if (frame.Graphs.Count > 0) w.Write($"Compile time by phase: {string.Join(", ", phases)}\n");
        }
        w.Write("Details (annotated source, each graph's code, every guard and why): capture.explain(..., verbose=True), or `capture explain --verbose`.\n", TextStyle.Dim);
    }

    // the counts explain's header gives: graphs that run ops (a segment that breaks at its start runs
    // none), and breaks once per place in the user's code (a helper's frame breaking where its caller
    // broke at the call is the same break)
    private static string GraphsCell(FrameReport frame)
    {
        var empty = frame.Graphs.Count(g => g.OpCount == 0);
        return $"{frame.Graphs.Count - empty}" + (empty > 0 ? $" (+{empty} without ops)" : "");
    }

    private static string BreaksCell(FrameReport frame, HashSet<(string, string)> seen)
    {
        var again = frame.Breaks.Count(b => !seen.Add((b.Reason, b.UserStack.Count > 0 ? b.UserStack[^1] : $"{b.File}:{b.Line}")));
        return $"{frame.Breaks.Count - again}" + (again > 0 ? $" (+{again} counted in an earlier frame)" : "");
    }

    public static void Render(FrameReport frame, IReportWriter w, HashSet<(string, string)>? seen = null)
    {
        w.Write($"== {frame.Name} ({Path.GetFileName(frame.File)}:{frame.FirstLine}) — {frame.ModeName} path, {frame.Backend} backend{(frame.Purpose == "compiled" ? "" : $", {frame.Purpose}")} ==\n", TextStyle.Heading);
        w.Table(["graphs", "ops", "graph breaks", "guards", "recompiles", "capture + compile"], [[
            GraphsCell(frame), string.Join(" + ", frame.Graphs.Select(g => g.OpCount)) is { Length: > 0 } ops ? ops : "0",
            BreaksCell(frame, seen ?? []), string.Join(" + ", frame.Graphs.Select(g => g.Guards.Count)) is { Length: > 0 } guards ? guards : "0",
            frame.Recompiles.Count.ToString(), $"{frame.Graphs.Sum(g => TotalMs(g)):0.0} ms",
        ]]);
        Listing(frame, w);
        foreach (var reason in frame.EagerReasons) w.Write($"Ran eagerly: {reason}\n", TextStyle.Eager);
        if (frame.Diagnostics.Count > 0)
        {
            w.Write("The AST path refused it:\n", TextStyle.Refused);
            foreach (var d in frame.Diagnostics) w.Write(Indent(d.ToString(), "  ") + "\n");
        }
        if (frame.Breaks.Count > 0)
        {
            w.Write("Graph breaks:\n", TextStyle.Heading);
            foreach (var (b, i) in frame.Breaks.Select((b, i) => (b, i + 1)))
            {
                w.Write($"  {i}. {b.Reason}\n", TextStyle.Break);
                w.Write($"     {b.Kind} at {b.File}:{b.Line}\n", TextStyle.Dim);
                w.Write($"     to avoid it: {BreakHints.For(b.Reason)}\n");
                if (b.UserStack.Count > 1) foreach (var s in b.UserStack) w.Write($"       in {s}\n", TextStyle.Dim);
            }
        }
        foreach (var graph in frame.Graphs) Graph(graph, w);
        if (frame.Recompiles.Count > 0)
        {
            w.Write("Recompiles:\n", TextStyle.Heading);
            foreach (var (graph, reason) in frame.Recompiles) w.Write($"  graph {graph}: {reason}\n", TextStyle.Break);
        }
        w.Write("\n");
    }

    private static void Listing(FrameReport frame, IReportWriter w)
    {
        if (frame.Listing.Count == 0)
        {
            w.Write($"(source of {frame.File} is not available)\n", TextStyle.Dim);
            return;
        }
        w.Write("Source:\n", TextStyle.Heading);
        var width = frame.Listing[^1].Number.ToString().Length;
        foreach (var line in frame.Listing)
        {
            var (label, style) = MarkText(line.Mark);
            w.Write($"  {line.Number.ToString().PadLeft(width)} {label,-8} ", style == TextStyle.Plain ? TextStyle.Dim : style);
            w.Write(line.Text + "\n", line.Mark == LineMark.None ? TextStyle.Dim : TextStyle.Code);
            foreach (var note in line.Notes) w.Write($"  {new string(' ', width)}          · {note}\n", TextStyle.Dim);
        }
    }

    public static (string Label, TextStyle Style) MarkText(LineMark mark) => mark switch
    {
        LineMark.Captured => ("captured", TextStyle.Captured),
        LineMark.GraphBreak => ("break", TextStyle.Break),
        LineMark.Eager => ("eager", TextStyle.Eager),
        LineMark.Refused => ("refused", TextStyle.Refused),
        _ => ("", TextStyle.Plain),
    };

    private static void Graph(GraphEntry graph, IReportWriter w)
    {
        var phases = string.Concat((graph.Trace?.Phases ?? []).Select(p => $", {p}"));
        w.Write($"Graph {graph.Number} (from {graph.Entry}, {graph.OpCount} ops; capture {graph.Event.CaptureTime.TotalMilliseconds:0.0} ms{phases}{CodeSize(graph)}):\n", TextStyle.Heading);
        if (graph.Event.RecompileReason is { } reason) w.Write($"  recompiled because {reason}\n", TextStyle.Break);
        w.Write(Indent(CodePrinter.Print(graph.Graph).TrimEnd('\n'), "  ") + "\n", TextStyle.Code);
        w.Write($"  Guards ({graph.Guards.Count}):\n", TextStyle.Heading);
        foreach (var group in graph.GuardLines.GroupBy(g => g.Group))
        {
            w.Write($"    {group.Key}\n");
            foreach (var guard in group)
            {
                w.Write($"      {guard.Text}", TextStyle.Code);
                w.Write(guard.Count > 1 ? $"  [{guard.Count} guards: {guard.Kind}]\n" : $"  [{guard.Kind}]\n", TextStyle.Dim);
                foreach (var use in guard.Uses)
                    w.Write(use.At is null ? $"        for the whole graph: {use.Why}\n" : $"        guarded because line {use.At.Line} {use.Why}\n", TextStyle.Dim);
            }
        }
        Autograd(graph, w);
    }

    /// <summary>The forward/backward split, when the graph has one: saved values, then both graphs.</summary>
    private static void Autograd(GraphEntry graph, IReportWriter w)
    {
        if (graph.Trace is not { } trace || trace.Split is null && trace.NoSplitReason is null && trace.Main.Pieces.Count == 0) return;
        w.Write($"  Autograd: {AutogradSummary.Status(trace)}\n", TextStyle.Heading);
        if (trace.Split?.Partition is not { } partition) return;
        w.Write($"    saved for backward: {string.Join(", ", AutogradSummary.Saved(partition))}\n", TextStyle.Dim);
        w.Write("    forward graph:\n", TextStyle.Heading);
        w.Write(Indent(CodePrinter.Print(partition.Forward).TrimEnd('\n'), "      ") + "\n", TextStyle.Code);
        w.Write("    backward graph:\n", TextStyle.Heading);
        w.Write(Indent(CodePrinter.Print(partition.Backward).TrimEnd('\n'), "      ") + "\n", TextStyle.Code);
    }

    /// <summary>", generated C# 120 lines (4 kernels)" for backends that generate code.</summary>
    public static string CodeSize(GraphEntry graph) => graph.Trace switch
    {
        _ when graph.Trace?.AllParts.FirstOrDefault(p => p.NodeByNode is not null) is { NodeByNode: { } why } => $"; no kernels: {why}",
        { Source: { } source, Language: var language } => $"; generated {language} {source.Split('\n').Length} lines, {graph.Trace.KernelCount} kernels",
        _ => "",
    };

    public static double TotalMs(GraphEntry graph) =>
        graph.Event.CaptureTime.TotalMilliseconds + (graph.Trace?.Phases ?? []).Sum(p => p.Time.TotalMilliseconds);

    private static string Indent(string text, string prefix) => string.Join("\n", text.Split('\n').Select(l => prefix + l));

    /// <summary>Plain text: styles dropped, tables as aligned columns.</summary>
    public sealed class PlainWriter : IReportWriter
    {
        private readonly StringBuilder _text = new();

        public void Write(string text, TextStyle style = TextStyle.Plain) => _text.Append(text);

        public void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
        {
            var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToList();
            _text.Append("  " + string.Join("  ", headers.Select((h, i) => h.PadRight(widths[i]))).TrimEnd() + "\n");
            foreach (var row in rows) _text.Append("  " + string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd() + "\n");
        }

        public override string ToString() => _text.ToString();
    }
}
