namespace Capture.Bytecode;

/// <summary>A graph break after which the frame's state cannot be rebuilt (closures made during capture): the capture fails.</summary>
public sealed class UnresumableBreakException(GraphBreak cause, string detail, Exception inner)
    : NotSupportedException($"{cause}: the frame cannot be resumed after this break ({detail})", inner)
{
    public GraphBreak Cause { get; } = cause;
}
