using System.Globalization;

namespace Capture.Graphs;

/// <summary>
/// Metadata as printed in graphs and parsed back: "f32[8, 16]" (contiguous, cpu), "f32[4, 6]{1, 4}"
/// (explicit strides), a " grad" suffix for requires_grad, "@meta" for another device,
/// "(f32[4], i64[4])" for tuples, "int" / "float" / "bool" for scalars, "None".
/// </summary>
public static class MetaText
{
    public static string Format(ValueMeta meta) => meta switch
    {
        TensorMeta t => FormatTensor(t),
        TupleMeta t => "(" + string.Join(", ", t.Items.Select(Format)) + (t.Items.Count == 1 ? ",)" : ")"),
        ScalarMeta s => s.ToString(),
        NoneMeta => "None",
        _ => throw new ArgumentOutOfRangeException(nameof(meta)),
    };

    private static string FormatTensor(TensorMeta t)
    {
        var text = $"{t.DType.ShortName()}[{string.Join(", ", t.Shape.Dims)}]";
        if (t.StrideDims is { } s && !s.Equals(t.Shape.ContiguousStrideDims())) text += "{" + string.Join(", ", s) + "}";
        if (t.Device != Device.Cpu) text += "@" + t.Device;
        if (t.RequiresGrad) text += " grad";
        return text;
    }

    public static ValueMeta Parse(string text)
    {
        var position = 0;
        var meta = ParseAt(text, ref position);
        SkipSpaces(text, ref position);
        if (position != text.Length) throw new FormatException($"unexpected '{text[position..]}' after metadata in \"{text}\"");
        return meta;
    }

    private static ValueMeta ParseAt(string text, ref int i)
    {
        SkipSpaces(text, ref i);
        if (text[i..].StartsWith('('))
        {
            i++;
            var items = new List<ValueMeta>();
            while (true)
            {
                SkipSpaces(text, ref i);
                if (text[i] == ')') { i++; break; }
                items.Add(ParseAt(text, ref i));
                SkipSpaces(text, ref i);
                if (text[i] == ',') i++;
            }
            return new TupleMeta(items.ToEquatableList());
        }
        var word = ReadWhile(text, ref i, char.IsLetterOrDigit);
        switch (word)
        {
            case "int": return new ScalarMeta(ScalarKind.Int);
            case "float": return new ScalarMeta(ScalarKind.Float);
            case "bool": return new ScalarMeta(ScalarKind.Bool);
            case "None": return NoneMeta.Instance;
        }
        var dtype = DTypeNames.FromShortName(word) ?? throw new FormatException($"unknown dtype or metadata '{word}' in \"{text}\"");
        var dims = ReadList(text, ref i, '[', ']').Select(ParseDim).ToList();
        var shape = Shape.Of(dims);
        var strides = i < text.Length && text[i] == '{'
            ? ReadList(text, ref i, '{', '}').Select(ParseDim).ToEquatableList()
            : shape.ContiguousStrideDims();
        var device = Device.Cpu;
        if (i < text.Length && text[i] == '@')
        {
            i++;
            var name = ReadWhile(text, ref i, ch => char.IsLetterOrDigit(ch) || ch == ':');
            var parts = name.Split(':');
            device = new Device(parts[0], parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : null);
        }
        var requiresGrad = false;
        var save = i;
        SkipSpaces(text, ref i);
        if (text[i..].StartsWith("grad", StringComparison.Ordinal)) { requiresGrad = true; i += 4; }
        else i = save;
        return new TensorMeta(shape, dtype, device, null, requiresGrad) { StrideDims = strides };
    }

    private static Dim ParseDim(string s) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? Dim.Of(v) : Dim.Sym(s);

    private static List<string> ReadList(string text, ref int i, char open, char close)
    {
        if (i >= text.Length || text[i] != open) throw new FormatException($"expected '{open}' at {i} in \"{text}\"");
        var end = text.IndexOf(close, i);
        if (end < 0) throw new FormatException($"missing '{close}' in \"{text}\"");
        var inner = text[(i + 1)..end];
        i = end + 1;
        return inner.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
    }

    private static string ReadWhile(string text, ref int i, Func<char, bool> accept)
    {
        var start = i;
        while (i < text.Length && accept(text[i])) i++;
        return text[start..i];
    }

    private static void SkipSpaces(string text, ref int i)
    {
        while (i < text.Length && text[i] == ' ') i++;
    }
}
