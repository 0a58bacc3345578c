namespace Capture.Graphs;

/// <summary>What a node produces: a tensor, a Python scalar, a tuple of values, or None.</summary>
public abstract record ValueMeta;

/// <summary>
/// A tensor's metadata. Strides are the layout Capture's kernels produce (contiguous for computed
/// values, the real view strides for view ops); they are null only when a size is symbolic.
/// </summary>
public sealed record TensorMeta(Shape Shape, DType DType, Device Device, EquatableList<long>? Strides, bool RequiresGrad) : ValueMeta
{
    public static TensorMeta Contiguous(Shape shape, DType dtype, bool requiresGrad = false, Device? device = null) =>
        new(shape, dtype, device ?? Device.Cpu, shape.ContiguousStrides(), requiresGrad);

    public int Rank => Shape.Rank;

    public TensorMeta With(Shape shape, DType? dtype = null) =>
        Contiguous(shape, dtype ?? DType, RequiresGrad, Device);

    public override string ToString() => $"{DType.ShortName()}{Shape}";
}

/// <summary>The kind of a Python scalar produced by a node (x.size(0), t.item()).</summary>
public enum ScalarKind { Int, Float, Bool }

public sealed record ScalarMeta(ScalarKind Kind) : ValueMeta
{
    public override string ToString() => Kind.ToString().ToLowerInvariant();
}

public sealed record TupleMeta(EquatableList<ValueMeta> Items) : ValueMeta
{
    public override string ToString() => "(" + string.Join(", ", Items) + (Items.Count == 1 ? ",)" : ")");
}

public sealed record NoneMeta : ValueMeta
{
    public static NoneMeta Instance { get; } = new();

    public override string ToString() => "None";
}

/// <summary>Where in the user's Python a node came from.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    /// <summary>file:line:col, the file quoted with Python's escapes when it holds a control character or a quote (a newline would end the line it is on).</summary>
    public override string ToString() => $"{FileText(File)}:{Line}:{Column}";

    public static string FileText(string file) =>
        file.Any(c => char.IsControl(c) || c is '\'' or '"' or '\\') ? PythonText.Quoted(file) : file;

    /// <summary>A file name as <see cref="FileText"/> writes it, back (a quoted one unescaped).</summary>
    public static string ParseFileText(string text)
    {
        if (text.Length < 2 || text[0] != '\'' || text[^1] != '\'') return text;
        var file = new System.Text.StringBuilder();
        for (var i = 1; i < text.Length - 1; i++)
        {
            if (text[i] != '\\' || i + 1 >= text.Length - 1) { file.Append(text[i]); continue; }
            var next = text[++i];
            if (next == 'x' && i + 2 < text.Length - 1)
            {
                file.Append((char)Convert.ToInt32(text.Substring(i + 1, 2), 16));
                i += 2;
                continue;
            }
            file.Append(next switch { 'n' => '\n', 'r' => '\r', 't' => '\t', _ => next });
        }
        return file.ToString();
    }
}
