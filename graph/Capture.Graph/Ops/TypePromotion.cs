namespace Capture.Graphs;

/// <summary>A value taking part in type promotion: a tensor, or a Python number.</summary>
public abstract record Operand
{
    public sealed record Tensor(TensorMeta Meta) : Operand;
    public sealed record Number(ScalarKind Kind) : Operand;
}

/// <summary>
/// torch's type promotion (c10/core/ScalarType.h and ATen's result_type): tensors with dimensions
/// outrank zero-dim tensors, which outrank Python numbers, but only within a category (bool < int <
/// float): a higher category from a lower-ranked operand still wins, at that operand's default type.
/// </summary>
public static class TypePromotion
{
    /// <summary>torch.get_default_dtype(); Capture guards on it.</summary>
    public const DType DefaultFloat = DType.Float32;

    private static int Category(DType d) => d == DType.Bool ? 0 : d.IsFloatingPoint() ? 2 : 1;

    private static int Rank(DType d) => d switch
    {
        DType.Bool => 0,
        DType.Int32 => 1,
        DType.Int64 => 2,
        DType.Float16 or DType.BFloat16 => 3,
        DType.Float32 => 4,
        DType.Float64 => 5,
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };

    /// <summary>torch.promote_types.</summary>
    public static DType Promote(DType a, DType b)
    {
        if (a == b) return a;
        if (Rank(a) == 3 && Rank(b) == 3) return DType.Float32; // float16 with bfloat16
        return Rank(a) >= Rank(b) ? a : b;
    }

    public static DType NumberDType(ScalarKind kind) => kind switch
    {
        ScalarKind.Bool => DType.Bool,
        ScalarKind.Int => DType.Int64,
        _ => DefaultFloat,
    };

    /// <summary>torch.result_type over several operands.</summary>
    public static DType ResultType(params IEnumerable<Operand> operands)
    {
        DType? dim = null, zero = null, number = null;
        foreach (var operand in operands)
        {
            switch (operand)
            {
                case Operand.Tensor { Meta: var t } when t.Rank > 0:
                    dim = dim is { } d ? Promote(d, t.DType) : t.DType;
                    break;
                case Operand.Tensor { Meta: var t }:
                    zero = zero is { } z ? Promote(z, t.DType) : t.DType;
                    break;
                case Operand.Number n:
                    var nd = NumberDType(n.Kind);
                    number = number is { } w ? Promote(w, nd) : nd;
                    break;
            }
        }
        return Combine(dim, Combine(zero, number)) ?? throw new ArgumentException("result_type needs at least one operand");
    }

    // ATen's combine_categories: the higher-priority type wins unless the lower one is of a higher
    // category, in which case they are promoted.
    private static DType? Combine(DType? higher, DType? lower)
    {
        if (higher is not { } h) return lower;
        if (lower is not { } l) return h;
        if (h.IsFloatingPoint()) return h;
        if (h == DType.Bool || l.IsFloatingPoint()) return Promote(h, l);
        return Category(l) > Category(h) ? Promote(h, l) : h;
    }

    /// <summary>torch.can_cast: whether a computed type may be written into a tensor of another type.</summary>
    public static bool CanCast(DType from, DType to) => Category(from) <= Category(to);
}

public static class Broadcasting
{
    /// <summary>torch.broadcast_shapes; symbolic sizes are equal by expression, or by a guard the current <see cref="ShapeEnv"/> records.</summary>
    public static Shape Broadcast(string op, params IEnumerable<Shape> shapes)
    {
        var list = shapes.ToList();
        var rank = list.Count == 0 ? 0 : list.Max(s => s.Rank);
        var result = new Dim[rank];
        for (var i = 0; i < rank; i++) result[i] = Dim.Of(1);
        foreach (var shape in list)
        {
            for (var i = 0; i < shape.Rank; i++)
            {
                var at = rank - shape.Rank + i;
                var d = shape[i];
                var r = result[at];
                if (r == d || Sizes.IsOne(d)) continue;
                if (Sizes.IsOne(r)) { result[at] = d; continue; }
                var why = $"{op}: broadcasting at dimension {at}";
                if (Sizes.Equal(r, d, why))
                {
                    if (d.IsConcrete) result[at] = d; // guarded equal: keep the constant
                    continue;
                }
                // unequal sizes broadcast where one is 1: a symbol may be, in this call
                if (Sizes.IsOne(d, why)) continue;
                if (Sizes.IsOne(r, why)) { result[at] = d; continue; }
                throw new ShapeError(op, $"The size of tensor a ({r}) must match the size of tensor b ({d}) at non-singleton dimension {at}");
            }
        }
        return Shape.Of(result);
    }
}
