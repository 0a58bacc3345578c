namespace Capture.Graphs;

// dtype conversions: x.to(dtype), x.to(other), x.float(), x.type_as(other)...
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> ConversionOps()
    {
        yield return Method("to", "Tensor self, Any a=None, Any b=None, *, ScalarType? dtype=None, bool non_blocking=False, bool copy=False, Any device=None, Any memory_format=None",
            OpCategory.Pointwise, To);
        foreach (var (method, dtype) in new[] { ("float", DType.Float32), ("double", DType.Float64), ("half", DType.Float16), ("bfloat16", DType.BFloat16),
                     ("long", DType.Int64), ("int", DType.Int32), ("bool", DType.Bool) })
            yield return Method(method, "Tensor self", OpCategory.Pointwise, c => Converted(c, c.Tensor("self"), dtype));
        yield return Method("type_as", "Tensor self, Tensor other", OpCategory.Pointwise, c => Converted(c, c.Tensor("self"), c.Tensor("other").DType));
    }

    /// <summary>A conversion to the same dtype returns the input itself in torch: a view of it.</summary>
    private static TensorMeta Converted(OpCall c, TensorMeta t, DType dtype) =>
        dtype == t.DType
            ? c.View(t, t.Shape, t.Strides)
            : TensorMeta.Contiguous(t.Shape, dtype, t.RequiresGrad && dtype.IsFloatingPoint(), t.Device) with { StrideDims = Layout.PreserveFormat(t) };

    private static ValueMeta To(OpCall c)
    {
        var t = c.Tensor("self");
        DType? target = c.DType("dtype");
        foreach (var name in new[] { "a", "b" })
        {
            switch (c.Raw(name))
            {
                case DTypeArg d: target = d.Value; break;
                case StrArg { Value: "cpu" } or NoneArg: break;
                case StrArg s: throw new NotSupportedException($"Tensor.to({s}): Capture runs on the CPU");
                case RefArg when c.IsTensor(name): target = c.Tensor(name).DType; break;
                case var other: throw c.Error($"to() received an invalid combination of arguments: {other}");
            }
        }
        if (c.Raw("device") is not (NoneArg or StrArg { Value: "cpu" })) throw new NotSupportedException("Tensor.to(device=...): Capture runs on the CPU");
        return c.Bool("copy") && (target ?? t.DType) == t.DType
            ? c.Result(t.Shape, t.DType) with { StrideDims = Layout.PreserveFormat(t) }
            : Converted(c, t, target ?? t.DType);
    }
}
