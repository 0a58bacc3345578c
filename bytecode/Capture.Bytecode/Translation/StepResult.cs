namespace Capture.Bytecode;

/// <summary>What one symbolic instruction did: go on, jump, return, or break the graph (a value, not an exception).</summary>
public abstract record StepResult
{
    public sealed record Next : StepResult;
    public sealed record Jump(int Target) : StepResult;
    public sealed record Return(SymValue Value) : StepResult;
    /// <summary>A break; <see cref="Inner"/> lists the inlined calls it happened in, outermost first ("helper (model.py:12)").</summary>
    public sealed record Break(string Reason, IReadOnlyList<string>? Inner = null) : StepResult;

    public static StepResult Continue { get; } = new Next();
}

/// <summary>
/// Thrown inside an inlined call when it cannot be captured; the caller breaks at its CALL.
/// <see cref="Frames"/> are the inlined frames it crossed, innermost first.
/// </summary>
internal sealed class InlineBreakException(string reason) : Exception(reason)
{
    public List<string> Frames { get; } = [];
}
