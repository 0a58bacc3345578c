using Capture.Runtime.Dispatch;

namespace Capture.Runtime.Reports;

/// <summary>
/// CAPTURE_LOGS=graph,guards,breaks,recompiles,code,perf (a comma list, or all): each event printed
/// as it happens, one "[capture:kind]" block per item, to stderr.
/// </summary>
public sealed class LiveLog(IReadOnlySet<string> kinds, TextWriter writer)
{
    public static readonly IReadOnlyList<string> Kinds = ["graph", "guards", "breaks", "recompiles", "code", "perf"];

    public static LiveLog FromEnvironment(string? value, TextWriter writer)
    {
        var kinds = new HashSet<string>();
        foreach (var part in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kind = part.ToLowerInvariant();
            if (kind == "all") kinds.UnionWith(Kinds);
            else if (Kinds.Contains(kind)) kinds.Add(kind);
            else writer.WriteLine($"[capture] CAPTURE_LOGS: unknown kind '{part}' (one of {string.Join(", ", Kinds)}, or all)");
        }
        return new LiveLog(kinds, writer);
    }

    public bool Enabled(string kind) => kinds.Contains(kind);

    public void Write(CaptureEvent e)
    {
        if (kinds.Count == 0) return;
        var frame = FrameName(e);
        switch (e)
        {
            case CaptureEvent.Captured c:
                if (c.RecompileReason is { } reason) Log("recompiles", $"{frame}: recompiling because {reason}");
                if (c.Capture.Exit is ExitPlan.Break b) Log("breaks", $"{frame}: graph break: {b.Cause.Reason}{Where(b.Cause.Location)}{Stack(b.Cause.UserStack)}");
                if (c.Discarded) return;
                var ops = c.Capture.Graph.Nodes.Count(n => n is CallOp or CallModule or Cond or WhileLoop);
                Log("graph", $"{frame}: graph from {EntryText(c)} ({ops} ops, {c.Mode.ToString().ToLowerInvariant()} path, {c.Backend} backend)\n"
                    + Indent(CodePrinter.Print(c.Capture.Graph)));
                if (Enabled("guards"))
                    Log("guards", $"{frame}: {c.Capture.Guards.Guards.Count} guards\n" + Indent(string.Join("\n", c.Capture.Guards.Guards.Select(g =>
                        $"{g}  [{g.Kind}]" + string.Concat(c.Capture.Guards.UsesOf(g).Select(u => $"\n    because {u}"))))));
                if (c.Compiled?.Trace.Source is { Length: > 0 } source) Log("code", $"{frame}: generated {c.Backend} source ({source.Split('\n').Length} lines)\n" + Indent(source));
                Log("perf", $"{frame}: capture {c.CaptureTime.TotalMilliseconds:0.0} ms"
                    + string.Concat((c.Compiled?.Trace.Phases ?? []).Select(p => $", {p}")));
                break;
            case CaptureEvent.CaptureFailed f:
                Log("breaks", $"{frame}: capture failed, the instruction runs for real: {f.Reason}{Where(f.Instruction.Location)}");
                break;
            case CaptureEvent.RanEagerly r:
                Log("breaks", $"{frame}: runs eagerly: {r.Reason}");
                break;
            case CaptureEvent.AstRefused a:
                Log("breaks", $"{frame}: the AST path refused it:\n" + Indent(string.Join("\n", a.Diagnostics.Select(d => d.ToString()))));
                break;
        }
    }

    private void Log(string kind, string text)
    {
        if (!kinds.Contains(kind)) return;
        lock (writer) writer.WriteLine($"[capture:{kind}] {text}");
    }

    internal static string FrameName(CaptureEvent e) =>
        e.Code is { } code ? $"{code.Name} ({Path.GetFileName(code.FileName)}:{code.FirstLine})" : e switch
        {
            CaptureEvent.Captured c => c.Function, CaptureEvent.RanEagerly r => r.Function,
            CaptureEvent.AstRefused a => a.Function, CaptureEvent.CaptureFailed f => f.Function, _ => "?",
        };

    internal static string EntryText(CaptureEvent.Captured c) =>
        c.Capture.EntryIndex == 0 || c.Code is null ? "the start" : c.Code.Instructions[c.Capture.EntryIndex].Location is { } l ? $"line {l.Line} (after a break)" : $"instruction {c.Capture.EntryIndex}";

    private static string Where(SourceLocation? at) => at is null ? "" : $" at {Path.GetFileName(at.File)}:{at.Line}";

    private static string Stack(IReadOnlyList<string> stack) => stack.Count > 1 ? string.Concat(stack.Select(s => $"\n    in {s}")) : "";

    private static string Indent(string text) => string.Join("\n", text.TrimEnd('\n').Split('\n').Select(l => "  " + l));
}
