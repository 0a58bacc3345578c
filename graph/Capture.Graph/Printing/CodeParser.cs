using System.Globalization;

namespace Capture.Graphs;

/// <summary>
/// Reads the Python-like text <see cref="CodePrinter"/> writes back into a graph. Call nodes get
/// their metadata from the registry's shape rules; an annotation, when present, must agree with it.
/// get_attr, call_module and opaque calls take their metadata from the annotation. Errors name the
/// line: "line 3: ...".
/// </summary>
public static partial class CodeParser
{
    private sealed record Line(int Number, int Indent, string Text, SourceLocation? Source);

    public static Graph Parse(string text)
    {
        var lines = SplitLines(text);
        var index = 0;
        var (graph, _) = ParseDef(lines, ref index);
        if (index != lines.Count) throw Error(lines[index], "unexpected text after the graph");
        return graph;
    }

    private static List<Line> SplitLines(string text)
    {
        var lines = new List<Line>();
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var (code, comment) = SplitComment(raw);
            if (code.Trim().Length == 0) continue;
            var indent = code.Length - code.TrimStart(' ').Length;
            lines.Add(new Line(number, indent, code.Trim(), comment is null ? null : ParseSource(comment)));
        }
        return lines;
    }

    private static (string Code, string? Comment) SplitComment(string line)
    {
        char? quote = null;
        for (var i = 0; i < line.Length; i++)
        {
            var ch = line[i];
            if (quote is { } q) { if (ch == '\\') i++; else if (ch == q) quote = null; }
            else if (ch is '\'' or '"') quote = ch;
            else if (ch == '#') return (line[..i], line[(i + 1)..].Trim());
        }
        return (line, null);
    }

    private static SourceLocation? ParseSource(string comment)
    {
        var parts = comment.Split(':');
        if (parts.Length < 3 || !int.TryParse(parts[^2], out var line) || !int.TryParse(parts[^1], out var column)) return null;
        return new SourceLocation(SourceLocation.ParseFileText(string.Join(':', parts[..^2])), line, column);
    }

    private static (Graph Graph, string Name) ParseDef(List<Line> lines, ref int index)
    {
        var header = lines[index];
        var tokens = new Tokens(header.Text, header.Number);
        tokens.Expect("def");
        var name = tokens.Name();
        tokens.Expect("(");
        var builder = new GraphBuilder();
        var first = true;
        while (!tokens.Accept(")"))
        {
            if (!first) tokens.Expect(",");
            if (tokens.Accept(")")) break;
            var parameter = tokens.Name();
            if (first && parameter == "self") { first = false; continue; }
            first = false;
            tokens.Expect(":");
            builder.Add(new Placeholder(parameter, ParseMeta(tokens.String(), header)));
        }
        tokens.Expect(":");
        tokens.End();
        index++;
        var subgraphs = new Dictionary<string, Graph>();
        while (index < lines.Count && lines[index].Indent > header.Indent)
        {
            var line = lines[index];
            if (line.Text.StartsWith("def ", StringComparison.Ordinal))
            {
                var (sub, subName) = ParseDef(lines, ref index);
                subgraphs[subName] = sub;
                continue;
            }
            index++;
            builder.Source = line.Source;
            if (line.Text.StartsWith("return ", StringComparison.Ordinal) || line.Text == "return")
            {
                var t = new Tokens(line.Text, line.Number);
                t.Expect("return");
                var value = ToArg(t.Expression(), builder, line);
                t.End();
                return (builder.Output(value), name);
            }
            ParseAssignment(line, builder, subgraphs);
        }
        throw Error(header, $"def {name} has no return");
    }

    private static ValueMeta ParseMeta(string text, Line line)
    {
        try { return MetaText.Parse(text); }
        catch (Exception e) when (e is FormatException or ArgumentException or IndexOutOfRangeException)
        {
            throw Error(line, $"bad metadata \"{text}\": {e.Message}");
        }
    }

    internal static FormatException Error(int line, string message, Exception? inner = null) => new($"line {line}: {message}", inner);

    private static FormatException Error(Line line, string message, Exception? inner = null) => Error(line.Number, message, inner);
}
