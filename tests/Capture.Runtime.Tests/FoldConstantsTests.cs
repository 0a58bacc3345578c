using Capture.Runtime.Torch;
using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Tests;


// Constant folding on IR text, before and expected after (up to renaming), with torch computing the
// folded values; then the folded graph runs on the eager backend and matches the original.
[Collection("Python")]
public sealed class FoldConstantsTests
{
    private static Graph Fold(string before, bool freeze = false)
    {
        using var gil = Interpreter.Gil();
        var context = new PassContext { VerifyEachPass = true, Constants = new TorchConstantEvaluator(TestSession.Current.Torch), FreezeAttributes = freeze };
        return context.Run(new FoldConstantsPass(), CodeParser.Parse(before)).Graph;
    }

    private static void Expect(string before, string after)
    {
        var actual = Fold(before);
        var expected = CodeParser.Parse(after);
        Assert.True(actual.EquivalentTo(expected), $"expected:\n{CodePrinter.Print(expected, sourceComments: false)}\nactual:\n{CodePrinter.Print(actual, sourceComments: false)}");
    }

    [Fact]
    public void ATensorComputedFromCreationOpsBecomesOneConstant() => Expect("""
        def forward(self, x: "f32[4]"):
            arange: "i64[4]" = torch.arange(4)
            mul: "f32[4]" = torch.mul(arange, 0.5)
            add: "f32[4]" = torch.add(mul, 1)
            add_1: "f32[4]" = torch.add(x, add)
            return add_1
        """, """
        def forward(self, x: "f32[4]"):
            add: "f32[4]" = capture.constant([1.0, 1.5, 2.0, 2.5])
            add_1: "f32[4]" = torch.add(x, add)
            return add_1
        """);

    [Fact]
    public void EveryDtypeRoundTripsThroughTorch() => Expect("""
        def forward(self, x: "f64[3]"):
            arange: "i64[3]" = torch.arange(3)
            neg: "i64[3]" = torch.neg(arange)
            gt: "b8[3]" = torch.gt(arange, 0)
            to: "f64[3]" = arange.to(torch.float64)
            sqrt: "f64[3]" = torch.sqrt(to)
            return (neg, gt, sqrt, x)
        """, """
        def forward(self, x: "f64[3]"):
            neg: "i64[3]" = capture.constant([0, -1, -2])
            gt: "b8[3]" = capture.constant([False, True, True])
            sqrt: "f64[3]" = capture.constant([0.0, 1.0, 1.4142135623730951])
            return (neg, gt, sqrt, x)
        """);

    [Fact]
    public void CreationOpsAloneRandomOpsAndBroadcastsOfSmallConstantsStay()
    {
        const string text = """
            def forward(self, x: "f32[5000]"):
                ones: "f32[5000]" = torch.ones(5000)
                rand: "f32[5000]" = torch.rand(5000)
                mul: "f32[5000]" = torch.mul(rand, 2)
                full: "f32[1]" = torch.full([1], 2.0)
                expand: "f32[5000]{0}" = full.expand(5000)
                exp: "f32[5000]" = torch.exp(expand)
                add: "f32[5000]" = torch.add(x, ones)
                add_1: "f32[5000]" = torch.add(add, mul)
                add_2: "f32[5000]" = torch.add(add_1, exp)
                return add_2
            """;
        Expect(text, text);
    }

    [Fact]
    public void AGraphThatWritesIsLeftAlone()
    {
        const string text = """
            def forward(self, x: "f32[3]"):
                arange: "i64[3]" = torch.arange(3)
                mul: "f32[3]" = torch.mul(arange, 0.5)
                add_: "f32[3]" = mul.add_(x)
                return add_
            """;
        Expect(text, text);
    }

    [Fact]
    public void FrozenAttributesFoldOnlyWhenAsked()
    {
        const string text = """
            def forward(self, x: "f32[2, 3]"):
                weight: "f32[3, 3]" = self.weight
                t: "f32[3, 3]{1, 3}" = torch.t(weight)
                contiguous: "f32[3, 3]" = t.contiguous()
                matmul: "f32[2, 3]" = torch.matmul(x, contiguous)
                return matmul
            """;
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("import torch\nroot = torch.nn.Module()\nroot.weight = torch.nn.Parameter(torch.arange(9.0).view(3, 3), requires_grad=False)\n", filename: "frozen.py");
        using var root = ns.GetItem("root");
        var graph = CodeParser.Parse(text);
        Assert.True(Fold(text).EquivalentTo(graph));
        var context = new PassContext { VerifyEachPass = true, Constants = new TorchConstantEvaluator(TestSession.Current.Torch, root), FreezeAttributes = true };
        var folded = context.Run(new FoldConstantsPass(), graph).Graph;
        Assert.True(folded.EquivalentTo(CodeParser.Parse("""
            def forward(self, x: "f32[2, 3]"):
                contiguous: "f32[3, 3]" = capture.constant([0.0, 3.0, 6.0, 1.0, 4.0, 7.0, 2.0, 5.0, 8.0])
                matmul: "f32[2, 3]" = torch.matmul(x, contiguous)
                return matmul
            """)), folded.ToString());
        GraphInterpreterTests.AssertSameResults(graph, folded, 1, root);
    }

    [Fact]
    public void BigConstantsPrintADigestAndJsonKeepsTheirData()
    {
        var graph = Fold("""
            def forward(self, x: "f32[100]"):
                arange: "i64[100]" = torch.arange(100)
                mul: "f32[100]" = torch.mul(arange, 0.25)
                add: "f32[100]" = torch.add(x, mul)
                return add
            """);
        var constant = Assert.Single(graph.Nodes.OfType<Constant>());
        Assert.Matches(@"mul: ""f32\[100\]"" = capture.constant\(sha256='[0-9a-f]{12}'\)", graph.ToString());
        Assert.Equal(graph, JsonFormat.Read(JsonFormat.Write(graph)));
        var error = Assert.Throws<FormatException>(() => CodeParser.Parse(graph.ToString()));
        Assert.Contains("the values of this constant are not in the text (it has 100 elements", error.Message);
        Assert.Equal("24.75", constant.Value.Format(99));
    }

    // A frozen conv + batch norm (constants, as freezing makes them): the batch norm folds into the
    // convolution, whose input goes channels-last once and whose weight is stored channels-last, and
    // which calls oneDNN directly; the relu and pool after it follow that layout (checked against
    // torch node by node), and the result is eager's up to rounding, in eager's layout.
    [Fact]
    public void AFrozenBatchNormFoldsIntoItsConvolutionWhichRunsChannelsLast()
    {
        const string text = """
            def forward(self, x: "f32[2, 2, 6, 6]"):
                w: "f32[3, 2, 3, 3]" = capture.constant([-0.731, 0.695, 0.528, -0.490, -0.009, -0.101, 0.303, 0.577, -0.812, -0.943, 0.672, -0.134, 0.525, -0.996, -0.109, 0.443, -0.542, 0.891, 0.803, -0.939, -0.949, 0.083, 0.878, -0.238, -0.567, -0.156, -0.942, -0.557, -0.124, -0.008, -0.534, -0.538, -0.562, -0.081, -0.420, -0.957, 0.675, 0.113, 0.285, -0.628, 0.985, 0.720, -0.758, -0.335, 0.443, 0.422, 0.873, -0.156, 0.660, 0.341, -0.393, 0.175, 0.765, 0.692])
                m: "f32[3]" = capture.constant([0.1, -0.2, 0.3])
                v: "f32[3]" = capture.constant([0.5, 1.5, 2.0])
                g: "f32[3]" = capture.constant([1.0, 0.5, 2.0])
                b: "f32[3]" = capture.constant([0.0, 0.1, -0.1])
                conv2d: "f32[2, 3, 6, 6]" = torch.nn.functional.conv2d(x, w, None, 1, 1)
                batch_norm: "f32[2, 3, 6, 6]" = torch.nn.functional.batch_norm(conv2d, m, v, g, b, False, 0.1, 1e-05)
                relu: "f32[2, 3, 6, 6]" = torch.relu(batch_norm)
                max_pool2d: "f32[2, 3, 3, 3]" = torch.nn.functional.max_pool2d(relu, 2)
                return max_pool2d
            """;
        var graph = CodeParser.Parse(text);
        Graph optimized;
        using (Interpreter.Gil())
        {
            var context = new PassContext { VerifyEachPass = true, Constants = new TorchConstantEvaluator(TestSession.Current.Torch), Decompose = CompilePipeline.Decomposed.Contains, ChannelsLast = true, OneDnn = true };
            optimized = OptimizerPipeline.Optimize(graph, context);
        }
        var calls = optimized.Nodes.OfType<CallOp>().ToList();
        Assert.DoesNotContain(calls, c => c.Op == Ops.BatchNorm || c.Op == Ops.Conv2d);
        var conv = Assert.Single(calls, c => c.Op == Ops.MkldnnConvolution);
        var input = (TensorMeta)optimized[((RefArg)conv.Args[0]).Name].Meta;
        Assert.Equal([72L, 1, 12, 2], input.Strides!);
        Assert.Equal([18L, 1, 6, 2], ((TensorMeta)optimized[((RefArg)conv.Args[1]).Name].Meta).Strides!);
        Assert.Equal(graph.Output.Meta, optimized.Output.Meta);

        GraphInterpreterTests.AssertSameResults(graph, optimized, seed: 3, rtol: 1e-5, atol: 1e-6);
    }

    // Which convolutions call oneDNN directly: float32 ones with a constant weight (and bias) and a
    // padding oneDNN takes (symmetric); the rest stay conv2d. Every result is eager's (run node by node
    // through torch), in eager's layout.
    [Fact]
    public void FrozenFloatConvolutionsCallOneDnnDirectlyAndTheRestStayConv2d()
    {
        const string text = """
            def forward(self, x: "f32[1, 4, 7, 7]", y: "f64[1, 4, 7, 7]", wi: "f32[4, 4, 3, 3]"):
                w: "f32[4, 4, 3, 3]" = capture.constant([-0.5, -0.6, 0.05, 0.75, 0.6, -1.0, 0.2, -0.25, 0.9, 0.15, -0.3, -0.8, -1.0, -0.4, 0.125, 0.1, 0.5, -0.6, 0.05, 0.75, -0.6, 1.0, 0.2, -0.25, 0.9, -0.15, 0.3, -0.8, -1.0, -0.4, -0.125, -0.1, 0.5, -0.6, 0.05, -0.75, 0.6, 1.0, 0.2, -0.25, -0.9, 0.15, 0.3, -0.8, -1.0, 0.4, 0.125, -0.1, 0.5, -0.6, -0.05, 0.75, 0.6, 1.0, 0.2, 0.25, 0.9, 0.15, 0.3, -0.8, 1.0, -0.4, 0.125, -0.1, 0.5, 0.6, 0.05, 0.75, 0.6, 1.0, -0.2, -0.25, 0.9, 0.15, 0.3, 0.8, -1.0, -0.4, 0.125, -0.1, -0.5, -0.6, 0.05, 0.75, 0.6, -1.0, 0.2, -0.25, 0.9, 0.15, -0.3, -0.8, -1.0, -0.4, 0.125, 0.1, 0.5, -0.6, 0.05, 0.75, -0.6, 1.0, 0.2, -0.25, 0.9, -0.15, 0.3, -0.8, -1.0, -0.4, -0.125, -0.1, 0.5, -0.6, 0.05, -0.75, 0.6, 1.0, 0.2, -0.25, -0.9, 0.15, 0.3, -0.8, -1.0, 0.4, 0.125, -0.1, 0.5, -0.6, -0.05, 0.75, 0.6, 1.0, 0.2, 0.25, 0.9, 0.15, 0.3, -0.8, 1.0, -0.4, 0.125, -0.1])
                w2: "f32[4, 4, 2, 2]" = capture.constant([0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.3, -0.6, 0.9, -0.1, 0.2, -0.4, 0.6, -0.8, 0.05, 0.15, 0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.3, -0.6, 0.9, -0.1, 0.2, -0.4, 0.6, -0.8, 0.05, 0.15, 0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.3, -0.6, 0.9, -0.1, 0.2, -0.4, 0.6, -0.8, 0.05, 0.15, 0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.3, -0.6, 0.9, -0.1, 0.2, -0.4, 0.6, -0.8, 0.05, 0.15])
                w64: "f64[4, 4, 1, 1]" = capture.constant([0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.3, -0.6, 0.9, -0.1, 0.2, -0.4, 0.6, -0.8, 0.05, 0.15])
                b: "f32[4]" = capture.constant([0.1, -0.2, 0.3, -0.4])
                direct: "f32[1, 4, 4, 4]" = torch.nn.functional.conv2d(x, w, b, 2, 1)
                same: "f32[1, 4, 7, 7]" = torch.nn.functional.conv2d(x, w, None, 1, 'same', 1, 1)
                valid: "f32[1, 4, 5, 5]" = torch.nn.functional.conv2d(x, w, None, padding='valid')
                uneven: "f32[1, 4, 7, 7]" = torch.nn.functional.conv2d(x, w2, None, 1, 'same')
                double: "f64[1, 4, 7, 7]" = torch.nn.functional.conv2d(y, w64)
                input_weight: "f32[1, 4, 7, 7]" = torch.nn.functional.conv2d(x, wi, b, padding=1)
                return (direct, same, valid, uneven, double, input_weight)
            """;
        var graph = CodeParser.Parse(text);
        Graph optimized;
        using (Interpreter.Gil())
        {
            var context = new PassContext { VerifyEachPass = true, Constants = new TorchConstantEvaluator(TestSession.Current.Torch), Decompose = CompilePipeline.Decomposed.Contains, OneDnn = true };
            optimized = OptimizerPipeline.Optimize(graph, context);
            Assert.Equal("3 convolutions call oneDNN directly", Assert.Single(context.Records, r => r.Pass == "oneDNN convolutions").Note);
        }
        CallOp Producer(int output) => (CallOp)optimized[optimized.Output.Inputs.ElementAt(output)];
        Assert.Equal([Ops.MkldnnConvolution, Ops.MkldnnConvolution, Ops.MkldnnConvolution, Ops.Conv2d, Ops.Conv2d, Ops.Conv2d], Enumerable.Range(0, 6).Select(i => Producer(i).Op));
        Assert.Equal("[1, 1]", Producer(1).Args[3].ToString()); // 'same' with an odd kernel: one on each side
        Assert.Equal("[0, 0]", Producer(2).Args[3].ToString());

        GraphInterpreterTests.AssertSameResults(graph, optimized, seed: 5, rtol: 1e-5, atol: 1e-6);
    }
    // A 1x1 convolution of a one-pixel input (a squeeze-and-excitation block's, on pooled features) is a
    // matrix product: reshape, a product with the weight's transposed view, the bias added, reshaped
    // back; a convolution of more than one pixel, with padding, or grouped stays one. Every result is
    // eager's up to rounding, in eager's layout.
    [Fact]
    public void OnePixelConvolutionsBecomeMatrixProducts()
    {
        const string text = """
            def forward(self, x: "f32[2, 4, 1, 1]", z: "f32[2, 4, 3, 3]"):
                w: "f32[3, 4, 1, 1]" = capture.constant([0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.3, -0.6, 0.9, -0.1, 0.2, -0.4])
                g: "f32[4, 2, 1, 1]" = capture.constant([0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.3, -0.6])
                w2: "f32[3, 4, 1, 1]" = capture.constant([0.25, 0.5, -0.125, 0.75, -0.5, 1.0, 0.6, -0.3, 0.1, 0.9, -0.4, 0.2])
                b: "f32[3]" = capture.constant([0.1, -0.2, 0.3])
                pixel: "f32[2, 3, 1, 1]" = torch.nn.functional.conv2d(x, w, b)
                unbiased: "f32[2, 3, 1, 1]" = torch.nn.functional.conv2d(x, w2, None, 2)
                image: "f32[2, 3, 3, 3]" = torch.nn.functional.conv2d(z, w, b)
                padded: "f32[2, 3, 3, 3]" = torch.nn.functional.conv2d(x, w, b, 1, 1)
                grouped: "f32[2, 4, 1, 1]" = torch.nn.functional.conv2d(x, g, None, 1, 0, 1, 2)
                return (pixel, unbiased, image, padded, grouped)
            """;
        var graph = CodeParser.Parse(text);
        Graph optimized;
        using (Interpreter.Gil())
        {
            var context = new PassContext { VerifyEachPass = true, Constants = new TorchConstantEvaluator(TestSession.Current.Torch), Decompose = CompilePipeline.Decomposed.Contains };
            optimized = OptimizerPipeline.Optimize(graph, context);
            Assert.Equal("2 one-pixel 1x1 convolutions as matrix products", Assert.Single(context.Records, r => r.Pass == "one-pixel convolutions as products").Note);
        }
        Assert.Equal(2, optimized.Nodes.OfType<CallOp>().Count(c => c.Op == Ops.Matmul));
        Assert.Equal(3, optimized.Nodes.OfType<CallOp>().Count(c => c.Op == Ops.Conv2d));
        Assert.Equal(graph.Output.Meta, optimized.Output.Meta);

        GraphInterpreterTests.AssertSameResults(graph, optimized, seed: 7, rtol: 1e-5, atol: 1e-6);
    }
}
