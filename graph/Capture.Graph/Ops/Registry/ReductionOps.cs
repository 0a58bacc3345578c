namespace Capture.Graphs;

// Reductions over dims (None or [] means all), with keepdim; integral sums widen to int64.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> ReductionOps()
    {
        const string sumSchema = "Tensor self, int[]? dim=None, bool keepdim=False, *, ScalarType? dtype=None";
        yield return Def("torch.sum", sumSchema, OpCategory.Reduction, Sum, "sum");
        yield return Def("torch.mean", sumSchema, OpCategory.Reduction, Mean, "mean",
            (b, c) => b.Call(Ops.Div, b.Call(Ops.Sum, [c.Raw("self"), c.Raw("dim"), c.Raw("keepdim")], [new("dtype", c.Raw("dtype"))]),
                (double)ReducedCount(c)));
        yield return Def("torch.amax", "Tensor self, int[] dim=[], bool keepdim=False", OpCategory.Reduction, AmaxAmin, "amax");
        yield return Def("torch.amin", "Tensor self, int[] dim=[], bool keepdim=False", OpCategory.Reduction, AmaxAmin, "amin");
        yield return Def("torch.max", "Tensor self, Number|Tensor? dim=None, bool keepdim=False", OpCategory.Reduction, MaxMin, "max");
        yield return Def("torch.min", "Tensor self, Number|Tensor? dim=None, bool keepdim=False", OpCategory.Reduction, MaxMin, "min");
        yield return Def("torch.argmax", "Tensor self, int? dim=None, bool keepdim=False", OpCategory.Reduction, ArgMaxMin, "argmax");
        yield return Def("torch.argmin", "Tensor self, int? dim=None, bool keepdim=False", OpCategory.Reduction, ArgMaxMin, "argmin");
        yield return Def("torch.prod", "Tensor self, int? dim=None, bool keepdim=False, *, ScalarType? dtype=None", OpCategory.Reduction, Sum, "prod");
        const string varSchema = "Tensor self, int[]? dim=None, bool? unbiased=None, bool keepdim=False, *, Number? correction=None";
        yield return Def("torch.var", varSchema, OpCategory.Reduction, VarStd, "var");
        yield return Def("torch.std", varSchema, OpCategory.Reduction, VarStd, "std");
        yield return Def("torch.softmax", "Tensor self, int dim, ScalarType? dtype=None", OpCategory.Reduction, Softmax, "softmax", DecomposeSoftmax);
        yield return Def("torch.log_softmax", "Tensor self, int dim, ScalarType? dtype=None", OpCategory.Reduction, Softmax, "log_softmax", DecomposeLogSoftmax);
        yield return Def("torch.nn.functional.softmax", "Tensor input, int? dim=None, int _stacklevel=3, ScalarType? dtype=None", OpCategory.Reduction, Softmax, decompose: DecomposeSoftmax);
        yield return Def("torch.nn.functional.log_softmax", "Tensor input, int? dim=None, int _stacklevel=3, ScalarType? dtype=None", OpCategory.Reduction, Softmax, decompose: DecomposeLogSoftmax);
        yield return Def("torch.logsumexp", "Tensor self, int[] dim, bool keepdim=False", OpCategory.Reduction, LogSumExp, "logsumexp", DecomposeLogSumExp);
        yield return Def("torch.any", "Tensor self, int? dim=None, bool keepdim=False", OpCategory.Reduction, AnyAll, "any");
        yield return Def("torch.all", "Tensor self, int? dim=None, bool keepdim=False", OpCategory.Reduction, AnyAll, "all");
    }

    /// <summary>The dims a reduction covers: none given (None or []) means all of them.</summary>
    private static IReadOnlyList<int> ReducedDims(OpCall c, TensorMeta t, IReadOnlyList<long>? dims)
    {
        if (dims is null || dims.Count == 0) return Enumerable.Range(0, t.Rank).ToArray();
        var wrapped = dims.Select(d => c.Dim(t, d)).ToArray();
        var repeated = wrapped.GroupBy(d => d).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null) throw c.Error($"dim {repeated.Key} appears multiple times in the list of dims");
        return t.Rank == 0 ? [] : wrapped;
    }

    private static Shape ReducedShape(TensorMeta t, IReadOnlyList<int> dims, bool keepdim) =>
        Shape.Of(t.Shape.Dims.Select((d, i) => (d, i)).Where(p => keepdim || !dims.Contains(p.i)).Select(p => dims.Contains(p.i) ? Dim.Of(1) : p.d));

    private static long ReducedCount(OpCall c)
    {
        var t = c.Tensor("self");
        return ReducedDims(c, t, c.OptInts("dim")).Aggregate(1L, (n, d) => n * t.Shape[d].Concrete("mean's decomposition"));
    }

    private static ValueMeta Sum(OpCall c)
    {
        var t = c.Tensor("self");
        var dims = ReducedDims(c, t, c.OptInts("dim"));
        var dtype = c.DType("dtype") ?? (t.DType.IsFloatingPoint() ? t.DType : DType.Int64);
        return c.Result(ReducedShape(t, dims, c.Bool("keepdim")), dtype);
    }

    private static ValueMeta Mean(OpCall c)
    {
        var t = c.Tensor("self");
        var dtype = c.DType("dtype") ?? t.DType;
        if (!dtype.IsFloatingPoint())
            throw c.Error($"mean(): could not infer output dtype. {(c.DType("dtype") is null ? "Input" : "Optional")} dtype must be either a floating point or complex dtype. Got: {dtype}");
        return c.Result(ReducedShape(t, ReducedDims(c, t, c.OptInts("dim")), c.Bool("keepdim")), dtype);
    }

    private static void RequireNonEmpty(OpCall c, TensorMeta t, IReadOnlyList<int> dims)
    {
        if (dims.Any(d => t.Shape[d].Value == 0) || (t.Rank == 0 ? false : dims.Count == 0 && t.Shape.Dims.Any(d => d.Value == 0)))
            throw c.Error("Expected reduction dim to be specified for input.numel() == 0, or the reduced dims to be non-empty");
    }

    private static ValueMeta AmaxAmin(OpCall c)
    {
        var t = c.Tensor("self");
        var dims = ReducedDims(c, t, c.Ints("dim"));
        RequireNonEmpty(c, t, dims);
        return c.Result(ReducedShape(t, dims, c.Bool("keepdim")), t.DType);
    }

    private static ValueMeta MaxMin(OpCall c)
    {
        var t = c.Tensor("self");
        if (c.IsTensor("dim")) // torch.max(a, b) is maximum
            return Promoted(c, "self", "dim");
        if (c.IsNone("dim"))
        {
            RequireNonEmpty(c, t, Enumerable.Range(0, t.Rank).ToArray());
            return c.Result(Shape.Scalar, t.DType);
        }
        var dims = ReducedDims(c, t, [c.Int("dim")]);
        RequireNonEmpty(c, t, dims);
        var shape = ReducedShape(t, dims, c.Bool("keepdim"));
        return new TupleMeta(EquatableList.Of<ValueMeta>(c.Result(shape, t.DType), TensorMeta.Contiguous(shape, DType.Int64)));
    }

    private static ValueMeta ArgMaxMin(OpCall c)
    {
        var t = c.Tensor("self");
        if (c.OptInt("dim") is not { } dim)
        {
            RequireNonEmpty(c, t, Enumerable.Range(0, t.Rank).ToArray());
            var keep = c.Bool("keepdim") ? Shape.Of(t.Shape.Dims.Select(_ => Dim.Of(1))) : Shape.Scalar;
            return TensorMeta.Contiguous(keep, DType.Int64);
        }
        var dims = ReducedDims(c, t, [dim]);
        RequireNonEmpty(c, t, dims);
        return TensorMeta.Contiguous(ReducedShape(t, dims, c.Bool("keepdim")), DType.Int64);
    }

    private static ValueMeta VarStd(OpCall c)
    {
        var t = c.Tensor("self");
        if (!c.IsNone("unbiased") && !c.IsNone("correction"))
            throw c.Error("Cannot specify both unbiased and correction");
        if (c.Supplied("correction") && !c.Supplied("dim")) // torch 1.13's correction overload has no default dim
            throw c.Error($"{c.Op.MethodName}() received an invalid combination of arguments: correction= needs dim (pass dim=None to reduce all)");
        c.RequireFloat(t, c.Op.MethodName!);
        return c.Result(ReducedShape(t, ReducedDims(c, t, c.OptInts("dim")), c.Bool("keepdim")), t.DType);
    }

    private static ValueMeta Softmax(OpCall c)
    {
        var t = FirstTensor(c);
        if (c.OptInt("dim") is not { } dim)
            throw new NotSupportedException($"{c.Op.Name} without dim: torch picks a dim implicitly (deprecated); pass dim explicitly");
        c.Dim(t, dim);
        return c.Result(t.Shape, c.DType("dtype") ?? t.DType);
    }

    // softmax(x, d) = exp(x - amax(x, d, keepdim)) / sum(exp(...), d, keepdim)
    private static Arg DecomposeSoftmax(GraphBuilder b, OpCall c)
    {
        var x = SoftmaxInput(b, c);
        var dim = Arg.Ints(c.Int("dim"));
        var shifted = b.Call(Ops.Sub, x, b.Call(Ops.Amax, x, dim, true));
        var e = b.Call(Ops.Exp, shifted);
        return b.Call(Ops.Div, e, b.Call(Ops.Sum, e, dim, true));
    }

    /// <summary>torch.softmax's self or F.softmax's input, converted to dtype= first when given.</summary>
    private static Arg SoftmaxInput(GraphBuilder b, OpCall c)
    {
        var input = c.Raw(c.Op.Schema.Params[0].Name);
        return c.DType("dtype") is { } dtype ? b.Call(Ops.To, [input, new DTypeArg(dtype)], method: true) : input;
    }

    // log_softmax(x, d) = (x - amax) - log(sum(exp(x - amax), d, keepdim))
    private static Arg DecomposeLogSoftmax(GraphBuilder b, OpCall c)
    {
        var x = SoftmaxInput(b, c);
        var dim = Arg.Ints(c.Int("dim"));
        var shifted = b.Call(Ops.Sub, x, b.Call(Ops.Amax, x, dim, true));
        return b.Call(Ops.Sub, shifted, b.Call(Ops.Log, b.Call(Ops.Sum, b.Call(Ops.Exp, shifted), dim, true)));
    }

    // logsumexp(x, d) = log(sum(exp(x - m), d)) + m, with m = amax(x, d) (and m = 0 where it is infinite)
    private static Arg DecomposeLogSumExp(GraphBuilder b, OpCall c)
    {
        var x = c.Tensor("self").DType.IsFloatingPoint() ? c.Raw("self") : b.Call(Ops.To, [c.Raw("self"), new DTypeArg(TypePromotion.DefaultFloat)], method: true);
        var dim = new ListArg(c.Ints("dim").Select(d => (Arg)d).ToEquatableList());
        var max = b.Call(Ops.Amax, x, dim, true);
        var safeMax = b.Call(Ops.Where, b.Call(Ops.Eq, b.Call(Ops.Abs, max), double.PositiveInfinity), 0.0, max);
        var sum = b.Call(Ops.Sum, b.Call(Ops.Exp, b.Call(Ops.Sub, x, safeMax)), dim, true);
        var result = b.Call(Ops.Add, b.Call(Ops.Log, sum), safeMax);
        return c.Bool("keepdim") ? result : b.Call(Ops.View, [result, Arg.Sizes(ReducedShape(c.Tensor("self"), ReducedDims(c, c.Tensor("self"), c.Ints("dim")), false).Dims)], method: true);
    }

    private static ValueMeta LogSumExp(OpCall c)
    {
        var t = c.Tensor("self");
        var dtype = t.DType.IsFloatingPoint() ? t.DType : TypePromotion.DefaultFloat;
        var dims = ReducedDims(c, t, c.Ints("dim"));
        // torch 1.13 reduces all dims for dim=[] but then fails to write the kept-dim result
        if (c.Ints("dim").Count == 0 && !c.Bool("keepdim") && t.Rank > 0 && t.Shape.Dims.All(d => d.Value != 0))
            throw c.Error($"output with shape [] doesn't match the broadcast shape [{string.Join(", ", Enumerable.Repeat(1, t.Rank))}]");
        return c.Result(ReducedShape(t, dims, c.Bool("keepdim")), dtype);
    }

    private static ValueMeta AnyAll(OpCall c)
    {
        var t = c.Tensor("self");
        var dims = c.OptInt("dim") is { } d ? ReducedDims(c, t, [d]) : Enumerable.Range(0, t.Rank).ToArray();
        var keep = c.Bool("keepdim") && c.OptInt("dim") is not null;
        return c.Result(ReducedShape(t, dims, keep), DType.Bool);
    }
}
