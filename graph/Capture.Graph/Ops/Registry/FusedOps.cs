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
            OpCategory.Extern, TransformerEncoderLayer, decompose: DecomposeTransformerEncoderLayer,
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
        if (!Sizes.Equal(query.Shape, key.Shape, "attention: query and key shapes") || !Sizes.Equal(query.Shape, value.Shape, "attention: query and value shapes")) throw c.Error("expected `query`/`key`/`value` shapes to match");
        if (query.Rank != 3) throw c.Error($"expected query of rank 3 (batch, sequence, embedding), got rank {query.Rank}");
        var embed = c.Int("embed_dim");
        if (!Sizes.Equal(query.Shape[2], Dim.Of(embed), "attention: embed_dim")) throw c.Error($"query's last dim is {query.Shape[2]} but embed_dim is {embed}");
        c.RequireFloat(query, "_native_multi_head_attention");
        var output = c.Result(query.Shape, query.DType);
        ValueMeta weights = !c.Bool("need_weights") ? NoneMeta.Instance
            : c.Bool("average_attn_weights") ? c.Result(Shape.Of([query.Shape[0], query.Shape[1], key.Shape[1]]), query.DType)
            : c.Result(Shape.Of([query.Shape[0], Dim.Of(c.Int("num_head")), query.Shape[1], key.Shape[1]]), query.DType);
        return new TupleMeta(new[] { (ValueMeta)output, weights }.ToEquatableList());
    }

    // The layer in the ops its slow path runs (torch's transformer_encoder_layer_forward computes the
    // same): self-attention with the packed in-projection, then the feed-forward block, each added to
    // its input, layer-normalized after (or before, norm_first). As parts, its products go to BLAS and
    // its softmax, layer norms, activation and residual adds fuse into kernels; the fused op runs each
    // through torch. Without a mask only: a masked call stays one op.
    //   per head h: softmax(q_h k_h^T / sqrt(D)) v_h, with q, k, v = split(x W_qkv^T + b_qkv) into H heads of D
    private static Arg DecomposeTransformerEncoderLayer(GraphBuilder b, OpCall c)
    {
        if (!c.IsNone("mask")) throw new NotSupportedException("_transformer_encoder_layer_fwd with a mask stays one op");
        var src = c.Tensor("src");
        var sizes = src.Shape.Concrete("_transformer_encoder_layer_fwd");
        long batch = sizes[0], length = sizes[1], embed = c.Int("embed_dim"), heads = c.Int("num_heads");
        if (heads <= 0 || embed % heads != 0) throw new NotSupportedException($"embed_dim {embed} is not a multiple of num_heads {heads}");
        var head = embed / heads;
        var normFirst = c.Bool("norm_first");
        var eps = c.Float("eps");
        Arg Norm(Arg x, int which) => b.Call(Ops.LayerNorm, x, Arg.Ints(embed), c.Raw($"norm_weight_{which}"), c.Raw($"norm_bias_{which}"), eps);
        Arg Heads(Arg qkv, long part) // [B, T, 3E] -> [B*H, T, D] of one of q, k, v
        {
            var slice = b.Call(Ops.Narrow, qkv, 2L, part * embed, embed);
            var split = b.Call(Ops.View, [slice, Arg.Ints(batch, length, heads, head)], method: true);
            return b.Call(Ops.Reshape, b.Call(Ops.Transpose, split, 1L, 2L), Arg.Ints(batch * heads, length, head));
        }

        Arg x = c.Raw("src");
        var attentionInput = normFirst ? Norm(x, 1) : x;
        var packed = b.Call(Ops.Linear, attentionInput, c.Raw("qkv_weight"), c.Raw("qkv_bias"));
        var q = b.Call(Ops.Mul, Heads(packed, 0), 1.0 / Math.Sqrt(head));
        var k = Heads(packed, 1);
        var v = Heads(packed, 2);
        var weights = b.Call(Ops.FunctionalSoftmax, b.Call(Ops.Bmm, q, b.Call(Ops.Transpose, k, 1L, 2L)), -1L);
        var perHead = b.Call(Ops.View, [b.Call(Ops.Bmm, weights, v), Arg.Ints(batch, heads, length, head)], method: true);
        var merged = b.Call(Ops.Reshape, b.Call(Ops.Transpose, perHead, 1L, 2L), Arg.Ints(batch, length, embed));
        x = b.Call(Ops.Add, x, b.Call(Ops.Linear, merged, c.Raw("proj_weight"), c.Raw("proj_bias")));
        if (!normFirst) x = Norm(x, 1);
        var feedInput = normFirst ? Norm(x, 2) : x;
        var hidden = b.Call(Ops.Linear, feedInput, c.Raw("ffn_weight_1"), c.Raw("ffn_bias_1"));
        hidden = c.Bool("use_gelu") ? b.Call(Ops.Gelu, hidden) : b.Call(Ops.Relu, hidden);
        x = b.Call(Ops.Add, x, b.Call(Ops.Linear, hidden, c.Raw("ffn_weight_2"), c.Raw("ffn_bias_2")));
        if (!normFirst) x = Norm(x, 2);
        return x;
    }

    private static ValueMeta TransformerEncoderLayer(OpCall c)
    {
        var src = c.Tensor("src");
        if (src.Rank != 3) throw c.Error($"expected src of rank 3 (batch, sequence, embedding), got rank {src.Rank}");
        var embed = c.Int("embed_dim");
        if (!Sizes.Equal(src.Shape[2], Dim.Of(embed), "encoder layer: embed_dim")) throw c.Error($"src's last dim is {src.Shape[2]} but embed_dim is {embed}");
        c.RequireFloat(src, "_transformer_encoder_layer_fwd");
        return c.Result(src.Shape, src.DType);
    }
}
