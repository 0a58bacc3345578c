namespace Capture.Graphs;

/// <summary>Sizes of a tensor, outermost first. Rank 0 is a scalar tensor.</summary>
public sealed record Shape(EquatableList<Dim> Dims)
{
    public Shape(params IEnumerable<long> sizes) : this(sizes.Select(Dim.Of).ToEquatableList()) { }

    public static Shape Scalar { get; } = new(EquatableList<Dim>.Empty);

    public static Shape Of(params IEnumerable<Dim> dims) => new(dims.ToEquatableList());

    public int Rank => Dims.Count;
    public Dim this[int index] => Dims[index];
    public bool IsConcrete => Dims.All(d => d.IsConcrete);

    public IReadOnlyList<long> Concrete(string what = "this operation") => Dims.Select(d => d.Concrete(what)).ToArray();

    public long NumElements(string what = "this operation") => Concrete(what).Aggregate(1L, (n, s) => n * s);

    /// <summary>Row-major strides as sizes (symbolic where a later size is).</summary>
    public EquatableList<Dim> ContiguousStrideDims()
    {
        var strides = new Dim[Rank];
        var stride = Dim.Of(1);
        for (var d = Rank - 1; d >= 0; d--)
        {
            strides[d] = stride;
            stride = Dims[d].Value == 0 ? stride : stride * Dims[d];
        }
        return strides.ToEquatableList();
    }

    /// <summary>The number of elements, possibly symbolic.</summary>
    public Dim Elements => Dim.Product(Dims);

    /// <summary>Row-major strides; null when a size is symbolic.</summary>
    public EquatableList<long>? ContiguousStrides()
    {
        if (!IsConcrete) return null;
        var strides = new long[Rank];
        long stride = 1;
        for (var d = Rank - 1; d >= 0; d--)
        {
            strides[d] = stride;
            stride *= Math.Max(Dims[d].Value!.Value, 1);
        }
        return strides.ToEquatableList();
    }

    /// <summary>Normalizes a possibly negative dimension index the way torch does (wrap once; error outside).</summary>
    public int WrapDim(long dim, string op)
    {
        var rank = Math.Max(Rank, 1); // torch lets a 0-d tensor take dim 0 or -1
        if (dim < -rank || dim >= rank)
            throw new ShapeError(op, $"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})");
        return (int)(dim < 0 ? dim + rank : dim);
    }

    public override string ToString() => "[" + string.Join(", ", Dims) + "]";
}
