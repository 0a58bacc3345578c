namespace Capture.Graphs;

// Tensor creation. rand/randn are Random: a graph holding them must be guarded on the RNG state or
// broken on (the capture paths decide); their shape rules are ordinary.
public static partial class OpRegistry
{
    internal const string RandomNote =
        "random: its values depend on torch's generator state, so a capture holding it must guard on that state or break the graph at this call";

    private const string Factory = "*, ScalarType? dtype=None, Any layout=None, Any device=None, bool pin_memory=False, bool requires_grad=False";

    private static IEnumerable<OpDef> CreationOps()
    {
        foreach (var name in new[] { "zeros", "ones", "empty" })
            yield return Def($"torch.{name}", $"int... size, {Factory}", OpCategory.Creation, c => Factory_(c, c.SizesOrInts("size"), TypePromotion.DefaultFloat));
        foreach (var name in new[] { "rand", "randn" })
            yield return Def($"torch.{name}", $"int... size, *, Any generator=None, ScalarType? dtype=None, Any layout=None, Any device=None, bool pin_memory=False, bool requires_grad=False",
                OpCategory.Random, c => RandomFactory(c, c.SizesOrInts("size"), null), note: RandomNote);
        yield return Def("torch.full", $"int[] size, Number fill_value, {Factory}", OpCategory.Creation, Full);
        yield return Def("torch.arange", $"Number start, Number? end=None, Number step=1, {Factory}", OpCategory.Creation, Arange);
        const string like = "*, ScalarType? dtype=None, Any layout=None, Any device=None, bool pin_memory=False, bool requires_grad=False, Any memory_format=None";
        foreach (var name in new[] { "zeros_like", "ones_like", "empty_like" })
            yield return Def($"torch.{name}", $"Tensor self, {like}", OpCategory.Creation, c => Like(c, Factory_(c, c.Tensor("self").Shape, c.Tensor("self").DType)));
        yield return Def("torch.full_like", $"Tensor self, Number fill_value, {like}", OpCategory.Creation, c => Like(c, Factory_(c, c.Tensor("self").Shape, c.Tensor("self").DType)));
        foreach (var name in new[] { "rand_like", "randn_like" })
            yield return Def($"torch.{name}", $"Tensor self, {like}", OpCategory.Random, c => Like(c, RandomFactory(c, null, c.Tensor("self"))), note: RandomNote);
        yield return Def("torch.multinomial", "Tensor self, int num_samples, bool replacement=False, *, Any generator=None", OpCategory.Random, Multinomial, "multinomial", note: RandomNote);
    }

    // samples per row of a probability vector (or matrix): int64 indices
    private static ValueMeta Multinomial(OpCall c)
    {
        var self = c.Tensor("self");
        var samples = c.Int("num_samples");
        if (self.Rank is not (1 or 2)) throw c.Error("prob_dist must be 1 or 2 dim");
        if (!self.DType.IsFloatingPoint()) throw c.Error($"multinomial only supports floating-point dtypes for input, got: {Capitalized(self.DType)}");
        if (samples <= 0) throw c.Error("cannot sample n_sample <= 0 samples");
        var categories = Sizes.Value(self.Shape[self.Rank - 1], "multinomial: the number of categories");
        if (!c.Bool("replacement") && samples > categories) throw c.Error("cannot sample n_sample > prob_dist.size(-1) samples without replacement");
        var shape = self.Rank == 1 ? Shape.Of([samples]) : Shape.Of([self.Shape[0], samples]);
        return c.Result(shape, DType.Int64);
    }

    // *_like ops allocate with memory_format=torch.preserve_format
    private static TensorMeta Like(OpCall c, TensorMeta meta) => meta with { StrideDims = Layout.PreserveFormat(c.Tensor("self")) };

    private static void CpuOnly(OpCall c)
    {
        if (c.Raw("device") is not (NoneArg or StrArg { Value: "cpu" }))
            throw new NotSupportedException($"{c.Op.Name}: device {c.Raw("device")} (Capture runs on the CPU)");
    }

    private static TensorMeta Factory_(OpCall c, IReadOnlyList<SizeOrInt> sizes, DType fallback)
    {
        if (sizes.FirstOrDefault(s => s.Int < 0).Int is { } negative and < 0)
            throw c.Error($"Trying to create tensor with negative dimension {negative}: [{string.Join(", ", sizes.Select(s => s.AsDimOrNegative()))}]");
        return Factory_(c, Shape.Of(sizes.Select(s => s.AsDim)), fallback);
    }

    private static TensorMeta Factory_(OpCall c, Shape shape, DType fallback)
    {
        CpuOnly(c);
        var dtype = c.DType("dtype") ?? fallback;
        var requiresGrad = c.Bool("requires_grad");
        if (requiresGrad && !dtype.IsFloatingPoint()) throw c.Error("Only Tensors of floating point and complex dtype can require gradients");
        return TensorMeta.Contiguous(shape, dtype, requiresGrad);
    }

    private static TensorMeta RandomFactory(OpCall c, IReadOnlyList<SizeOrInt>? sizes, TensorMeta? like)
    {
        var meta = like is null ? Factory_(c, sizes!, TypePromotion.DefaultFloat) : Factory_(c, like.Shape, like.DType);
        if (like is null && !meta.DType.IsFloatingPoint()) throw c.Error($"\"{c.Op.Name.Replace("torch.", "").Replace("_like", "")}\" is not implemented for {meta.DType.TorchName()}: it needs a floating point dtype");
        return meta;
    }

    private static ValueMeta Full(OpCall c)
    {
        var fill = c.Operand("fill_value") is Operand.Number n ? TypePromotion.NumberDType(n.Kind) : TypePromotion.DefaultFloat;
        return Factory_(c, c.SizesOrInts("size"), fill);
    }

    private static ValueMeta Arange(OpCall c)
    {
        if (c.Raw("start") is SizeArg || c.Raw("end") is SizeArg) return SymbolicArange(c);
        double start = 0, end, step = c.Float("step");
        if (c.IsNone("end")) end = c.Float("start");
        else { start = c.Float("start"); end = c.Float("end"); }
        var allInts = new[] { "start", "end", "step" }.All(n => c.Raw(n) is IntArg or NoneArg);
        if (step == 0) throw c.Error("step must be nonzero");
        if ((step > 0 && end < start) || (step < 0 && end > start)) throw c.Error("upper bound and larger bound inconsistent with step sign");
        var dtype = c.DType("dtype") ?? (allInts ? DType.Int64 : TypePromotion.DefaultFloat);
        var length = (long)Math.Ceiling((end - start) / step);
        CpuOnly(c);
        return TensorMeta.Contiguous(new Shape(length), dtype, c.Bool("requires_grad"));
    }

    /// <summary>arange with a symbolic bound (torch.arange(T)): integer start, end and step; its length a size expression.</summary>
    private static ValueMeta SymbolicArange(OpCall c)
    {
        var (start, end) = c.IsNone("end") ? (Dim.Of(0), c.Size("start")) : (c.Size("start"), c.Size("end"));
        if (c.Raw("step") is not IntArg { Value: > 0 and var step })
            throw new NotSupportedException($"torch.arange with a symbolic bound and step {c.Raw("step")}: only a positive int step is supported");
        if (Sizes.Compare(end, SizeComparison.Lt, start, "arange: the bounds' order"))
            throw c.Error("upper bound and larger bound inconsistent with step sign");
        var dtype = c.DType("dtype") ?? DType.Int64;
        CpuOnly(c);
        return TensorMeta.Contiguous(Shape.Of(Dim.FloorDiv(end - start + Dim.Of(step - 1), Dim.Of(step))), dtype, c.Bool("requires_grad"));
    }
}
