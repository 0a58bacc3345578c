using Capture.Graph;

namespace Capture.Bytecode;

// Capture.Graph is both a namespace and its central type.
using Graph = Capture.Graph.Graph;

/// <summary>Why a capture stopped before the end: what, at which instruction, where in the user's code.</summary>
public sealed record GraphBreak(string Reason, Instruction Instruction, SourceLocation? Location, IReadOnlyList<string> UserStack)
{
    public override string ToString() => Location is { } l ? $"{Reason} ({l.File}:{l.Line})" : Reason;
}

/// <summary>What runs after a captured segment: a return, or the breaking instruction run for real.</summary>
public abstract record ExitPlan
{
    public sealed record Return(ValueSpec Value) : ExitPlan;

    /// <summary>Rebuild the frame (locals and stack) and run <see cref="GraphBreak.Instruction"/> for real.</summary>
    public sealed record Break(GraphBreak Cause, IReadOnlyDictionary<string, ValueSpec> Locals, IReadOnlyList<ValueSpec> Stack) : ExitPlan;
}

/// <summary>
/// One capture from an entry instruction: the graph, the sources of its inputs (placeholder order),
/// the guards under which it is valid, and the exit plan.
/// </summary>
public sealed record CaptureResult(
    int EntryIndex,
    Graph Graph,
    IReadOnlyList<Source> InputSources,
    GuardSet Guards,
    ExitPlan Exit);
