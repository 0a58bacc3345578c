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
    public override string ToString() => $"{File}:{Line}:{Column}";
}
