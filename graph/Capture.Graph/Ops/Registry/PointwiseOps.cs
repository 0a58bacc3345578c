namespace Capture.Graphs;

// Unary pointwise ops. Transcendental ones compute in floating point (an int or bool input gives
// the default float type); the rest keep the input's type.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> PointwiseOps()
    {
        foreach (var name in new[] { "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "erf", "reciprocal" })
            yield return Def($"torch.{name}", "Tensor self", OpCategory.Pointwise, UnaryFloat, name,
                name == "rsqrt" ? (b, c) => b.Call(Ops.Reciprocal, b.Call(Ops.Sqrt, c.Raw("self"))) : null);
        foreach (var name in new[] { "neg", "abs", "floor", "ceil", "sign" })
            yield return Def($"torch.{name}", "Tensor self", OpCategory.Pointwise, UnarySame, name);
        yield return Def("torch.round", "Tensor self, *, int decimals=0", OpCategory.Pointwise, UnarySame, "round");
        yield return Def("torch.relu", "Tensor self", OpCategory.Pointwise, UnarySame, "relu");
        yield return Def("torch.nn.functional.relu", "Tensor input, bool inplace=False", OpCategory.Pointwise,
            c => NotInPlace(c, UnarySame(c)));
        yield return Def("torch.nn.functional.gelu", "Tensor input, *, str approximate='none'", OpCategory.Pointwise, Gelu,
            decompose: DecomposeGelu);
        yield return Def("torch.nn.functional.silu", "Tensor input, bool inplace=False", OpCategory.Pointwise,
            c => NotInPlace(c, SameDType(c)),
            decompose: (b, c) => b.Call(Ops.Mul, c.Raw("input"), b.Call(Ops.Sigmoid, c.Raw("input"))));
        yield return Def("torch.logical_not", "Tensor self", OpCategory.Pointwise,
            c => c.PointwiseResult(c.Tensor("self").Shape, DType.Bool), "logical_not");
    }

    private static TensorMeta FirstTensor(OpCall c) => c.Tensor(c.Op.Schema.Params[0].Name);

    private static ValueMeta UnaryFloat(OpCall c)
    {
        var t = FirstTensor(c);
        return c.PointwiseResult(t.Shape, t.DType.IsFloatingPoint() ? t.DType : TypePromotion.DefaultFloat);
    }

    private static ValueMeta UnarySame(OpCall c)
    {
        var t = FirstTensor(c);
        if (t.DType == DType.Bool && c.BaseOp == Ops.Neg)
            throw c.Error("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
        if (t.DType == DType.Bool && (c.BaseOp == Ops.Relu || c.BaseOp == Ops.FunctionalRelu))
            throw c.Error("Boolean inputs not supported for relu");
        return c.PointwiseResult(t.Shape, t.DType);
    }

    // gelu and silu keep the input's dtype: torch's meta rules accept any dtype; CPU kernels exist
    // for floating types only, so eager torch raises for the rest at run time.
    private static ValueMeta SameDType(OpCall c)
    {
        var t = FirstTensor(c);
        return c.PointwiseResult(t.Shape, t.DType);
    }

    private static ValueMeta NotInPlace(OpCall c, ValueMeta result) =>
        c.Bool("inplace")
            ? throw new NotSupportedException($"{c.Op.Name}(inplace=True) mutates its input; Capture graphs are functional (use the out-of-place form)")
            : result;

    private static ValueMeta Gelu(OpCall c)
    {
        if (c.Str("approximate") is not ("none" or "tanh") and var mode)
            throw c.Error($"approximate argument must be either none or tanh, not '{mode}'");
        return SameDType(c);
    }

    // gelu(x)        = x * 0.5 * (1 + erf(x / sqrt(2)))
    // gelu(x, tanh)  = x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
    private static Arg DecomposeGelu(GraphBuilder b, OpCall c)
    {
        var x = c.Raw("input");
        Arg inner = c.Str("approximate") == "tanh"
            ? b.Call(Ops.Tanh, b.Call(Ops.Mul, b.Call(Ops.Add, x,
                b.Call(Ops.Mul, b.Call(Ops.Pow, x, 3L), 0.044715)), Math.Sqrt(2 / Math.PI)))
            : b.Call(Ops.Erf, b.Call(Ops.Mul, x, 1 / Math.Sqrt(2)));
        return b.Call(Ops.Mul, b.Call(Ops.Mul, x, 0.5), b.Call(Ops.Add, inner, 1.0));
    }
}
