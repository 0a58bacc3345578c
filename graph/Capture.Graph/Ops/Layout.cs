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
    public static EquatableList<long>? Pointwise(Shape shape, IReadOnlyList<TensorMeta> inputs)
    {
        if (!shape.IsConcrete || inputs.Any(t => t.Strides is null || !t.Shape.IsConcrete)) return shape.ContiguousStrides();
        var sizes = shape.Concrete();
        var ndim = sizes.Count;
        if (ndim == 0) return EquatableList<long>.Empty;
        if (inputs.Count > 0 && inputs.All(t => t.Shape == shape))
        {
            if (inputs.All(t => IsContiguous(t.Shape.Concrete(), t.Strides!))) return shape.ContiguousStrides();
            if (inputs.All(t => IsNonOverlappingAndDense(t.Shape.Concrete(), t.Strides!)) && inputs.All(t => t.Strides!.Equals(inputs[0].Strides)))
                return inputs[0].Strides;
        }
        // Byte strides of each input broadcast to the output's rank, 0 on broadcast dims.
        var operands = inputs.Select(t =>
        {
            var own = t.Shape.Concrete();
            var strides = new long[ndim];
            for (var i = 0; i < own.Count; i++)
            {
                var at = ndim - own.Count + i;
                strides[at] = own[i] == 1 && sizes[at] != 1 ? 0 : t.Strides![i] * t.DType.ItemSize();
            }
            return strides;
        }).ToList();
        int ShouldSwap(int dim0, int dim1)
        {
            foreach (var s in operands)
            {
                long s0 = s[dim0], s1 = s[dim1];
                if (s0 == 0 || s1 == 0) continue;
                if (s0 < s1) return -1;
                if (s0 > s1) return 1;
                if (sizes[dim0] > sizes[dim1]) return 1;
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
        var result = new long[ndim];
        long stride = 1;
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
        if (t.Rank != 4 || t.Strides is not { } strides || !t.Shape.IsConcrete) return false;
        var sizes = t.Shape.Concrete();
        if (strides[1] == 0) return false;
        long min = 0;
        foreach (var d in new[] { 1, 3, 2, 0 })
        {
            if (sizes[d] == 0 || strides[d] < min) return false;
            // an N x 1 x 1 x 1 tensor whose N stride equals its C stride is contiguous, not channels-last
            if (d == 0 && min == strides[1]) return false;
            min = strides[d];
            if (sizes[d] > 1) min *= sizes[d];
        }
        return true;
    }

    /// <summary>A 4-D result of a convolution or pool on <paramref name="input"/>: channels-last when torch suggests it for the input.</summary>
    public static TensorMeta FollowChannelsLast(TensorMeta result, TensorMeta input) =>
        result.Rank == 4 && result.Shape.IsConcrete && SuggestsChannelsLast(input) ? result with { Strides = ChannelsLastStrides(result.Shape.Concrete()) } : result;

    public static EquatableList<long>? PreserveFormat(TensorMeta t) =>
        t.Strides is { } s && t.Shape.IsConcrete && IsNonOverlappingAndDense(t.Shape.Concrete(), s) ? s : t.Shape.ContiguousStrides();

    public static bool IsContiguous(IReadOnlyList<long> sizes, IReadOnlyList<long> strides)
    {
        long expected = 1;
        for (var d = sizes.Count - 1; d >= 0; d--)
        {
            if (sizes[d] == 0) return true;
            if (sizes[d] != 1 && strides[d] != expected) return false;
            expected *= sizes[d];
        }
        return true;
    }

    // c10's compute_non_overlapping_and_dense
    public static bool IsNonOverlappingAndDense(IReadOnlyList<long> sizes, IReadOnlyList<long> strides)
    {
        if (sizes.Count == 1) return sizes[0] < 2 || strides[0] == 1;
        var perm = Enumerable.Range(0, sizes.Count).ToList();
        perm.Sort((a, b) => sizes[a] < 2 && sizes[b] < 2 ? 0 : sizes[a] < 2 ? 1 : sizes[b] < 2 ? -1 : strides[a].CompareTo(strides[b]));
        long required = 1;
        foreach (var d in perm)
        {
            if (sizes[d] < 2) return true;
            if (strides[d] != required) return false;
            required *= sizes[d];
        }
        return true;
    }
}
