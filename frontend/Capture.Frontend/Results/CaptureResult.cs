namespace Capture.Frontend;


/// <summary>
/// Why a capture stopped before the end: what, at which instruction (its index in the code object:
/// the frame runner runs it for real), where in the user's code, and the inlined calls it was in.
/// </summary>
public sealed record GraphBreak(string Reason, int InstructionIndex, SourceLocation? Location, IReadOnlyList<string> UserStack)
{
    public override string ToString() => Location is { } l ? $"{Reason} ({l.File}:{l.Line})" : Reason;
}

/// <summary>What runs after a captured segment: a return, or the breaking instruction run for real.</summary>
public abstract record ExitPlan
{
    public sealed record Return(ValueSpec Value) : ExitPlan;

    /// <summary>Rebuild the frame (locals and stack) and run instruction <see cref="GraphBreak.InstructionIndex"/> for real.</summary>
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
    ExitPlan Exit)
{
    /// <summary>Stores on objects that outlive the frame, replayed in order after the graph runs.</summary>
    public IReadOnlyList<SideEffect> SideEffects { get; init; } = [];

    /// <summary>The source lines the capture went through, as (file, line): reports mark them captured.</summary>
    public IReadOnlySet<(string File, int Line)> Lines { get; init; } = new HashSet<(string, int)>();
}

/// <summary>A change a captured segment makes to an object from the frame, replayed for real after its graph.</summary>
public abstract record SideEffect
{
    /// <summary>target[:] = items: a list from the frame was appended to or extended.</summary>
    public sealed record ListContents(Source Target, ValueSpec Items) : SideEffect;

    /// <summary>target.clear(); target.update(items): a dict from the frame was written.</summary>
    public sealed record DictContents(Source Target, ValueSpec Items) : SideEffect;

    /// <summary>setattr(owner, name, value).</summary>
    public sealed record StoreAttr(Source Owner, string Name, ValueSpec Value) : SideEffect;

    /// <summary>target.copy_(value) under no_grad: a module buffer the graph wrote (batch norm's running statistics), written back.</summary>
    public sealed record CopyInto(Source Target, ValueSpec Value) : SideEffect;
}
