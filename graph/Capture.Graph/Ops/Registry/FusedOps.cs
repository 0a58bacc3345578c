namespace Capture.Graphs;

// torch's fused kernels that nn modules call on their fast paths (eval mode, grad off). Torch has no
// meta kernel for them, so their shape rules live here. Extern: backends call torch for them.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> FusedOps()
    {
        yield return Def("torch._transformer_encoder_layer_fwd",
            "Tensor src, int embed_dim, int num_heads, Tensor qkv_weight, Tensor qkv_bias, Tensor proj_weight, Tensor proj_bias, "
            + "bool use_gelu, bool norm_first, float eps, Tensor norm_weight_1, Tensor norm_bias_1, Tensor norm_weight_2, Tensor norm_bias_2, "
            + "Tensor ffn_weight_1, Tensor ffn_bias_1, Tensor ffn_weight_2, Tensor ffn_bias_2, Tensor? mask=None, int? mask_type=None",
            OpCategory.Extern, TransformerEncoderLayer,
            note: "nn.TransformerEncoderLayer's fast path (eval, grad off, batch_first); the result has src's shape");
        yield return Def("torch._native_multi_head_attention",
            "Tensor query, Tensor key, Tensor value, int embed_dim, int num_head, Tensor qkv_weight, Tensor qkv_bias, Tensor proj_weight, "
            + "Tensor proj_bias, Tensor? mask=None, bool need_weights=True, bool average_attn_weights=True, int? mask_type=None",
            OpCategory.Extern, NativeMultiHeadAttention,
            note: "nn.MultiheadAttention's fast path (eval, grad off, batch_first): (output with query's shape, the weights or None)");
    }

    // (attention output [B, L, E], weights [B, L, S] averaged over heads, [B, H, L, S] per head, or None)
    private static ValueMeta NativeMultiHeadAttention(OpCall c)
    {
        TensorMeta query = c.Tensor("query"), key = c.Tensor("key"), value = c.Tensor("value");
        if (query.Shape != key.Shape || query.Shape != value.Shape) throw c.Error("expected `query`/`key`/`value` shapes to match");
        if (query.Rank != 3) throw c.Error($"expected query of rank 3 (batch, sequence, embedding), got rank {query.Rank}");
        var embed = c.Int("embed_dim");
        if (query.Shape[2] != Dim.Of(embed)) throw c.Error($"query's last dim is {query.Shape[2]} but embed_dim is {embed}");
        c.RequireFloat(query, "_native_multi_head_attention");
        var output = c.Result(query.Shape, query.DType);
        ValueMeta weights = !c.Bool("need_weights") ? NoneMeta.Instance
            : c.Bool("average_attn_weights") ? c.Result(Shape.Of([query.Shape[0], query.Shape[1], key.Shape[1]]), query.DType)
            : c.Result(Shape.Of([query.Shape[0], Dim.Of(c.Int("num_head")), query.Shape[1], key.Shape[1]]), query.DType);
        return new TupleMeta(new[] { (ValueMeta)output, weights }.ToEquatableList());
    }

    private static ValueMeta TransformerEncoderLayer(OpCall c)
    {
        var src = c.Tensor("src");
        if (src.Rank != 3) throw c.Error($"expected src of rank 3 (batch, sequence, embedding), got rank {src.Rank}");
        var embed = c.Int("embed_dim");
        if (src.Shape[2] != Dim.Of(embed)) throw c.Error($"src's last dim is {src.Shape[2]} but embed_dim is {embed}");
        c.RequireFloat(src, "_transformer_encoder_layer_fwd");
        return c.Result(src.Shape, src.DType);
    }
}
