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
