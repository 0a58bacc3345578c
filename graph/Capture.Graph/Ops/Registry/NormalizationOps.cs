namespace Capture.Graphs;

// Normalization: layer_norm, batch_norm (inference only), group_norm. All keep the input's shape.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> NormalizationOps()
    {
        yield return Def("torch.nn.functional.layer_norm",
            "Tensor input, int[] normalized_shape, Tensor? weight=None, Tensor? bias=None, float eps=1e-05",
            OpCategory.Reduction, LayerNorm, decompose: DecomposeLayerNorm);
        yield return Def("torch.nn.functional.batch_norm",
            "Tensor input, Tensor? running_mean, Tensor? running_var, Tensor? weight=None, Tensor? bias=None, bool training=False, float momentum=0.1, float eps=1e-05",
            OpCategory.Pointwise, BatchNorm, decompose: DecomposeBatchNorm);
        yield return Def("torch.nn.functional.group_norm",
            "Tensor input, int num_groups, Tensor? weight=None, Tensor? bias=None, float eps=1e-05",
            OpCategory.Reduction, GroupNorm, decompose: DecomposeGroupNorm);
    }

    private static void AffineShape(OpCall c, string name, Shape expected)
    {
        if (c.OptTensor(name) is { } t && !Sizes.Equal(t.Shape, expected, $"{c.Op.Name}: {name}'s shape"))
            throw c.Error($"Expected {name} to be of shape {expected}, but got {name} of shape {t.Shape}");
    }

    private static ValueMeta LayerNorm(OpCall c)
    {
        var x = c.Tensor("input");
        var normalized = new Shape(c.Ints("normalized_shape"));
        if (normalized.Rank == 0) throw c.Error("Expected normalized_shape to be at least 1-dimensional");
        if (x.Rank < normalized.Rank || !Sizes.Equal(Shape.Of(x.Shape.Dims.TakeLast(normalized.Rank)), normalized, "layer_norm's normalized_shape"))
            throw c.Error($"Given normalized_shape={normalized}, expected input with shape [*, {string.Join(", ", normalized.Dims)}], but got input of size{x.Shape}");
        AffineShape(c, "weight", normalized);
        AffineShape(c, "bias", normalized);
        c.RequireFloat(x, "layer_norm");
        return c.Result(x.Shape, x.DType);
    }

    // layer_norm(x) = (x - mean) * rsqrt(var_biased + eps) * weight + bias, over the last dims
    private static Arg DecomposeLayerNorm(GraphBuilder b, OpCall c)
    {
        var x = c.Raw("input");
        var rank = c.Tensor("input").Rank;
        var dims = Arg.Ints(Enumerable.Range(rank - c.Ints("normalized_shape").Count, c.Ints("normalized_shape").Count).Select(i => (long)i));
        var mean = b.Call(Ops.Mean, x, dims, true);
        var centered = b.Call(Ops.Sub, x, mean);
        var variance = b.Call(Ops.Mean, b.Call(Ops.Mul, centered, centered), dims, true);
        Arg y = b.Call(Ops.Mul, centered, b.Call(Ops.Rsqrt, b.Call(Ops.Add, variance, c.Float("eps"))));
        if (!c.IsNone("weight")) y = b.Call(Ops.Mul, y, c.Raw("weight"));
        if (!c.IsNone("bias")) y = b.Call(Ops.Add, y, c.Raw("bias"));
        return y;
    }

    private static ValueMeta BatchNorm(OpCall c)
    {
        var x = c.Tensor("input");
        if (c.Bool("training"))
            throw new NotSupportedException("batch_norm in training mode updates running statistics in place; Capture supports inference (training=False)");
        if (c.IsNone("running_mean") || c.IsNone("running_var"))
            throw c.Error("running_mean and running_var must be defined in evaluation mode");
        if (x.Rank < 2) throw c.Error($"Expected 2D or more input (got {x.Rank}D input)");
        foreach (var name in new[] { "running_mean", "running_var", "weight", "bias" })
            if (c.OptTensor(name) is { } t && (t.Rank != 1 || !Sizes.Equal(t.Shape[0], x.Shape[1], $"batch_norm: {name}'s size")))
                throw c.Error($"{name} should contain {x.Shape[1]} elements not {t.Shape.Elements}");
        return c.Result(x.Shape, x.DType);
    }

    // batch_norm(x) in eval = (x - running_mean) * rsqrt(running_var + eps) * weight + bias, with the
    // per-channel vectors shaped [C, 1, ...] to broadcast over dim 1
    private static Arg DecomposeBatchNorm(GraphBuilder b, OpCall c)
    {
        var x = c.Tensor("input");
        var channelShape = Arg.Sizes(new[] { x.Shape[1] }.Concat(Enumerable.Repeat(Dim.Of(1), x.Rank - 2)));
        Arg PerChannel(string name) => b.Call(Ops.View, [c.Raw(name), channelShape], method: true);
        var scale = b.Call(Ops.Rsqrt, b.Call(Ops.Add, PerChannel("running_var"), c.Float("eps")));
        Arg y = b.Call(Ops.Mul, b.Call(Ops.Sub, c.Raw("input"), PerChannel("running_mean")), scale);
        if (!c.IsNone("weight")) y = b.Call(Ops.Mul, y, PerChannel("weight"));
        if (!c.IsNone("bias")) y = b.Call(Ops.Add, y, PerChannel("bias"));
        return y;
    }

    private static ValueMeta GroupNorm(OpCall c)
    {
        var x = c.Tensor("input");
        var groups = c.Int("num_groups");
        if (x.Rank < 2) throw c.Error($"Expected at least 2 dimensions for input tensor but received {x.Rank}");
        if (groups <= 0 || !Sizes.Divides(Dim.Of(groups), x.Shape[1], "group_norm: channels divisible by num_groups"))
            throw c.Error($"Expected number of channels in input to be divisible by num_groups, but got input of shape {x.Shape} and num_groups={groups}");
        AffineShape(c, "weight", Shape.Of(x.Shape[1]));
        AffineShape(c, "bias", Shape.Of(x.Shape[1]));
        c.RequireFloat(x, "group_norm");
        return c.Result(x.Shape, x.DType);
    }

    // group_norm(x) = layer-normalized over [N, G, -1], reshaped back, then scaled and shifted per channel
    private static Arg DecomposeGroupNorm(GraphBuilder b, OpCall c)
    {
        var x = c.Tensor("input");
        var sizes = x.Shape.Dims;
        var grouped = b.Call(Ops.Reshape, c.Raw("input"), new ListArg(EquatableList.Of(Arg.Size(sizes[0]), c.Int("num_groups"), -1L)));
        var dims = Arg.Ints(2);
        var mean = b.Call(Ops.Mean, grouped, dims, true);
        var centered = b.Call(Ops.Sub, grouped, mean);
        var variance = b.Call(Ops.Mean, b.Call(Ops.Mul, centered, centered), dims, true);
        var normalized = b.Call(Ops.Mul, centered, b.Call(Ops.Rsqrt, b.Call(Ops.Add, variance, c.Float("eps"))));
        Arg y = b.Call(Ops.Reshape, normalized, Arg.Sizes(sizes));
        var channelShape = Arg.Sizes(new[] { sizes[1] }.Concat(Enumerable.Repeat(Dim.Of(1), x.Rank - 2)));
        if (!c.IsNone("weight")) y = b.Call(Ops.Mul, y, b.Call(Ops.Reshape, c.Raw("weight"), channelShape));
        if (!c.IsNone("bias")) y = b.Call(Ops.Add, y, b.Call(Ops.Reshape, c.Raw("bias"), channelShape));
        return y;
    }
}
