namespace Capture.Graphs;

// Matrix products, normalization, convolution and pooling.
//   mm(a, b): a takes g @ b^T, b takes a^T @ g (batched and broadcast for matmul)
//   layer_norm: dx = rstd * (dxh - mean(dxh) - xh * mean(dxh * xh)), with xh the normalized x
//   conv, pooling: ATen's backward kernels (OpRegistry.BackwardOps)
public static partial class Derivatives
{
    private static void LinearAlgebraRules(Dictionary<OpDef, DerivativeRule> rules)
    {
        Add(rules, (b, c, y, g) => Grads(c,
            ("self", F(b, Ops.Mm, g, F(b, Ops.T, c.Raw("mat2")))),
            ("mat2", F(b, Ops.Mm, F(b, Ops.T, c.Raw("self")), g))), Ops.Mm);
        Add(rules, (b, c, y, g) => Grads(c,
            ("self", F(b, Ops.Bmm, g, F(b, Ops.Transpose, c.Raw("mat2"), 1L, 2L))),
            ("mat2", F(b, Ops.Bmm, F(b, Ops.Transpose, c.Raw("self"), 1L, 2L), g))), Ops.Bmm);
        Add(rules, MatmulRule, Ops.Matmul);
        Add(rules, (b, c, y, g) => Grads(c,
            ("self", Scaled(b, g, c.Raw("beta"), negate: false)),
            ("mat1", Scaled(b, F(b, Ops.Mm, g, F(b, Ops.T, c.Raw("mat2"))), c.Raw("alpha"), negate: false)),
            ("mat2", Scaled(b, F(b, Ops.Mm, F(b, Ops.T, c.Raw("mat1")), g), c.Raw("alpha"), negate: false))), Ops.Addmm);
        Add(rules, (b, c, y, g) => Grads(c,
            ("self", Scaled(b, g, c.Raw("beta"), negate: false)),
            ("batch1", Scaled(b, F(b, Ops.Bmm, g, F(b, Ops.Transpose, c.Raw("batch2"), 1L, 2L)), c.Raw("alpha"), negate: false)),
            ("batch2", Scaled(b, F(b, Ops.Bmm, F(b, Ops.Transpose, c.Raw("batch1"), 1L, 2L), g), c.Raw("alpha"), negate: false))), Ops.Baddbmm);
        Add(rules, LinearRule, Ops.Linear);
        Add(rules, LayerNormRule, Ops.LayerNorm);
        Add(rules, (b, c, y, g) => ConvolutionRule(b, c, g, 1), Ops.Conv1d);
        Add(rules, (b, c, y, g) => ConvolutionRule(b, c, g, 2), Ops.Conv2d, Ops.MkldnnConvolution);
        Add(rules, MaxPoolRule, Ops.MaxPool2d);
        Add(rules, (b, c, y, g) => Grads(c, ("input", F(b, Ops.AvgPool2dBackward, g, c.Raw("input"),
            Arg.Ints(Pair(c, "kernel_size")), Arg.Ints(c.IsNone("stride") ? Pair(c, "kernel_size") : Pair(c, "stride")), Arg.Ints(Pair(c, "padding")),
            c.Raw("ceil_mode"), c.Raw("count_include_pad"), c.Raw("divisor_override")))), Ops.AvgPool2d);
        Add(rules, (b, c, y, g) => Grads(c, ("input", F(b, Ops.AdaptiveAvgPool2dBackward, g, c.Raw("input")))), Ops.AdaptiveAvgPool2d);
    }

    // matmul: 1-d operands are made 2-d (and the gradient's extra dim dropped), batch dims
    // broadcast: the joint graph sums each gradient back to its operand's shape
    private static IReadOnlyList<Arg?> MatmulRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        Arg a = c.Raw("self"), m = c.Raw("other");
        var aSizes = Sizes(b, a);
        var mSizes = Sizes(b, m);
        if (aSizes.Count == 0 || mSizes.Count == 0) throw new NotSupportedException("matmul with a 0-dim operand");
        var a2 = aSizes.Count == 1 ? F(b, Ops.Unsqueeze, a, 0L) : a;
        var m2 = mSizes.Count == 1 ? F(b, Ops.Unsqueeze, m, -1L) : m;
        Arg g2 = g;
        if (aSizes.Count == 1) g2 = F(b, Ops.Unsqueeze, g2, mSizes.Count == 1 ? 0L : -2L);
        if (mSizes.Count == 1) g2 = F(b, Ops.Unsqueeze, g2, -1L);
        var ga = F(b, Ops.Matmul, g2, F(b, Ops.Transpose, m2, -1L, -2L));
        var gm = F(b, Ops.Matmul, F(b, Ops.Transpose, a2, -1L, -2L), g2);
        var gaSized = SumTo(b, ga, Sizes(b, a2));
        var gmSized = SumTo(b, gm, Sizes(b, m2));
        return Grads(c, ("self", Reshape(b, gaSized, aSizes)), ("other", Reshape(b, gmSized, mSizes)));
    }

    // linear(x, W, b) = x @ W^T + b: x takes g @ W, W takes g^T @ x over all leading dims, b sums g
    private static IReadOnlyList<Arg?> LinearRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var x = c.Raw("input");
        var w = c.Raw("weight");
        var wSizes = Sizes(b, w);
        if (wSizes.Count != 2)
        {
            // a 1-d weight: y = x @ w (+ b), one value per row of x
            var column = F(b, Ops.Unsqueeze, g, -1L);
            return Grads(c, ("input", Mul(b, column, w)), ("weight", Mul(b, column, x)), ("bias", c.IsNone("bias") ? null : g));
        }
        var xSizes = Sizes(b, x);
        var g2 = F(b, Ops.Reshape, g, new ListArg(EquatableList.Of<Arg>(-1L, Arg.Size(wSizes[0]))));
        var x2 = F(b, Ops.Reshape, x, new ListArg(EquatableList.Of<Arg>(-1L, Arg.Size(xSizes[^1]))));
        return Grads(c,
            ("input", F(b, Ops.Matmul, g, w)),
            ("weight", F(b, Ops.Mm, F(b, Ops.T, g2), x2)),
            ("bias", c.IsNone("bias") ? null : g));
    }

    private static IReadOnlyList<Arg?> LayerNormRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var x = c.Raw("input");
        var rank = c.Tensor("input").Rank;
        var count = c.Ints("normalized_shape").Count;
        var dims = Arg.Ints(Enumerable.Range(rank - count, count).Select(d => (long)d));
        var centered = SubT(b, x, F(b, Ops.Mean, x, dims, true));
        var rstd = F(b, Ops.Rsqrt, AddT(b, F(b, Ops.Mean, Mul(b, centered, centered), dims, true), c.Float("eps")));
        var normalized = Mul(b, centered, rstd);
        Arg gNormalized = c.IsNone("weight") ? g : Mul(b, g, c.Raw("weight"));
        var inner = SubT(b, SubT(b, gNormalized, F(b, Ops.Mean, gNormalized, dims, true)),
            Mul(b, normalized, F(b, Ops.Mean, Mul(b, gNormalized, normalized), dims, true)));
        return Grads(c,
            ("input", Mul(b, rstd, inner)),
            ("weight", c.IsNone("weight") ? null : Mul(b, g, normalized)),
            ("bias", c.IsNone("bias") ? null : g));
    }

    /// <summary>A pooling or convolution parameter as two (or n) ints.</summary>
    private static long[] Pair(OpCall c, string name, int n = 2)
    {
        var values = c.Ints(name);
        return values.Count == 1 ? Enumerable.Repeat(values[0], n).ToArray() : values.ToArray();
    }

    private static IReadOnlyList<Arg?> ConvolutionRule(GraphBuilder b, OpCall c, Arg g, int spatial)
    {
        var x = c.Raw("input");
        var w = c.Raw("weight");
        var batched = c.Tensor("input").Rank == spatial + 2;
        var kernel = Sizes(b, w).Skip(2).Select(d => d.Concrete("a convolution's gradient")).ToArray();
        var dilation = Pair(c, "dilation", spatial);
        long[] padding;
        var extra = new long[spatial]; // padding='same' with an even extent pads one more on the right, as torch does
        if (c.Raw("padding") is StrArg { Value: var mode })
        {
            var total = kernel.Select((k, i) => mode == "same" ? dilation[i] * (k - 1) : 0).ToArray();
            padding = total.Select(t => t / 2).ToArray();
            extra = total.Select(t => t % 2).ToArray();
        }
        else padding = Pair(c, "padding", spatial);
        var x4 = batched ? x : F(b, Ops.Unsqueeze, x, 0L);
        var g4 = batched ? g : F(b, Ops.Unsqueeze, g, 0L);
        var unpadded = Sizes(b, x4);
        for (var d = 0; d < spatial; d++)
        {
            if (extra[d] == 0) continue;
            var padSizes = Sizes(b, x4).Select((s, i) => i == 2 + d ? Dim.Of(extra[d]) : s).ToArray();
            var zeros = b.Call(Ops.Zeros, [Arg.Sizes(padSizes)], [new Kwarg("dtype", new DTypeArg(Meta(b, x).DType))]);
            x4 = F(b, Ops.Cat, new ListArg(new Arg[] { x4, zeros }.ToEquatableList()), (long)(2 + d));
        }
        Arg biasSizes = c.IsNone("bias") ? NoneArg.Instance : Arg.Sizes(Sizes(b, c.Raw("bias")));
        var grads = F(b, Ops.ConvolutionBackward, g4, x4, w, biasSizes, Arg.Ints(Pair(c, "stride", spatial)), Arg.Ints(padding),
            Arg.Ints(dilation), false, Arg.Ints(new long[spatial]), c.Raw("groups"), new ListArg(new Arg[] { true, true, !c.IsNone("bias") }.ToEquatableList()));
        Arg gx = b.Call(Ops.GetItem, grads, 0L);
        for (var d = 0; d < spatial; d++)
            if (extra[d] != 0) gx = F(b, Ops.Narrow, gx, (long)(2 + d), 0L, Arg.Size(unpadded[2 + d]));
        if (!batched) gx = F(b, Ops.Squeeze, gx, 0L);
        return Grads(c, ("input", gx), ("weight", b.Call(Ops.GetItem, grads, 1L)),
            ("bias", c.IsNone("bias") ? null : b.Call(Ops.GetItem, grads, 2L)));
    }

    private static IReadOnlyList<Arg?> MaxPoolRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var kernel = Arg.Ints(Pair(c, "kernel_size"));
        var stride = Arg.Ints(c.IsNone("stride") || c.Ints("stride").Count == 0 ? Pair(c, "kernel_size") : Pair(c, "stride"));
        var padding = Arg.Ints(Pair(c, "padding"));
        var dilation = Arg.Ints(Pair(c, "dilation"));
        // the indices are recomputed (F.max_pool2d does not return them); the partitioner decides where
        var pooled = F(b, Ops.MaxPool2dWithIndices, c.Raw("input"), kernel, stride, padding, dilation, c.Raw("ceil_mode"));
        var indices = b.Call(Ops.GetItem, pooled, 1L);
        return Grads(c, ("input", F(b, Ops.MaxPool2dWithIndicesBackward, g, c.Raw("input"), kernel, stride, padding, dilation, c.Raw("ceil_mode"), indices)));
    }
}
