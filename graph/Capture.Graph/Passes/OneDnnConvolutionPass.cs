namespace Capture.Graphs;

// A frozen float32 2-d convolution calls oneDNN directly (torch.mkldnn_convolution) instead of going
// through torch's conv2d, which picks an implementation on every call by heuristics written for
// training-sized batches: with a batch of one and a 1x1 kernel over a small image, or any kernel over
// fewer than 20,480 input values, it takes its im2col-and-gemm path ("thnn", _slow_conv2d_forward),
// 4x slower than oneDNN on efficientnet's and mobilenet's 7x7 pointwise convolutions. oneDNN's result
// is the same as torch's (conv2d picks oneDNN for every other case), in the same memory format
// (channels-last when the input or weight is).
//   before: y = conv2d(x, W, b, stride, padding, dilation, groups)
//   after:  y = mkldnn_convolution(x, W, b, padding, stride, dilation, groups)
// Only where oneDNN is built into torch (PassContext.OneDnn), for a constant weight (a frozen inference
// graph: nothing differentiates it), a float32 batched CPU input, and a padding that is the same on both
// sides (an integer, a pair, 'valid', or 'same' with an even total).
public sealed class OneDnnConvolutionPass : IGraphPass
{
    public string Name => "oneDNN convolutions";

    public PassResult Run(Graph graph, PassContext context)
    {
        if (!context.OneDnn) return new PassResult(graph);
        var nodes = new List<Node>(graph.Nodes.Count);
        var byName = new Dictionary<string, Node>();
        var rewritten = 0;
        foreach (var node in graph.Nodes)
        {
            var next = node is CallOp call && call.Op == Ops.Conv2d && Direct(call, byName) is { } direct ? direct : node;
            if (!ReferenceEquals(next, node)) rewritten++;
            nodes.Add(next);
            byName[next.Name] = next;
        }
        if (rewritten == 0) return new PassResult(graph);
        return new PassResult(new Graph(nodes), Rewritten: rewritten)
        {
            Note = $"{rewritten} convolution{(rewritten == 1 ? "" : "s")} call{(rewritten == 1 ? "s" : "")} oneDNN directly",
        };
    }

    /// <summary>The conv2d as a direct call of oneDNN's convolution, or null where it cannot be one.</summary>
    internal static CallOp? Direct(CallOp conv, IReadOnlyDictionary<string, Node> nodes)
    {
        ValueMeta MetaOf(string name) => nodes[name].Meta;
        OpCall c;
        try { c = OpCall.Bind(conv.Op, conv.Args, conv.Kwargs, MetaOf); }
        catch (Exception e) when (e is ShapeError or NotSupportedException or KeyNotFoundException) { return null; }
        if (c.Raw("weight") is not RefArg w || nodes.GetValueOrDefault(w.Name) is not Constant) return null;
        if (!c.IsNone("bias") && (c.Raw("bias") is not RefArg b || nodes.GetValueOrDefault(b.Name) is not Constant)) return null;
        if (c.Tensor("input") is not { Rank: 4, DType: DType.Float32, RequiresGrad: false } x || x.Device != Device.Cpu) return null;
        if (c.Tensor("weight").DType != DType.Float32 || c.OptTensor("bias") is { DType: not DType.Float32 }) return null;
        var stride = Pair(c.Ints("stride"));
        var dilation = Pair(c.Ints("dilation"));
        if (stride is null || dilation is null) return null;
        long[]? padding;
        if (c.Raw("padding") is StrArg { Value: var mode })
        {
            var kernel = c.Tensor("weight").Shape.Dims.Skip(2).Select(d => d.Concrete()).ToArray();
            var total = kernel.Select((k, i) => dilation[i] * (k - 1)).ToArray();
            padding = mode switch
            {
                "valid" => [0, 0],
                "same" when stride.All(s => s == 1) && total.All(t => t % 2 == 0) => [total[0] / 2, total[1] / 2],
                _ => null,
            };
        }
        else padding = Pair(c.Ints("padding"));
        if (padding is null) return null;
        var made = conv with
        {
            Op = Ops.MkldnnConvolution,
            Args = new Arg[] { c.Raw("input"), c.Raw("weight"), c.Raw("bias"), Arg.Ints(padding), Arg.Ints(stride), Arg.Ints(dilation), c.Raw("groups") }.ToEquatableList(),
            Kwargs = EquatableList<Kwarg>.Empty,
        };
        // the same result as conv2d's, layout included, or the call stays as it was
        try { return OpCall.Bind(made.Op, made.Args, made.Kwargs, MetaOf).Infer().Equals(conv.Meta) ? made : null; }
        catch (Exception e) when (e is ShapeError or NotSupportedException) { return null; }
    }

    private static long[]? Pair(IReadOnlyList<long> values) => values.Count switch
    {
        1 => [values[0], values[0]],
        2 => [values[0], values[1]],
        _ => null,
    };
}
