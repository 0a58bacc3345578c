namespace Capture.Graphs;

/// <summary>What a node produces: a tensor, a Python scalar, a tuple of values, or None.</summary>
public abstract record ValueMeta;

/// <summary>
/// A tensor's metadata. Strides are the layout Capture's kernels produce (contiguous for computed
/// values, the real view strides for view ops). <see cref="StrideDims"/> holds them as sizes, which
/// may be symbolic (a contiguous <c>[s0, 4]</c> has strides <c>[4, 1]</c>, a <c>[4, s0]</c> has
/// <c>[s0, 1]</c>); <see cref="Strides"/> is the same when every stride is a constant, else null.
/// </summary>
public sealed record TensorMeta : ValueMeta
{
    private readonly EquatableList<Dim>? _strideDims;
    private readonly EquatableList<long>? _strides;

    public TensorMeta(Shape Shape, DType DType, Device Device, EquatableList<long>? Strides, bool RequiresGrad)
    {
        this.Shape = Shape;
        this.DType = DType;
        this.Device = Device;
        this.Strides = Strides;
        this.RequiresGrad = RequiresGrad;
    }

    public Shape Shape { get; init; }
    public DType DType { get; init; }
    public Device Device { get; init; }
    public bool RequiresGrad { get; init; }

    /// <summary>The strides, when each is a constant; null when unknown or symbolic.</summary>
    public EquatableList<long>? Strides
    {
        get => _strides;
        init
        {
            _strides = value;
            _strideDims = value?.Select(Dim.Of).ToEquatableList();
        }
    }

    /// <summary>The strides as sizes (symbolic where they depend on a symbolic size); null when unknown.</summary>
    public EquatableList<Dim>? StrideDims
    {
        get => _strideDims;
        init
        {
            _strideDims = value;
            _strides = value is not null && value.All(d => d.IsConcrete) ? value.Select(d => d.Value!.Value).ToEquatableList() : null;
        }
    }

    public void Deconstruct(out Shape Shape, out DType DType, out Device Device, out EquatableList<long>? Strides, out bool RequiresGrad)
    {
        Shape = this.Shape;
        DType = this.DType;
        Device = this.Device;
        Strides = this.Strides;
        RequiresGrad = this.RequiresGrad;
    }

    public static TensorMeta Contiguous(Shape shape, DType dtype, bool requiresGrad = false, Device? device = null) =>
        new(shape, dtype, device ?? Device.Cpu, null, requiresGrad) { StrideDims = shape.ContiguousStrideDims() };

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
