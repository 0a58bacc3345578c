using Capture.Bytecode;
using Capture.Graph;
using Capture.Python;
using Capture.Runtime.Backends;

namespace Capture.Runtime.Dispatch;

/// <summary>
/// Collects a run's capture events into what capture.explain returns: graphs, breaks with reasons
/// and lines, guards, ops per graph, compile times, recompile reasons and frames that ran eagerly.
/// </summary>
public sealed class ExplainReport(string backend)
{
    private readonly List<CaptureEvent> _events = [];

    public void Record(CaptureEvent e) => _events.Add(e);

    private IEnumerable<CaptureEvent.Captured> Captures => _events.OfType<CaptureEvent.Captured>().Where(c => !c.Discarded);

    /// <summary>The report as a dict for the Python side (GIL held).</summary>
    public PyObject ToPython()
    {
        // a segment with no ops (a break right at its start) runs no graph: it is not counted as one
        var captures = Captures.Where(c => c.Capture.Graph.Nodes.Any(n => n is CallOp)).ToList();
        var breaks = _events.OfType<CaptureEvent.Captured>().Select(c => c.Capture.Exit).OfType<ExitPlan.Break>().Select(b => b.Cause)
            .Concat(_events.OfType<CaptureEvent.CaptureFailed>().Select(f => new GraphBreak(f.Reason, f.Instruction, f.Instruction.Location, [])))
            .ToList();
        var guards = Captures.SelectMany(c => c.Capture.Guards.Guards.Select(g => g.ToString()!)).Distinct().ToList();
        using var breakList = Py.ListOf(breaks.Select(BreakDict));
        using var guardList = Py.ListOf(guards.Select(Py.Str));
        using var ops = Py.ListOf(captures.Select(c => Py.ListOf(c.Capture.Graph.Nodes.OfType<CallOp>().Select(n => Py.Str(n.Op.Name)))));
        using var times = Py.ListOf(captures.Select(c => Py.Float(c.CaptureTime.TotalSeconds)));
        using var phases = Py.ListOf(captures.Select(c => Py.ListOf((c.Compiled?.Phases ?? []).Select(PhaseTuple))));
        using var backendName = Py.Str(backend);
        using var graphs = Py.ListOf(captures.Select(c => Py.Str(CodePrinter.Print(c.Capture.Graph))));
        using var recompiles = Py.ListOf(Captures.Where(c => c.RecompileReason is not null).Select(c => Py.Str(c.RecompileReason!)));
        using var eager = Py.ListOf(_events.OfType<CaptureEvent.RanEagerly>().Select(e => $"{e.Function}: {e.Reason}").Distinct().Select(Py.Str));
        using var graphCount = Py.Int(captures.Count);
        using var breakCount = Py.Int(breaks.Count);
        return Py.Dict([
            new("graph_count", graphCount), new("graph_break_count", breakCount), new("break_reasons", breakList),
            new("guards", guardList), new("ops_per_graph", ops), new("compile_times", times), new("graphs", graphs),
            new("recompile_reasons", recompiles), new("eager_frames", eager), new("compile_phases", phases),
            new("backend", backendName),
        ]);
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
        return Py.Dict([new("reason", reason), new("filename", file), new("lineno", line), new("user_stack", stack)]);
    }
}
