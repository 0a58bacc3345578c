namespace Capture.Bytecode;

/// <summary>What one symbolic instruction did: go on, jump, return, or break the graph (a value, not an exception).</summary>
public abstract record StepResult
{
    public sealed record Next : StepResult;
    public sealed record Jump(int Target) : StepResult;
    public sealed record Return(SymValue Value) : StepResult;
    public sealed record Break(string Reason) : StepResult;

    public static StepResult Continue { get; } = new Next();
}

/// <summary>Thrown inside an inlined call when it cannot be captured; the caller breaks at its CALL.</summary>
internal sealed class InlineBreakException(string reason) : Exception(reason);
