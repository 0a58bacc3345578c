using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Tests;

// OneDnnLayoutPass: a frozen residual block runs in oneDNN's blocked layout (one conversion in, one
// out, weights prepacked by capture/_onednn.py), its relu and add computed into inputs nothing else
// reads; the result is eager's (both graphs run node by node through torch, capture._onednn included).
[Collection("Python")]
public sealed class OneDnnLayoutTests
{
    private static string Weights(int count, double scale) =>
        "[" + string.Join(", ", Enumerable.Range(0, count).Select(i => ((i * 37 % 17 - 8) * scale).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture))) + "]";

    // a residual block, then six 1x1 convolutions with relus: 8 convolutions, one conversion in, one out
    private static readonly string Block = $$"""
        def forward(self, x: "f32[1, 4, 8, 8]"):
            w1: "f32[4, 4, 3, 3]" = capture.constant(sha256='w1')
            b1: "f32[4]" = capture.constant([0.1, -0.2, 0.3, -0.4])
            w2: "f32[4, 4, 1, 1]" = capture.constant({{Weights(16, 0.1)}})
            conv2d: "f32[1, 4, 8, 8]" = torch.nn.functional.conv2d(x, w1, b1, 1, 1)
            relu: "f32[1, 4, 8, 8]" = torch.relu(conv2d)
            conv2d_1: "f32[1, 4, 8, 8]" = torch.nn.functional.conv2d(relu, w2)
            add: "f32[1, 4, 8, 8]" = torch.add(conv2d_1, relu)
            h0: "f32[1, 4, 8, 8]" = torch.relu(add)
        {{string.Concat(Enumerable.Range(1, 6).Select(i => $"""
                c{i}: "f32[1, 4, 8, 8]" = torch.nn.functional.conv2d(h{i - 1}, w2, b1)
                h{i}: "f32[1, 4, 8, 8]" = torch.relu(c{i})

        """))}}    max_pool2d: "f32[1, 4, 4, 4]" = torch.nn.functional.max_pool2d(h6, 2)
            adaptive_avg_pool2d: "f32[1, 4, 1, 1]" = torch.nn.functional.adaptive_avg_pool2d(max_pool2d, 1)
            flatten: "f32[1, 4]" = torch.flatten(adaptive_avg_pool2d, 1)
            return flatten
        """;

    private static Graph Parse(string text) =>
        // a 144-element constant does not print its values: given here, as torch.randn would
        CodeParser.Parse(text.Replace("capture.constant(sha256='w1')", $"capture.constant({Weights(144, 0.05)})"));

    private static (Graph Optimized, List<PassRecord> Records) Optimize(Graph graph, bool layout = true)
    {
        using var gil = Interpreter.Gil();
        var context = new PassContext
        {
            VerifyEachPass = true, Constants = new TorchConstantEvaluator(TestSession.Current.Torch), Decompose = CompilePipeline.Decomposed.Contains,
            ChannelsLast = true, OneDnn = true, OneDnnLayout = layout,
        };
        return (OptimizerPipeline.Optimize(graph, context), context.Records);
    }

    [Fact]
    public void AResidualBlockRunsBlockedBetweenOneConversionInAndOutAndEqualsEager()
    {
        var graph = Parse(Block);
        var (optimized, records) = Optimize(graph);
        var calls = optimized.Nodes.OfType<CallOp>().ToList();
        Assert.DoesNotContain(calls, c => c.Op == Ops.Conv2d || c.Op == Ops.MkldnnConvolution);
        Assert.Equal(8, calls.Count(c => c.Op == Ops.OneDnnConv2d));
        // the input converted once, the pooled value back once (flatten reads it)
        Assert.Equal("x", ((RefArg)Assert.Single(calls, c => c.Op == Ops.OneDnnToBlocked).Args[0]).Name);
        Assert.Equal("adaptive_avg_pool2d", ((RefArg)Assert.Single(calls, c => c.Op == Ops.OneDnnToDense).Args[0]).Name);
        Assert.Contains(calls, c => c.Op == Ops.OneDnnMaxPool2d);
        Assert.Contains(calls, c => c.Op == Ops.OneDnnAdaptiveAvgPool2d);
        // into their inputs where nothing else reads them: each relu of a convolution's result, and the add
        // (into the second convolution's); the first relu's value is read twice, so the add makes a new one
        var inPlace = calls.Where(c => c.Op == Ops.OneDnnReluInPlace || c.Op == Ops.OneDnnAddInPlace).Select(c => c.Name).ToHashSet();
        Assert.Equal(["add", "h0", "h1", "h2", "h3", "h4", "h5", "h6", "relu"], inPlace.Order());
        Assert.Equal("8 convolutions and 11 other ops in oneDNN's blocked layout (1 region, 1 conversion in, 1 out; weights prepacked at the first call)",
            Assert.Single(records, r => r.Pass == "oneDNN layout").Note);
        Assert.Equal(graph.Output.Meta, optimized.Output.Meta);

        GraphInterpreterTests.AssertSameResults(graph, optimized, seed: 7, rtol: 1e-4, atol: 1e-5);
    }

    // MobileNet's ReLU6 (hardtanh, decomposed into comparisons and wheres before this pass) runs blocked
    // as TorchScript's prim::MKLDNNHardTanh_, so an inverted-residual network stays one region: a
    // depthwise convolution, relu6 into a value nothing else reads, hardtanh of a value read twice (on
    // a copy), other bounds. Dense where that op would be wrong or the pattern is not whole: 24 channels
    // (oneDNN pads them to its channel block, over which torch 1.13's op clamps the wrong elements),
    // a comparison something else reads.
    private static readonly string InvertedResidual = $$"""
        def forward(self, x: "f32[1, 32, 6, 6]"):
            w1: "f32[32, 32, 1, 1]" = capture.constant(sha256='w32')
            w2: "f32[32, 1, 3, 3]" = capture.constant({{Weights(288, 0.2)}})
            b: "f32[32]" = capture.constant({{Weights(32, 0.3)}})
            conv2d: "f32[1, 32, 6, 6]" = torch.nn.functional.conv2d(x, w1, b)
            relu6: "f32[1, 32, 6, 6]" = torch._C._nn.relu6(conv2d)
            conv2d_1: "f32[1, 32, 6, 6]" = torch.nn.functional.conv2d(relu6, w2, b, 1, 1, 1, 32)
            hardtanh: "f32[1, 32, 6, 6]" = torch._C._nn.hardtanh(conv2d_1, 0.0, 6.0)
            conv2d_2: "f32[1, 32, 6, 6]" = torch.nn.functional.conv2d(hardtanh, w1)
            add: "f32[1, 32, 6, 6]" = torch.add(conv2d_2, x)
            hardtanh_1: "f32[1, 32, 6, 6]" = torch._C._nn.hardtanh(add, -0.5, 0.75)
            conv2d_3: "f32[1, 32, 6, 6]" = torch.nn.functional.conv2d(hardtanh_1, w1, b)
            add_1: "f32[1, 32, 6, 6]" = torch.add(conv2d_3, hardtanh_1)
        {{string.Concat(Enumerable.Range(1, 4).Select(i => $"""
                c{i}: "f32[1, 32, 6, 6]" = torch.nn.functional.conv2d({(i == 1 ? "add_1" : $"r{i - 1}")}, w1, b)
                r{i}: "f32[1, 32, 6, 6]" = torch._C._nn.relu6(c{i})

        """))}}    adaptive_avg_pool2d: "f32[1, 32, 1, 1]" = torch.nn.functional.adaptive_avg_pool2d(r4, 1)
            return adaptive_avg_pool2d
        """;

    [Fact]
    public void ReluSixRunsBlockedAsTorchScriptsHardTanhAndEqualsEager()
    {
        var graph = CodeParser.Parse(InvertedResidual.Replace("capture.constant(sha256='w32')", $"capture.constant({Weights(1024, 0.1)})"));
        var (optimized, records) = Optimize(graph);
        var calls = optimized.Nodes.OfType<CallOp>().ToList();
        Assert.DoesNotContain(calls, c => c.Op == Ops.Where || c.Op == Ops.Lt || c.Op == Ops.Gt || c.Op == Ops.Conv2d);
        Assert.Equal(8, calls.Count(c => c.Op == Ops.OneDnnConv2d));
        // relu6 and hardtanh into their convolutions' results; hardtanh_1's input is read once (by it) too,
        // but its own value twice: in place all the same (the copy is for inputs read again)
        // (each named after the outer where DecomposePass made of it)
        var inPlace = calls.Where(c => c.Op == Ops.OneDnnHardtanhInPlace).ToList();
        Assert.Equal(7, inPlace.Count);
        Assert.Equal(6, inPlace.Count(c => c.Args[1] is FloatArg { Value: 0.0 } && c.Args[2] is FloatArg { Value: 6.0 }));
        Assert.Single(inPlace, c => c.Args[1] is FloatArg { Value: -0.5 } && c.Args[2] is FloatArg { Value: 0.75 });
        Assert.Equal("8 convolutions and 10 other ops in oneDNN's blocked layout (1 region, 1 conversion in, 1 out; weights prepacked at the first call)",
            Assert.Single(records, r => r.Pass == "oneDNN layout").Note);
        GraphInterpreterTests.AssertSameResults(graph, optimized, seed: 3, rtol: 1e-4, atol: 1e-5);

        // read twice: the blocked hardtanh works on a copy, and the value it read is still the add's
        var twice = CodeParser.Parse(InvertedResidual.Replace("capture.constant(sha256='w32')", $"capture.constant({Weights(1024, 0.1)})")
            .Replace("add_1: \"f32[1, 32, 6, 6]\" = torch.add(conv2d_3, hardtanh_1)", "add_1: \"f32[1, 32, 6, 6]\" = torch.add(conv2d_3, add)"));
        var (copied, _) = Optimize(twice);
        Assert.Contains(copied.Nodes, n => n is CallOp c && c.Op == Ops.OneDnnHardtanh && c.Args[1] is FloatArg { Value: -0.5 });
        GraphInterpreterTests.AssertSameResults(twice, copied, seed: 4, rtol: 1e-4, atol: 1e-5);

        // the comparison read by something else: that hardtanh stays as it was, outside the region
        var shared = CodeParser.Parse("""
            def forward(self, x: "f32[1, 4, 8, 8]"):
                w1: "f32[4, 4, 3, 3]" = capture.constant(sha256='w1')
                conv2d: "f32[1, 4, 8, 8]" = torch.nn.functional.conv2d(x, w1, None, 1, 1)
                lt: "b8[1, 4, 8, 8]" = torch.lt(conv2d, 0.0)
                gt: "b8[1, 4, 8, 8]" = torch.gt(conv2d, 6.0)
                where: "f32[1, 4, 8, 8]" = torch.where(gt, 6.0, conv2d)
                where_1: "f32[1, 4, 8, 8]" = torch.where(lt, 0.0, where)
                conv2d_1: "f32[1, 4, 8, 8]" = torch.nn.functional.conv2d(where_1, w1, None, 1, 1)
                conv2d_2: "f32[1, 4, 8, 8]" = torch.nn.functional.conv2d(conv2d_1, w1, None, 1, 1)
                return (conv2d_2, lt)
            """.Replace("capture.constant(sha256='w1')", $"capture.constant({Weights(144, 0.05)})"));
        var (kept, _) = Optimize(shared);
        // 24 channels: not blocked (the region falls apart into convolutions between conversions)
        var padded = CodeParser.Parse(InvertedResidual.Replace("capture.constant(sha256='w32')", $"capture.constant({Weights(1024, 0.1)})")
            .Replace("32, ", "24, ").Replace("[32]", "[24]").Replace("1, 1, 1, 32)", "1, 1, 1, 24)")
            .Replace(Weights(1024, 0.1), Weights(576, 0.1)).Replace(Weights(288, 0.2), Weights(216, 0.2)).Replace(Weights(32, 0.3), Weights(24, 0.3)));
        var (dense, _) = Optimize(padded);
        Assert.DoesNotContain(dense.Nodes, n => n is CallOp c && (c.Op == Ops.OneDnnHardtanh || c.Op == Ops.OneDnnHardtanhInPlace));
        GraphInterpreterTests.AssertSameResults(padded, dense, seed: 6, rtol: 1e-4, atol: 1e-5);
        Assert.DoesNotContain(kept.Nodes, n => n is CallOp c && (c.Op == Ops.OneDnnHardtanh || c.Op == Ops.OneDnnHardtanhInPlace));
        GraphInterpreterTests.AssertSameResults(shared, kept, seed: 5, rtol: 1e-4, atol: 1e-5);
    }

    [Fact]
    public void ConvolutionsBehindTooManyConversionsStayDense()
    {
        static bool Blocked(Graph g) => g.Nodes.Any(n => n is CallOp c && c.Op.Category == OpCategory.Library);
        // returning the first relu too: one value in and two out for 8 convolutions, more than 1 per 4
        Assert.False(Blocked(Optimize(Parse(Block.Replace("return flatten", "return (flatten, relu)"))).Optimized));
        // a lone convolution: two conversions would cost more than its weight reorder saves
        var lone = Parse("""
            def forward(self, x: "f32[1, 4, 8, 8]"):
                w1: "f32[4, 4, 3, 3]" = capture.constant(sha256='w1')
                conv2d: "f32[1, 4, 8, 8]" = torch.nn.functional.conv2d(x, w1, None, 1, 1)
                relu: "f32[1, 4, 8, 8]" = torch.relu(conv2d)
                max_pool2d: "f32[1, 4, 4, 4]" = torch.nn.functional.max_pool2d(relu, 2)
                return max_pool2d
            """);
        Assert.False(Blocked(Optimize(lone).Optimized));
        // and nothing where the layout is off
        Assert.False(Blocked(Optimize(Parse(Block), layout: false).Optimized));
        Assert.True(Blocked(Optimize(Parse(Block)).Optimized));
    }
}
