namespace Capture.Graphs;

// ATen's backward kernels, called by derivative rules (graph/Autograd) where a gradient has no
// good expression in forward ops: convolution, pooling, embedding, and scattering a slice back
// into zeros. Backends run them through torch (torch.ops.aten.*); each result has the metadata of
// the forward input it is the gradient of.
public static partial class OpRegistry
{
    // one row per ATen op (torch.ops.aten.NAME): name, schema, category, shape rule
    private static IEnumerable<OpDef> BackwardOps() => new (string Name, string Schema, OpCategory Category, ShapeRule Rule)[]
    {
        ("convolution_backward", "Tensor grad_output, Tensor input, Tensor weight, int[]? bias_sizes, int[] stride, int[] padding, int[] dilation, bool transposed, int[] output_padding, int groups, Any output_mask", OpCategory.Extern, ConvolutionBackward),
        ("max_pool2d_with_indices", "Tensor self, int[] kernel_size, int[] stride, int[] padding, int[] dilation, bool ceil_mode", OpCategory.Reduction, MaxPoolWithIndices),
        ("max_pool2d_with_indices_backward", "Tensor grad_output, Tensor self, int[] kernel_size, int[] stride, int[] padding, int[] dilation, bool ceil_mode, Tensor indices", OpCategory.Extern, c => GradientOf(c, c.Tensor("self"))),
        ("avg_pool2d_backward", "Tensor grad_output, Tensor self, int[] kernel_size, int[] stride, int[] padding, bool ceil_mode, bool count_include_pad, int? divisor_override", OpCategory.Extern, c => GradientOf(c, c.Tensor("self"))),
        ("_adaptive_avg_pool2d_backward", "Tensor grad_output, Tensor self", OpCategory.Extern, c => GradientOf(c, c.Tensor("self"))),
        ("embedding_dense_backward", "Tensor grad_output, Tensor indices, int num_weights, int padding_idx, bool scale_grad_by_freq", OpCategory.Extern, EmbeddingBackward),
        ("slice_backward", "Tensor grad_output, int[] input_sizes, int dim, int start, int end, int step", OpCategory.Extern, c => ScatteredBack(c, c.Tensor("grad_output"))),
        ("select_backward", "Tensor grad_output, int[] input_sizes, int dim, int index", OpCategory.Extern, c => ScatteredBack(c, c.Tensor("grad_output"))),
    }.Select(r => Def("torch.ops.aten." + r.Name, r.Schema, r.Category, r.Rule));

    /// <summary>A gradient shaped like <paramref name="input"/>, in the gradient's dtype, contiguous.</summary>
    private static TensorMeta GradientOf(OpCall c, TensorMeta input) =>
        c.Result(input.Shape, c.Tensor("grad_output").DType);

    private static ValueMeta ScatteredBack(OpCall c, TensorMeta grad)
    {
        var sizes = c.SizesOrInts("input_sizes");
        if (sizes.Any(s => s.Int < 0)) throw c.Error($"input_sizes must not be negative, got [{string.Join(", ", sizes.Select(s => s.AsDimOrNegative()))}]");
        var dim = c.Int("dim");
        if (dim < -sizes.Count || dim >= sizes.Count) throw c.Error($"Dimension out of range (expected to be in range of [{-sizes.Count}, {sizes.Count - 1}], but got {dim})");
        return c.Result(Shape.Of(sizes.Select(s => s.AsDim)), grad.DType);
    }

    private static ValueMeta ConvolutionBackward(OpCall c)
    {
        var grad = c.Tensor("grad_output");
        var input = c.Tensor("input");
        var weight = c.Tensor("weight");
        var mask = c.Raw("output_mask") is ListArg { Items.Count: 3 } l && l.Items.All(i => i is BoolArg)
            ? l.Items.Select(i => ((BoolArg)i).Value).ToArray()
            : throw c.Error("output_mask must be a list of 3 bools");
        if (grad.Rank != input.Rank || weight.Rank != input.Rank)
            throw c.Error($"grad_output, input and weight must have the same rank (got {grad.Rank}, {input.Rank}, {weight.Rank})");
        ValueMeta biasGrad = !c.IsNone("bias_sizes") && mask[2] ? c.Result(Shape.Of(c.SizesOrInts("bias_sizes").Select(s => s.AsDim)), grad.DType) : NoneMeta.Instance;
        return new TupleMeta(new ValueMeta[]
        {
            mask[0] ? GradientOf(c, input) : NoneMeta.Instance,
            mask[1] ? GradientOf(c, weight) : NoneMeta.Instance,
            biasGrad,
        }.ToEquatableList());
    }

    private static ValueMeta MaxPoolWithIndices(OpCall c)
    {
        var pooled = (TensorMeta)c.Bind(Ops.MaxPool2d,
            [c.Raw("self"), c.Raw("kernel_size"), c.Raw("stride"), c.Raw("padding"), c.Raw("dilation"), c.Raw("ceil_mode")]).Infer();
        return new TupleMeta(new ValueMeta[] { pooled, pooled with { DType = DType.Int64, RequiresGrad = false } }.ToEquatableList());
    }

    private static ValueMeta EmbeddingBackward(OpCall c)
    {
        var grad = c.Tensor("grad_output");
        if (grad.Rank == 0) throw c.Error("grad_output must have at least one dimension");
        return c.Result(Shape.Of(new[] { c.Size("num_weights"), grad.Shape[grad.Rank - 1] }), grad.DType);
    }
}
