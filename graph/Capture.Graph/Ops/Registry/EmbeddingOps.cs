namespace Capture.Graphs;

// Embedding lookup and dropout. Dropout enters graphs only where it is the identity (eval, or
// p=0); training-mode dropout is random and is refused clearly until the random-op work lands.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> EmbeddingOps()
    {
        yield return Def("torch.nn.functional.embedding",
            "Tensor input, Tensor weight, int? padding_idx=None, float? max_norm=None, float norm_type=2.0, bool scale_grad_by_freq=False, bool sparse=False",
            OpCategory.Extern, Embedding);
        yield return Def("torch.nn.functional.dropout", "Tensor input, float p=0.5, bool training=True, bool inplace=False", OpCategory.Random, Dropout, note: RandomNote);
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
            var rows = weight.Shape[0].Concrete("embedding");
            if (pad >= rows || pad < -rows) throw c.Error("Padding_idx must be within num_embeddings");
        }
        return c.Result(Shape.Of(indices.Shape.Dims.Append(weight.Shape[1])), weight.DType);
    }

    private static ValueMeta Dropout(OpCall c)
    {
        var x = c.Tensor("input");
        var p = c.Float("p");
        if (p < 0 || p > 1) throw c.Error($"dropout probability has to be between 0 and 1, but got {p}");
        if (c.Bool("inplace")) throw new NotSupportedException("dropout(inplace=True) mutates its input; Capture graphs are functional");
        if (c.Bool("training") && p > 0)
            throw new NotSupportedException("dropout in training mode (p > 0) is random: Capture supports it only in eval mode or with p=0 for now");
        return c.Result(x.Shape, x.DType);
    }
}
