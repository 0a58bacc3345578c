namespace Capture.Graphs;

/// <summary>An operation's arguments are invalid for it (torch would raise): the message says why.</summary>
public sealed class ShapeError(string op, string message) : Exception($"{op}: {message}")
{
    public string Op { get; } = op;
}
