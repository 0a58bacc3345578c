using System.Text;

namespace Capture.Frontend;

/// <summary>
/// Something the AST path cannot express, at the user's line and column: the construct (a short
/// tag: "try", "yield", "global", "print", "unknown function"...), what is wrong, and what to do.
/// Prints like a compiler error, with the source line and a caret under the column.
/// </summary>
public sealed record Diagnostic(Span At, string Construct, string Message, string Suggestion, string? LineText)
{
    public override string ToString()
    {
        var text = new StringBuilder($"{At}: {Message}");
        if (LineText is { } line)
        {
            text.Append("\n    ").Append(line.TrimEnd());
            var caret = Math.Max(0, At.Column - 1);
            // keep tabs so the caret lines up under tabbed source
            text.Append("\n    ").Append(new string(line.Take(caret).Select(c => c == '\t' ? '\t' : ' ').ToArray())).Append('^');
        }
        return text.Append($"\n  suggestion: {Suggestion}").ToString();
    }
}

/// <summary>The AST path refused a function: every diagnostic found, first one first.</summary>
public sealed class AstCaptureException(IReadOnlyList<Diagnostic> diagnostics)
    : NotSupportedException("the AST path cannot capture this function:\n" + string.Join("\n", diagnostics))
{
    /// <summary>Diagnostics that say the code fails for these inputs (torch or Python raises the same), not that the AST path cannot express it.</summary>
    public static readonly System.Collections.Frozen.FrozenSet<string> FailuresOfTheCode = System.Collections.Frozen.FrozenSet.ToFrozenSet<string>(["shape error", "index", "key", "python error", "raised"]);

    public IReadOnlyList<Diagnostic> Diagnostics { get; } = diagnostics;

    /// <summary>
    /// The function fails for these inputs in plain Python too (a shape, index or key error...): the
    /// runner then calls it for real, so the caller gets the exception eager code raises, where it raises it.
    /// </summary>
    public bool EagerFailsToo => Diagnostics.Count > 0 && Diagnostics.All(d => FailuresOfTheCode.Contains(d.Construct));
}
