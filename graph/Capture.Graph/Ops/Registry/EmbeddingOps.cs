namespace Capture.Graphs;

// Embedding lookup and dropout. Training-mode dropout is random: it decomposes into what torch's CPU
// dropout does (a bernoulli(1 - p) mask of an empty_like, divided by 1 - p, times the input), so a
// graph draws the very numbers eager draws, and autograd saves the mask for the backward.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> EmbeddingOps()
    {
        yield return Def("torch.nn.functional.embedding",
            "Tensor input, Tensor weight, int? padding_idx=None, float? max_norm=None, float norm_type=2.0, bool scale_grad_by_freq=False, bool sparse=False",
            OpCategory.Extern, Embedding);
        yield return Def("torch.nn.functional.dropout", "Tensor input, float p=0.5, bool training=True, bool inplace=False", OpCategory.Random, Dropout,
            decompose: DecomposeDropout, note: RandomNote);
        yield return Def("torch.bernoulli", "Tensor input, float? p=None, *, Any generator=None", OpCategory.Random, Bernoulli, "bernoulli", note: RandomNote);
    }

    private static ValueMeta Embedding(OpCall c)
    {
        TensorMeta indices = c.Tensor("input"), weight = c.Tensor("weight");
        if (indices.DType is not (DType.Int64 or DType.Int32))
            throw c.Error($"Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got {indices.DType.TorchName()} instead");
        if (weight.Rank != 2) throw c.Error($"'weight' must be 2-D, got {weight.Rank}-D");
        if (!c.IsNone("max_norm")) throw new NotSupportedException("embedding(max_norm=...) renormalizes the weight in place; Capture graphs are functional");
        if (c.OptInt("padding_idx") is { } pad)
        {
            const string why = "embedding: padding_idx within num_embeddings";
            var rows = weight.Shape[0];
            if (pad >= 0 ? Sizes.Compare(Dim.Of(pad), SizeComparison.Ge, rows, why) : Sizes.Compare(Dim.Of(-pad), SizeComparison.Gt, rows, why)) throw c.Error("Padding_idx must be within num_embeddings");
        }
        return c.Result(Shape.Of(indices.Shape.Dims.Append(weight.Shape[1])), weight.DType);
    }

    private static ValueMeta Dropout(OpCall c)
    {
        var x = c.Tensor("input");
        var p = c.Float("p");
        if (p < 0 || p > 1) throw c.Error($"dropout probability has to be between 0 and 1, but got {p}");
        if (c.Bool("inplace")) throw new NotSupportedException("dropout(inplace=True) mutates its input; Capture graphs are functional");
        if (c.Bool("training") && p > 0 && !x.DType.IsFloatingPoint())
            throw c.Error($"dropout in training mode needs a floating-point input, got {x.DType.TorchName()}");
        return c.Result(x.Shape, x.DType);
    }

    // aten's _dropout_impl on CPU: noise = empty_like(x).bernoulli_(1 - p); noise.div_(1 - p); x * noise
    // (p == 1: x * 0). The identity in eval mode or with p == 0.
    private static Arg DecomposeDropout(GraphBuilder b, OpCall c)
    {
        var input = c.Raw("input");
        var p = c.Float("p");
        if (!c.Bool("training") || p == 0) return input;
        if (p == 1) return b.Call(Ops.Mul, input, 0.0);
        var noise = b.Call(Ops.Bernoulli, [b.Call(Ops.EmptyLike, input)], [new Kwarg("p", new FloatArg(1 - p))]);
        return b.Call(Ops.Mul, input, b.Call(Ops.Div, noise, 1 - p));
    }

    // 0/1 draws shaped like the input, in its dtype: with probability p, or each with the input's own value
    private static ValueMeta Bernoulli(OpCall c)
    {
        // with p the input gives only the shape and dtype; without, its values are the probabilities
        // (checked by torch when it runs: they are data)
        var x = c.Tensor("input");
        if (!c.IsNone("p") && c.Float("p") is var p && (p < 0 || p > 1)) throw c.Error($"bernoulli_ expects p to be in [0, 1], but got p={p}");
        return TensorMeta.Contiguous(x.Shape, x.DType);
    }
}
