using Capture.Runtime.Dispatch;

namespace Capture.Runtime.Reports;

/// <summary>
/// A frame's source, each line marked by how it ran: captured (with the ops it put in a graph, the
/// control flow it kept, the branch decided at capture), graph break, ran eagerly, refused.
/// </summary>
internal static class SourceListing
{
    public static IReadOnlyList<ListingLine> Annotate(CodeInfo code, IReadOnlyList<CaptureEvent> events, IReadOnlyList<GraphEntry> graphs,
        IReadOnlyList<BreakEntry> breaks, IReadOnlyList<Capture.Frontend.Diagnostic> diagnostics)
    {
        var file = code.FileName;
        var text = ReadSource(file);
        if (text is null) return [];
        var codeLines = code.Instructions.Select(i => i.Location).OfType<SourceLocation>().Where(l => l.File == file).Select(l => l.Line).ToHashSet();
        var last = Math.Min(text.Length, Math.Max(code.FirstLine, codeLines.Count > 0 ? codeLines.Max() : code.FirstLine));
        var marks = new Dictionary<int, LineMark>();
        var notes = new Dictionary<int, List<string>>();
        void Note(int line, string note)
        {
            if (!notes.TryGetValue(line, out var list)) notes[line] = list = [];
            if (!list.Contains(note)) list.Add(note);
        }
        void Mark(int line, LineMark mark)
        {
            // the strongest mark wins: refused > break > eager > captured
            if (!marks.TryGetValue(line, out var old) || Rank(mark) > Rank(old)) marks[line] = mark;
        }

        foreach (var graph in graphs)
        {
            // the def line's RESUME is no code of the user's: that line is not "captured"
            foreach (var (f, line) in graph.Event.Capture.Lines)
                if (f == file && line != code.FirstLine) Mark(line, LineMark.Captured);
            foreach (var group in graph.Graph.AllNodes().Where(n => n.Source?.File == file && n is CallOp or CallModule).GroupBy(n => n.Source!.Line))
            {
                var names = group.Select(OpName).Distinct().ToList();
                Note(group.Key, $"graph {graph.Number}: {Plural(group.Count(), "op")} ({string.Join(", ", names.Take(4))}{(names.Count > 4 ? ", ..." : "")})");
            }
            foreach (var node in graph.Graph.AllNodes().Where(n => n is Cond or WhileLoop && n.Source?.File == file))
                Note(node.Source!.Line, $"graph {graph.Number}: kept as {node.OpCode} (the tensor decides at run time)");
            foreach (var guard in graph.Guards)
                foreach (var use in guard.Uses.Where(u => u.At?.File == file && u.Why.StartsWith(GuardUse.BranchPrefix, StringComparison.Ordinal)))
                    Note(use.At!.Line, $"graph {graph.Number}: decided at capture, guarded by {guard.Group} ({guard.Kind})");
        }
        foreach (var b in breaks.Where(b => b.File == file && b.Line is not null))
        {
            Mark(b.Line!.Value, LineMark.GraphBreak);
            Note(b.Line.Value, $"{b.Kind}: {b.Reason}; this line ran in Python");
        }
        foreach (var d in diagnostics.Where(d => d.At.File == file))
        {
            Mark(d.At.Line, LineMark.Refused);
            Note(d.At.Line, $"refused: {d.Message}");
        }
        var eager = events.OfType<CaptureEvent.RanEagerly>().Select(r => r.Reason).Concat(
            events.OfType<CaptureEvent.Captured>().Where(c => c.Discarded).Select(_ => "its capture broke in a frame captured only as a whole")).Distinct().ToList();
        if (eager.Count > 0)
        {
            foreach (var line in codeLines.Where(l => !marks.ContainsKey(l))) Mark(line, LineMark.Eager);
            foreach (var reason in eager) Note(code.FirstLine, $"ran eagerly: {reason}");
        }
        return Enumerable.Range(code.FirstLine, Math.Max(0, last - code.FirstLine + 1))
            .Select(n => new ListingLine(n, text[n - 1].TrimEnd('\r'), marks.GetValueOrDefault(n, LineMark.None), notes.GetValueOrDefault(n) ?? []))
            .ToList();
    }

    private static int Rank(LineMark mark) => mark switch
    {
        LineMark.Refused => 4, LineMark.GraphBreak => 3, LineMark.Eager => 2, LineMark.Captured => 1, _ => 0,
    };

    private static string OpName(Node node) => node switch
    {
        CallOp c => c.Op.Name, CallModule m => m.OpCode, _ => node.OpCode,
    };

    private static string Plural(int n, string word) => n == 1 ? $"1 {word}" : $"{n} {word}s";

    private static string[]? ReadSource(string file) => System.IO.File.Exists(file) ? ReadFile(file) : FromLineCache(file);

    /// <summary>Source that is no file (exec'd strings, notebook cells) but that Python's linecache holds.</summary>
    private static string[]? FromLineCache(string file)
    {
        if (!Capture.Python.Interpreter.HoldsGil) return null;
        using var linecache = Capture.Python.Py.Import("linecache");
        using var name = Capture.Python.Py.Str(file);
        using var lines = linecache.CallMethod("getlines", name);
        var text = lines.ToItems().Select(l => { using (l) return l.AsString().TrimEnd('\n'); }).ToArray();
        return text.Length == 0 ? null : text;
    }

    private static string[]? ReadFile(string file)
    {
        try { return System.IO.File.ReadAllLines(file); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
