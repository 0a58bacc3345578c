using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Dispatch;


/// <summary>
/// Collects a run's capture events into what capture.explain returns: graphs, breaks with reasons
/// and lines, guards, ops per graph, compile times, recompile reasons and frames that ran eagerly.
/// </summary>
public sealed class ExplainReport(string backend, string mode = "bytecode") : ICaptureEventSink
{
    private readonly List<CaptureEvent> _events = [];

    public void Record(CaptureEvent e) => _events.Add(e);

    private IEnumerable<CaptureEvent.Captured> Captures => _events.OfType<CaptureEvent.Captured>().Where(c => !c.Discarded);

    /// <summary>The report as a dict for the Python side (GIL held), with the call's result (None when it was refused).</summary>
    public PyObject ToPython(PyObject? result = null)
    {
        // a segment with no ops (a break right at its start) runs no graph: it is not counted as one
        var captures = Captures.Where(c => c.Capture.Graph.Nodes.Any(n => n is CallOp)).ToList();
        // a break is a place in the user's code: the same construct met again (a loop's next iteration, the
        // helper's own frame after its caller broke at the call) is one break, as a resumed frame is in Dynamo
        var breaks = _events.OfType<CaptureEvent.Captured>().Select(c => c.Capture.Exit).OfType<ExitPlan.Break>().Select(b => b.Cause)
            .Concat(_events.OfType<CaptureEvent.CaptureFailed>().Select(f => new GraphBreak(f.Reason, f.Instruction.Index, f.Instruction.Location, [])))
            .DistinctBy(b => (b.Reason, b.UserStack.Count > 0 ? b.UserStack[^1] : b.Location?.ToString()))
            .ToList();
        var guards = Captures.SelectMany(c => c.Capture.Guards.Guards.Select(g => g.ToString()!)).Distinct().ToList();
        using var breakList = Py.ListOf(breaks.Select(BreakDict));
        using var guardList = Py.ListOf(guards.Select(Py.Str));
        using var ops = Py.ListOf(captures.Select(c => Py.ListOf(c.Capture.Graph.Nodes.OfType<CallOp>().Select(n => Py.Str(n.Op.Name)))));
        using var times = Py.ListOf(captures.Select(c => Py.Float(c.CaptureTime.TotalSeconds)));
        using var phases = Py.ListOf(captures.Select(c => Py.ListOf((c.Compiled?.Trace.Phases ?? []).Select(PhaseTuple))));
        using var backendName = Py.Str(backend);
        using var graphs = Py.ListOf(captures.Select(c => Py.Str(CodePrinter.Print(c.Capture.Graph))));
        using var recompiles = Py.ListOf(Captures.Where(c => c.RecompileReason is not null).Select(c => Py.Str(c.RecompileReason!)));
        using var eager = Py.ListOf(_events.OfType<CaptureEvent.RanEagerly>().Select(e => $"{e.Function}: {e.Reason}").Distinct().Select(Py.Str));
        using var categories = Py.ListOf(captures.Select(c => CategoryCounts(c.Capture.Graph)));
        using var controlFlow = Py.ListOf(captures.Select(c => Py.ListOf(ControlFlow(c.Capture.Graph).Select(ControlFlowDict))));
        using var diagnostics = Py.ListOf(_events.OfType<CaptureEvent.AstRefused>().SelectMany(r => r.Diagnostics).Select(DiagnosticDict));
        using var modeName = Py.Str(mode);
        var frames = Reports.FrameReport.Build(_events);
        using var text = Py.Str(Reports.TextReport.Plain(frames, verbose: false));
        using var verboseText = Py.Str(Reports.TextReport.Plain(frames));
        using var explained = Py.ListOf(frames.SelectMany(f => f.Graphs).SelectMany(g => g.Guards.Select(GuardDict)));
        using var autograd = Py.ListOf(captures.Select(c => AutogradDict(c.Compiled)));
        using var resultValue = result?.NewReference() ?? Py.None;
        using var graphCount = Py.Int(captures.Count);
        using var breakCount = Py.Int(breaks.Count);
        return Py.Dict([
            new("graph_count", graphCount), new("graph_break_count", breakCount), new("break_reasons", breakList),
            new("guards", guardList), new("ops_per_graph", ops), new("compile_times", times), new("graphs", graphs),
            new("recompile_reasons", recompiles), new("eager_frames", eager), new("compile_phases", phases),
            new("backend", backendName), new("mode", modeName), new("op_categories", categories), new("control_flow", controlFlow),
            new("diagnostics", diagnostics), new("result", resultValue), new("text", text), new("verbose_text", verboseText), new("guard_explanations", explained),
            new("autograd", autograd),
        ]);
    }

    private static PyObject AutogradDict(ICompiledGraph? compiled)
    {
        var items = new List<KeyValuePair<string, PyObject>> { new("status", Py.Str(Reports.AutogradSummary.Status(compiled?.Trace))) };
        if (compiled?.Trace.Split is { Partition: var p } split)
        {
            items.Add(new("partitioner", Py.Str(p.Partitioner)));
            items.Add(new("saved", Py.ListOf(Reports.AutogradSummary.Saved(p).Select(Py.Str))));
            items.Add(new("saved_bytes", Py.Int(p.SavedBytes)));
            items.Add(new("save_all_bytes", Py.Int(split.Alternative.SavedBytes)));
            items.Add(new("forward", Py.Str(CodePrinter.Print(p.Forward))));
            items.Add(new("backward", Py.Str(CodePrinter.Print(p.Backward))));
        }
        try { return Py.Dict(items); }
        finally { foreach (var i in items) i.Value.Dispose(); }
    }

    /// <summary>Ops of a graph by registry category ("pointwise": 3, "reduction": 1, "control flow": 1), subgraphs included.</summary>
    private static PyObject CategoryCounts(Graph graph)
    {
        var counts = graph.AllNodes().Select(n => n switch
        {
            CallOp c => c.Op.Category.ToString().ToLowerInvariant(),
            CallModule => "module",
            Cond or WhileLoop => "control flow",
            _ => null,
        }).OfType<string>().GroupBy(c => c).OrderBy(g => g.Key).ToList();
        var items = counts.Select(g => new KeyValuePair<string, PyObject>(g.Key, Py.Int(g.Count()))).ToList();
        try { return Py.Dict(items); }
        finally { foreach (var i in items) i.Value.Dispose(); }
    }

    /// <summary>The cond and while_loop nodes a graph kept, outermost first.</summary>
    private static IEnumerable<Node> ControlFlow(Graph graph) => graph.AllNodes().Where(n => n is Cond or WhileLoop);

    private static PyObject ControlFlowDict(Node node)
    {
        using var kind = Py.Str(node.OpCode);
        using var file = node.Source is { } s ? Py.Str(s.File) : Py.None;
        using var line = node.Source is { } l ? Py.Int(l.Line) : Py.None;
        return Py.Dict([new("kind", kind), new("filename", file), new("lineno", line)]);
    }

    private static PyObject DiagnosticDict(Capture.Frontend.Diagnostic d)
    {
        using var construct = Py.Str(d.Construct);
        using var message = Py.Str(d.Message);
        using var suggestion = Py.Str(d.Suggestion);
        using var file = Py.Str(d.At.File);
        using var line = Py.Int(d.At.Line);
        using var column = Py.Int(d.At.Column);
        using var text = Py.Str(d.ToString());
        return Py.Dict([new("construct", construct), new("message", message), new("suggestion", suggestion), new("filename", file),
            new("lineno", line), new("col", column), new("text", text)]);
    }

    private static PyObject GuardDict(Reports.GuardEntry g)
    {
        using var guard = Py.Str(g.Text);
        using var kind = Py.Str(g.Kind);
        using var value = Py.Str(g.Group);
        using var because = Py.ListOf(g.Uses.Select(u => Py.Str(u.ToString())));
        using var lines = Py.ListOf(g.Uses.Where(u => u.At is not null).Select(u => Py.Int(u.At!.Line)));
        return Py.Dict([new("guard", guard), new("kind", kind), new("value", value), new("because", because), new("lines", lines)]);
    }

    private static PyObject PhaseTuple(CompilePhase p)
    {
        using var name = Py.Str(p.Name);
        using var seconds = Py.Float(p.Time.TotalSeconds);
        using var note = p.Note is null ? Py.None : Py.Str(p.Note);
        return Py.Tuple([name, seconds, note]);
    }

    private static PyObject BreakDict(GraphBreak b)
    {
        using var reason = Py.Str(b.Reason);
        using var file = b.Location is { } l ? Py.Str(l.File) : Py.None;
        using var line = b.Location is { } l2 ? Py.Int(l2.Line) : Py.None;
        using var stack = Py.ListOf(b.UserStack.Select(Py.Str));
        using var hint = Py.Str(BreakHints.For(b.Reason));
        return Py.Dict([new("reason", reason), new("filename", file), new("lineno", line), new("user_stack", stack), new("hint", hint)]);
    }
}
