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
}
