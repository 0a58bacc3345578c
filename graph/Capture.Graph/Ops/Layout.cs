namespace Capture.Graphs;

/// <summary>
/// The strides torch gives a computed result, so that a later view succeeds or fails in a graph
/// exactly as in eager torch. Two rules cover it:
/// - TensorIterator ops (pointwise): if every input has the output's shape and they are all
///   contiguous, or all non-overlapping-and-dense with equal strides, the output takes those
///   strides; otherwise dims are ordered by the inputs' strides (ATen's reorder_dimensions:
///   earlier inputs decide, broadcast dims are ignored, ties go to the smaller size) and the
///   output is dense in that order.
/// - preserve_format (to(), *_like): a non-overlapping-and-dense input keeps its strides, any other
///   input gives a contiguous result.
/// </summary>
public static class Layout
{
    /// <summary>
    /// The result's strides as sizes. Symbolic sizes and strides are compared through
    /// <see cref="Sizes"/> (what a comparison needed a value for becomes a guard).
    /// </summary>
    public static EquatableList<Dim>? Pointwise(Shape shape, IReadOnlyList<TensorMeta> inputs)
    {
        if (inputs.Any(t => t.StrideDims is null)) return shape.ContiguousStrideDims();
        var sizes = shape.Dims;
        var ndim = sizes.Count;
        if (ndim == 0) return EquatableList<Dim>.Empty;
        // (decided from the expressions only: where that takes a size's value, the general order below
        // gives a dense input's layout just the same, without a guard)
        if (inputs.Count > 0 && inputs.All(t => t.Shape == shape) && inputs.All(t => !SizeValues.IsSymbolic(t) || KnownContiguous(t)))
        {
            if (inputs.All(t => IsContiguous(t.Shape.Dims, t.StrideDims!))) return shape.ContiguousStrideDims();
            if (inputs.All(t => IsNonOverlappingAndDense(t.Shape.Dims, t.StrideDims!)) && inputs.All(t => t.StrideDims!.Equals(inputs[0].StrideDims)))
                return inputs[0].StrideDims;
        }
        // Byte strides of each input broadcast to the output's rank, 0 on broadcast dims.
        var operands = inputs.Select(t =>
        {
            var own = t.Shape.Dims;
            var strides = new Dim[ndim];
            for (var i = 0; i < ndim; i++) strides[i] = Dim.Of(0);
            for (var i = 0; i < own.Count; i++)
            {
                var at = ndim - own.Count + i;
                strides[at] = Sizes.IsOne(own[i]) && !Sizes.IsOne(sizes[at]) ? Dim.Of(0) : t.StrideDims![i] * Dim.Of(t.DType.ItemSize());
            }
            return strides;
        }).ToList();
        int ShouldSwap(int dim0, int dim1)
        {
            foreach (var s in operands)
            {
                Dim s0 = s[dim0], s1 = s[dim1];
                if (s0.Value == 0 || s1.Value == 0) continue;
                // size-oblivious: two dims' strides are equal only across dims of size 1, and where a
                // dim of size 1 goes in the order changes only its own (unused) stride
                if (Sizes.CompareOblivious(s0, SizeComparison.Lt, s1, "a pointwise result's layout")) return -1;
                if (Sizes.CompareOblivious(s0, SizeComparison.Gt, s1, "a pointwise result's layout")) return 1;
                if (Sizes.CompareOblivious(sizes[dim0], SizeComparison.Gt, sizes[dim1], "a pointwise result's layout")) return 1;
            }
            return 0;
        }
        var perm = Enumerable.Range(0, ndim).Reverse().ToArray(); // perm[0] is the fastest-moving dim
        for (var i = 1; i < ndim; i++)
        {
            var dim1 = i;
            for (var dim0 = i - 1; dim0 >= 0; dim0--)
            {
                var comparison = ShouldSwap(perm[dim0], perm[dim1]);
                if (comparison > 0)
                {
                    (perm[dim0], perm[dim1]) = (perm[dim1], perm[dim0]);
                    dim1 = dim0;
                }
                else if (comparison < 0) break;
            }
        }
        var result = new Dim[ndim];
        var stride = Dim.Of(1);
        foreach (var d in perm)
        {
            result[d] = stride;
            stride *= sizes[d];
        }
        return result.ToEquatableList();
    }

    /// <summary>The strides of a 4-D tensor in channels-last order (N, H, W, C in memory).</summary>
    public static EquatableList<long> ChannelsLastStrides(IReadOnlyList<long> sizes)
    {
        long c = sizes[1], h = sizes[2], w = sizes[3];
        return new long[] { h * w * c, 1, w * c, c }.ToEquatableList();
    }

    /// <summary>
    /// Whether torch suggests channels-last for a 4-D tensor (c10's is_channels_last_strides_2d):
    /// its strides order the dims C, W, H, N from fastest; size-1 dims count with the stride they have,
    /// so [N, C, 1, 1] with strides (C, 1, C, C) is channels-last and with (C, 1, 1, 1) is not.
    /// Convolutions and 2-d pools give such an input a channels-last result.
    /// </summary>
    public static bool SuggestsChannelsLast(TensorMeta t)
    {
        if (t.Rank != 4 || t.StrideDims is not { } strides) return false;
        const string why = "whether a tensor is channels-last";
        var sizes = t.Shape.Dims;
        if (strides[1].Value == 0) return false;
        var min = Dim.Of(0);
        foreach (var d in new[] { 1, 3, 2, 0 })
        {
            if (sizes[d].Value == 0 || Sizes.Compare(strides[d], SizeComparison.Lt, min, why)) return false;
            // an N x 1 x 1 x 1 tensor whose N stride equals its C stride is contiguous, not channels-last
            if (d == 0 && Sizes.Equal(min, strides[1], why)) return false;
            min = strides[d];
            if (!Sizes.IsOne(sizes[d]) && sizes[d].Value != 0) min *= sizes[d];
        }
        return true;
    }

    /// <summary>The strides of a 4-D tensor in channels-last order, as sizes.</summary>
    public static EquatableList<Dim> ChannelsLastStrides(Shape shape)
    {
        Dim c = shape[1], h = shape[2], w = shape[3];
        return new[] { h * w * c, Dim.Of(1), w * c, c }.ToEquatableList();
    }

    /// <summary>A 4-D result of a convolution or pool on <paramref name="input"/>: channels-last when torch suggests it for the input.</summary>
    public static TensorMeta FollowChannelsLast(TensorMeta result, TensorMeta input) =>
        result.Rank == 4 && SuggestsChannelsLast(input) ? result with { StrideDims = ChannelsLastStrides(result.Shape) } : result;

    public static EquatableList<Dim> PreserveFormat(TensorMeta t) =>
        t.StrideDims is { } s && IsNonOverlappingAndDense(t.Shape.Dims, s) ? s : t.Shape.ContiguousStrideDims();

    /// <summary>Whether a tensor is contiguous as far as its expressions tell, without deciding anything from the sizes' values.</summary>
    private static bool KnownContiguous(TensorMeta t)
    {
        var (sizes, strides) = (t.Shape.Dims, t.StrideDims!);
        var expected = Dim.Of(1);
        for (var d = sizes.Count - 1; d >= 0; d--)
        {
            if (sizes[d].Value == 0) return true;
            if (!Sizes.IsOne(sizes[d]) && Sizes.Known(strides[d], SizeComparison.Eq, expected) != true) return false;
            expected *= sizes[d];
        }
        return true;
    }

    public static bool IsContiguous(IReadOnlyList<long> sizes, IReadOnlyList<long> strides) =>
        IsContiguous(sizes.Select(Dim.Of).ToList(), strides.Select(Dim.Of).ToList());

    public static bool IsContiguous(IReadOnlyList<Dim> sizes, IReadOnlyList<Dim> strides)
    {
        var expected = Dim.Of(1);
        for (var d = sizes.Count - 1; d >= 0; d--)
        {
            if (sizes[d].Value == 0) return true;
            if (!Sizes.IsOne(sizes[d]) && !Sizes.Equal(strides[d], expected, "whether a tensor is contiguous")) return false;
            expected *= sizes[d];
        }
        return true;
    }

    // c10's compute_non_overlapping_and_dense
    public static bool IsNonOverlappingAndDense(IReadOnlyList<long> sizes, IReadOnlyList<long> strides) =>
        IsNonOverlappingAndDense(sizes.Select(Dim.Of).ToList(), strides.Select(Dim.Of).ToList());

    public static bool IsNonOverlappingAndDense(IReadOnlyList<Dim> sizes, IReadOnlyList<Dim> strides)
    {
        const string why = "whether a tensor is dense";
        static bool Small(Dim d) => d.Value is < 2; // a symbol is taken as 2 or more: a dim of size 1 never breaks density
        if (sizes.Count == 1) return Small(sizes[0]) || Sizes.Equal(strides[0], Dim.Of(1), why);
        var perm = Enumerable.Range(0, sizes.Count).ToList();
        // a stable insertion sort: List.Sort would compare symbolic strides in an unspecified order
        for (var i = 1; i < perm.Count; i++)
            for (var j = i; j > 0 && Before(perm[j], perm[j - 1]); j--)
                (perm[j], perm[j - 1]) = (perm[j - 1], perm[j]);
        bool Before(int a, int b) => !Small(sizes[a]) && (Small(sizes[b]) || Sizes.CompareOblivious(strides[a], SizeComparison.Lt, strides[b], why));
        var required = Dim.Of(1);
        foreach (var d in perm)
        {
            if (Small(sizes[d])) return true;
            if (!Sizes.Equal(strides[d], required, why)) return false;
            required *= sizes[d];
        }
        return true;
    }
}
