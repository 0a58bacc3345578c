namespace Capture.Graphs;

// A 1x1 convolution of a one-pixel input is a matrix product: efficientnet's and mobilenet_v3's
// squeeze-and-excitation blocks run two per block on the pooled [N, C, 1, 1] features. oneDNN's
// convolution sets up a primitive, reorders the weight and runs a direct convolution for each
// (100-450 us apiece here, a few milliseconds of efficientnet_b0's call); as a product it goes to BLAS,
// its bias and the activation after it into the product's epilogue kernel:
//   before: y = conv2d(x, W, b)                                      x: [N, C, 1, 1], W: [O, C, 1, 1]
//   after:  y = reshape(add(matmul(reshape(x, [N, C]), t(reshape(W, [O, C]))), b), [N, O, 1, 1])
// The weight's view is of a constant (made once per compiled part, not per call). Only for a constant
// weight (a frozen inference graph), groups 1, no padding; stride and dilation do not matter for one
// pixel and a 1x1 kernel. The result is the convolution's exactly in shape and layout (or the call
// stays), and differs from oneDNN's by rounding only.
public sealed class PixelConvolutionPass : IGraphPass
{
    public string Name => "one-pixel convolutions as products";

    public PassResult Run(Graph graph, PassContext context)
    {
        if (context.Constants is null || !graph.Nodes.Any(n => n is CallOp { Op: var op } && op == Ops.Conv2d)) return new PassResult(graph);
        var result = Rebuilt.EachCall(graph, (builder, call) => call.Op == Ops.Conv2d ? AsProduct(builder, call) : null);
        return result.Rewritten == 0 ? result : result with
        {
            Note = $"{result.Rewritten} one-pixel 1x1 convolution{(result.Rewritten == 1 ? "" : "s")} as matrix products",
        };
    }

    private static Arg? AsProduct(GraphBuilder b, CallOp call)
    {
        var c = OpCall.Bind(call.Op, call.Args, call.Kwargs, b.MetaOf);
        if (c.Raw("weight") is not RefArg w || b[w.Name] is not Constant) return null;
        if (!c.IsNone("bias") && (c.Raw("bias") is not RefArg bias || b[bias.Name] is not Constant)) return null;
        if (c.Tensor("input") is not { Rank: 4, Shape.IsConcrete: true, DType: DType.Float32, RequiresGrad: false } x || x.Device != Device.Cpu) return null;
        if (c.Tensor("weight") is not { Rank: 4, Shape.IsConcrete: true } weight) return null;
        var (sizes, kernel) = (x.Shape.Concrete(), weight.Shape.Concrete());
        if (sizes[2] != 1 || sizes[3] != 1 || kernel[2] != 1 || kernel[3] != 1 || c.Raw("padding") is StrArg) return null;
        if (c.Int("groups") != 1 || c.Ints("padding").Any(p => p != 0)) return null;
        long n = sizes[0], channels = sizes[1], outputs = kernel[0];
        var rows = b.Call(Ops.Reshape, c.Raw("input"), Arg.Ints([n, channels]));
        var matrix = b.Call(Ops.T, b.Call(Ops.Reshape, c.Raw("weight"), Arg.Ints([outputs, channels])));
        Arg product = b.Call(Ops.Matmul, rows, matrix);
        if (!c.IsNone("bias")) product = b.Call(Ops.Add, product, c.Raw("bias"));
        return b.Call(Ops.Reshape, product, Arg.Ints([n, outputs, 1, 1]));
    }
}
