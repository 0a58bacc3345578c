namespace Capture.Graphs;

// Convolution and pooling, with torch's output-size arithmetic (aten/src/ATen/native/Pool.h,
// ConvUtils.h). Unbatched inputs (one rank less) are accepted as torch accepts them.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> ConvolutionOps()
    {
        const string conv = "Tensor input, Tensor weight, Tensor? bias=None, Any stride=1, Any padding=0, Any dilation=1, int groups=1";
        yield return Def("torch.nn.functional.conv1d", conv, OpCategory.Extern, c => Convolution(c, 1));
        yield return Def("torch.nn.functional.conv2d", conv, OpCategory.Extern, c => Convolution(c, 2));
        // oneDNN's convolution called directly (what OneDnnConvolutionPass makes of a frozen conv2d):
        // float32 or bfloat16, batched 2-d only, explicit padding
        yield return Def("torch.mkldnn_convolution", "Tensor input, Tensor weight, Tensor? bias, int[] padding, int[] stride, int[] dilation, int groups",
            OpCategory.Extern, MkldnnConvolution);
        yield return Def("torch.nn.functional.max_pool2d",
            "Tensor input, Any kernel_size, Any? stride=None, Any padding=0, Any dilation=1, bool ceil_mode=False, bool return_indices=False",
            OpCategory.Reduction, MaxPool2d);
        yield return Def("torch.nn.functional.avg_pool2d",
            "Tensor input, Any kernel_size, Any? stride=None, Any padding=0, bool ceil_mode=False, bool count_include_pad=True, int? divisor_override=None",
            OpCategory.Reduction, AvgPool2d);
        yield return Def("torch.nn.functional.adaptive_avg_pool2d", "Tensor input, Any output_size", OpCategory.Reduction, AdaptiveAvgPool2d);
    }

    /// <summary>An int or a list of ints expanded to <paramref name="n"/> spatial dims.</summary>
    private static long[] Spatial(OpCall c, string name, int n)
    {
        var values = c.Ints(name);
        if (values.Count == 1) return Enumerable.Repeat(values[0], n).ToArray();
        if (values.Count != n) throw c.Error($"expected {name} to be a single integer value or a list of {n} values to match the convolution dimensions, but got {name}=[{string.Join(", ", values)}]");
        return values.ToArray();
    }

    private static (TensorMeta Input, bool Batched) SpatialInput(OpCall c, int spatial, string what)
    {
        var x = c.Tensor("input");
        if (x.Rank != spatial + 1 && x.Rank != spatial + 2)
            throw c.Error($"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to {what}, but got input of size: {x.Shape}");
        return (x, x.Rank == spatial + 2);
    }

    private static ValueMeta Convolution(OpCall c, int spatial)
    {
        var (x, batched) = SpatialInput(c, spatial, $"conv{spatial}d");
        var w = c.Tensor("weight");
        SameDType(c, x, w);
        if (w.Rank != spatial + 2) throw c.Error($"weight should have {spatial + 2} dimensions, got {w.Rank}");
        var groups = c.Int("groups");
        var inChannels = Sizes.Value(x.Shape[batched ? 1 : 0], "conv: the input's channels");
        var outChannels = Sizes.Value(w.Shape[0], "conv: the weight's output channels");
        if (groups <= 0) throw c.Error("non-positive groups is not supported");
        var weightChannels = Sizes.Value(w.Shape[1], "conv: the weight's input channels");
        if (inChannels != weightChannels * groups)
            throw c.Error($"Given groups={groups}, weight of size {w.Shape}, expected input{x.Shape} to have {weightChannels * groups} channels, but got {inChannels} channels instead");
        if (outChannels % groups != 0) throw c.Error($"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size {w.Shape} instead");
        if (c.OptTensor("bias") is { } bias && (bias.Rank != 1 || !Sizes.Equal(bias.Shape[0], w.Shape[0], "conv: bias size")))
            throw c.Error($"Given weight of size {w.Shape}, expected bias to be 1-dimensional with {outChannels} elements, but got bias of size {bias.Shape} instead");
        var stride = Spatial(c, "stride", spatial);
        var dilation = Spatial(c, "dilation", spatial);
        var kernel = w.Shape.Dims.Skip(2).Select(d => Sizes.Value(d, "conv: the kernel's size")).ToArray();
        var inSizes = x.Shape.Dims.Skip(batched ? 2 : 1).ToArray();
        long[] padding;
        if (c.Raw("padding") is StrArg { Value: var mode })
        {
            padding = mode switch
            {
                "valid" => new long[spatial],
                "same" when stride.Any(s => s != 1) => throw c.Error("padding='same' is not supported for strided convolutions"),
                "same" => kernel.Select((k, i) => dilation[i] * (k - 1) / 2).ToArray(),
                _ => throw c.Error($"Invalid padding string '{mode}', should be one of {{'valid', 'same'}}"),
            };
            if (mode == "same")
                return ConvolutionLayout(c.Result(Shape.Of(x.Shape.Dims.Take(batched ? 1 : 0).Append(Dim.Of(outChannels)).Concat(inSizes)), x.DType), x, w);
        }
        else padding = Spatial(c, "padding", spatial);
        if (stride.Any(s => s <= 0)) throw c.Error("non-positive stride is not supported");
        var outSizes = new Dim[spatial];
        for (var i = 0; i < spatial; i++)
        {
            var effective = dilation[i] * (kernel[i] - 1) + 1;
            if (Sizes.Compare(inSizes[i] + Dim.Of(2 * padding[i]), SizeComparison.Lt, Dim.Of(effective), "conv: the kernel within the padded input"))
                throw c.Error($"Calculated padded input size per channel: ({string.Join(" x ", inSizes.Select((s, j) => s + Dim.Of(2 * padding[j])))}). Kernel size: ({string.Join(" x ", kernel.Select((k, j) => dilation[j] * (k - 1) + 1))}). Kernel size can't be greater than actual input size");
            outSizes[i] = Dim.FloorDiv(inSizes[i] + Dim.Of(2 * padding[i]) - Dim.Of(effective), Dim.Of(stride[i])) + Dim.Of(1);
        }
        return ConvolutionLayout(c.Result(Shape.Of(x.Shape.Dims.Take(batched ? 1 : 0).Append(Dim.Of(outChannels)).Concat(outSizes)), x.DType), x, w);
    }

    private static ValueMeta MkldnnConvolution(OpCall c)
    {
        var x = c.Tensor("input");
        var w = c.Tensor("weight");
        if (x.Rank != 4) throw c.Error($"Expected 4-dimensional input for 4-dimensional weight {w.Shape}, but got {x.Rank}-dimensional input of size {x.Shape} instead");
        if (x.DType is not (DType.Float32 or DType.BFloat16) || w.DType != x.DType) throw c.Error("itensor_view_from_dense expects float/bfloat16 tensor input");
        return Convolution(c, 2);
    }

    /// <summary>A 2-d convolution's result is channels-last when torch suggests it for its input or its weight.</summary>
    private static TensorMeta ConvolutionLayout(TensorMeta result, TensorMeta input, TensorMeta weight) =>
        Layout.FollowChannelsLast(result, Layout.SuggestsChannelsLast(weight) && input.Rank == 4 ? weight : input);

    private static Dim PoolOutput(OpCall c, Dim input, long kernel, long pad, long stride, long dilation, bool ceil)
    {
        const string why = "pooling: the output size";
        if (stride <= 0) throw c.Error("stride should be greater than zero");
        if (pad > kernel / 2) throw c.Error($"pad should be at most half of effective kernel size, but got pad={pad}, kernel_size={kernel} and dilation={dilation}");
        var constant = 2 * pad - dilation * (kernel - 1) - 1 + (ceil ? stride - 1 : 0);
        Dim output;
        if (input.Value is { } n) output = Dim.Of(Math.Max(0, SizeExpr.FloorDivide(n + constant, stride) + 1));
        else if (Sizes.Compare(input, SizeComparison.Lt, Dim.Of(Math.Max(0, -constant)), why))
            throw c.Error($"Output size is too small (input {input}, kernel {kernel}, padding {pad}, stride {stride})");
        else output = Dim.Of(SizeExpr.FloorDiv(input.AsExpr + constant, stride) + 1);
        if (ceil && Sizes.Compare((output - Dim.Of(1)) * Dim.Of(stride), SizeComparison.Ge, input + Dim.Of(pad), why)) output -= Dim.Of(1);
        if (output.Value is < 1) throw c.Error($"Output size is too small (input {input}, kernel {kernel}, padding {pad}, stride {stride})");
        return output;
    }

    private static ValueMeta Pool2d(OpCall c, long[] dilation, string what)
    {
        var (x, _) = SpatialInput(c, 2, what);
        var kernel = Spatial(c, "kernel_size", 2);
        var stride = c.IsNone("stride") || c.Raw("stride") is ListArg { Items.Count: 0 } ? kernel : Spatial(c, "stride", 2);
        var padding = Spatial(c, "padding", 2);
        var ceil = c.Bool("ceil_mode");
        var h = PoolOutput(c, x.Shape[x.Rank - 2], kernel[0], padding[0], stride[0], dilation[0], ceil);
        var w = PoolOutput(c, x.Shape[x.Rank - 1], kernel[1], padding[1], stride[1], dilation[1], ceil);
        return Layout.FollowChannelsLast(c.Result(Shape.Of(x.Shape.Dims.SkipLast(2).Append(h).Append(w)), x.DType), x);
    }

    private static ValueMeta MaxPool2d(OpCall c)
    {
        if (c.Bool("return_indices")) throw new NotSupportedException("max_pool2d(return_indices=True) is not supported yet");
        if (c.Tensor("input").DType == DType.Bool) throw c.Error("\"max_pool2d\" not implemented for 'Bool'");
        return Pool2d(c, Spatial(c, "dilation", 2), "max_pool2d");
    }

    private static ValueMeta AvgPool2d(OpCall c)
    {
        var x = c.Tensor("input");
        if (!x.DType.IsFloatingPoint() && x.DType != DType.Int64) throw c.Error($"\"avg_pool2d\" not implemented for '{x.DType.TorchName()}'");
        if (c.OptInt("divisor_override") is <= 0) throw c.Error("divisor must be not zero");
        return Pool2d(c, [1, 1], "avg_pool2d");
    }

    private static ValueMeta AdaptiveAvgPool2d(OpCall c)
    {
        var (x, _) = SpatialInput(c, 2, "adaptive_avg_pool2d");
        var raw = c.Raw("output_size");
        var items = raw is ListArg l ? l.Items.ToArray() : [raw, raw];
        if (items.Length != 2) throw c.Error("adaptive_avg_pool2d: output_size must be 2");
        var sizes = items.Select((a, i) => a switch
        {
            NoneArg => x.Shape[x.Rank - 2 + i],
            IntArg { Value: >= 0 } v => Dim.Of(v.Value),
            _ => throw c.Error($"output_size must contain non-negative ints or None, got {a}"),
        });
        var output = sizes.ToArray();
        // torch computes a 1x1 adaptive pool with mean(), which refuses integral inputs
        if (output.All(Sizes.IsOne) && !x.DType.IsFloatingPoint())
            throw c.Error($"mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {x.DType}");
        return Layout.FollowChannelsLast(c.Result(Shape.Of(x.Shape.Dims.SkipLast(2).Concat(output)), x.DType), x);
    }
}
