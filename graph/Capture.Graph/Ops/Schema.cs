using System.Globalization;

namespace Capture.Graphs;

/// <summary>
/// One parameter of an op schema. Types: Tensor, Tensor[], Scalar (a Python number), Number|Tensor
/// (either), int, int[], float, bool, str, ScalarType (a dtype), Any. A trailing '?' means None is
/// allowed; '...' marks the variadic tail (`x.view(2, 3)` as well as `x.view((2, 3))`).
/// </summary>
public sealed record Param(string Name, string Type, bool Optional, Arg? Default, bool KeywordOnly, bool Variadic)
{
    public bool Required => Default is null && !Variadic;
}

/// <summary>A torch-style signature: "Tensor self, Tensor other, *, Scalar alpha=1".</summary>
public sealed record Schema(EquatableList<Param> Params)
{
    public static Schema Parse(string text)
    {
        var parameters = new List<Param>();
        var keywordOnly = false;
        foreach (var raw in SplitTopLevel(text))
        {
            var part = raw.Trim();
            if (part.Length == 0) continue;
            if (part == "*") { keywordOnly = true; continue; }
            var eq = part.IndexOf('=');
            var decl = (eq < 0 ? part : part[..eq]).Trim();
            var defaultText = eq < 0 ? null : part[(eq + 1)..].Trim();
            var space = decl.LastIndexOf(' ');
            var type = decl[..space].Trim();
            var name = decl[(space + 1)..];
            var variadic = type.EndsWith("...", StringComparison.Ordinal);
            if (variadic) type = type[..^3];
            var optional = type.EndsWith('?');
            if (optional) type = type[..^1];
            parameters.Add(new Param(name, type, optional, defaultText is null ? null : ParseDefault(defaultText), keywordOnly, variadic));
        }
        return new Schema(parameters.ToEquatableList());
    }

    private static IEnumerable<string> SplitTopLevel(string text)
    {
        int depth = 0, start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is '[' or '(') depth++;
            else if (text[i] is ']' or ')') depth--;
            else if (text[i] == ',' && depth == 0)
            {
                yield return text[start..i];
                start = i + 1;
            }
        }
        yield return text[start..];
    }

    private static Arg ParseDefault(string text) => text switch
    {
        "None" => NoneArg.Instance,
        "True" => new BoolArg(true),
        "False" => new BoolArg(false),
        "[]" => new ListArg(EquatableList<Arg>.Empty),
        _ when text.StartsWith('\'') => new StrArg(text.Trim('\'')),
        _ when text.StartsWith('[') => new ListArg(text.Trim('[', ']').Split(',').Select(s => ParseDefault(s.Trim())).ToEquatableList()),
        _ when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) => new IntArg(i),
        _ => new FloatArg(double.Parse(text, CultureInfo.InvariantCulture)),
    };

    public override string ToString()
    {
        var parts = new List<string>();
        var keywordOnly = false;
        foreach (var p in Params)
        {
            if (p.KeywordOnly && !keywordOnly)
            {
                parts.Add("*");
                keywordOnly = true;
            }
            parts.Add($"{p.Type}{(p.Optional ? "?" : "")}{(p.Variadic ? "..." : "")} {p.Name}{(p.Default is null ? "" : "=" + p.Default)}");
        }
        return string.Join(", ", parts);
    }
}
