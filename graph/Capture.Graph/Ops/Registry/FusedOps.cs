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
