using Capture.Bytecode;
using Capture.Graph;
using Capture.Python;

namespace Capture.Runtime.Dispatch;

/// <summary>
/// Collects a run's capture events into what capture.explain returns: graphs, breaks with reasons
/// and lines, guards, ops per graph, compile times, recompile reasons and frames that ran eagerly.
/// </summary>
public sealed class ExplainReport
{
    private readonly List<CaptureEvent> _events = [];

    public void Record(CaptureEvent e) => _events.Add(e);

    private IEnumerable<CaptureEvent.Captured> Captures => _events.OfType<CaptureEvent.Captured>();

    /// <summary>The report as a dict for the Python side (GIL held).</summary>
    public PyObject ToPython()
    {
        var captures = Captures.ToList();
        var breaks = captures.Select(c => c.Capture.Exit).OfType<ExitPlan.Break>().Select(b => b.Cause)
            .Concat(_events.OfType<CaptureEvent.CaptureFailed>().Select(f => new GraphBreak(f.Reason, f.Instruction, f.Instruction.Location, [])))
            .ToList();
        var guards = captures.SelectMany(c => c.Capture.Guards.Guards.Select(g => g.ToString()!)).Distinct().ToList();
        using var breakList = Py.List(breaks.Select(b => Py.Dict([
            new("reason", Py.Str(b.Reason)),
            new("filename", b.Location is { } l ? Py.Str(l.File) : Py.None),
            new("lineno", b.Location is { } l2 ? Py.Int(l2.Line) : Py.None),
        ])).ToArray());
        using var guardList = Py.List(guards.Select(Py.Str).ToArray());
        using var ops = Py.List(captures.Select(c => Py.List(c.Capture.Graph.Nodes.OfType<CallOp>().Select(n => Py.Str(n.Op.Name)).ToArray())).ToArray());
        using var times = Py.List(captures.Select(c => Py.Float(c.CaptureTime.TotalSeconds)).ToArray());
        using var graphs = Py.List(captures.Select(c => Py.Str(CodePrinter.Print(c.Capture.Graph))).ToArray());
        using var recompiles = Py.List(captures.Where(c => c.RecompileReason is not null).Select(c => Py.Str(c.RecompileReason!)).ToArray());
        using var eager = Py.List(_events.OfType<CaptureEvent.RanEagerly>().Select(e => Py.Str($"{e.Function}: {e.Reason}")).Distinct().ToArray());
        using var graphCount = Py.Int(captures.Count);
        using var breakCount = Py.Int(breaks.Count);
        return Py.Dict([
            new("graph_count", graphCount), new("graph_break_count", breakCount), new("break_reasons", breakList),
            new("guards", guardList), new("ops_per_graph", ops), new("compile_times", times), new("graphs", graphs),
            new("recompile_reasons", recompiles), new("eager_frames", eager),
        ]);
    }
}
