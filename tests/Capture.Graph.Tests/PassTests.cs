namespace Capture.Graphs.Tests;


// Each pass on IR text, compared with the expected IR up to renaming; the verifier runs after it.
// Rewrites leave the nodes they no longer need for dead code elimination, which runs after them.
public sealed class PassTests
{
    private static Graph Run(IGraphPass pass, string before)
    {
        var result = new PassContext { VerifyEachPass = true }.Run(pass, CodeParser.Parse(before));
        return result.Graph;
    }

    private static void Expect(IGraphPass pass, string before, string after)
    {
        var actual = Run(pass, before);
        var expected = CodeParser.Parse(after);
        Assert.True(actual.EquivalentTo(expected), $"expected:\n{CodePrinter.Print(expected, sourceComments: false)}\nactual:\n{CodePrinter.Print(actual, sourceComments: false)}");
    }

    [Fact]
    public void DeadCodeGoesButWritesRandomAndGradModeStay() => Expect(new EliminateDeadCodePass(), """
        def forward(self, x: "f32[3]"):
            exp: "f32[3]" = torch.exp(x)
            neg: "f32[3]" = torch.neg(exp)
            mul: "f32[3]" = torch.mul(x, 2)
            rand: "f32[3]" = torch.rand(3)
            _set_grad_enabled: "None" = torch._C._set_grad_enabled(False)
            add_: "f32[3]" = x.add_(1)
            _set_grad_enabled_1: "None" = torch._C._set_grad_enabled(True)
            return (mul,)
        """, """
        def forward(self, x: "f32[3]"):
            mul: "f32[3]" = torch.mul(x, 2)
            rand: "f32[3]" = torch.rand(3)
            _set_grad_enabled: "None" = torch._C._set_grad_enabled(False)
            add_: "f32[3]" = x.add_(1)
            _set_grad_enabled_1: "None" = torch._C._set_grad_enabled(True)
            return (mul,)
        """);

    [Fact]
    public void RepeatedPureCallsMerge() => Expect(new EliminateCommonSubexpressionsPass(), """
        def forward(self, x: "f32[3]", y: "f32[3]"):
            exp: "f32[3]" = torch.exp(x)
            exp_1: "f32[3]" = torch.exp(x)
            add: "f32[3]" = torch.add(exp, y)
            add_1: "f32[3]" = torch.add(exp_1, y)
            mul: "f32[3]" = torch.mul(add, add_1)
            return mul
        """, """
        def forward(self, x: "f32[3]", y: "f32[3]"):
            exp: "f32[3]" = torch.exp(x)
            add: "f32[3]" = torch.add(exp, y)
            mul: "f32[3]" = torch.mul(add, add)
            return mul
        """);

    [Fact]
    public void RandomCallsAndCallsAcrossAWriteDoNotMerge()
    {
        const string text = """
            def forward(self, x: "f32[3]"):
                rand: "f32[3]" = torch.rand(3)
                rand_1: "f32[3]" = torch.rand(3)
                exp: "f32[3]" = torch.exp(x)
                add_: "f32[3]" = x.add_(1)
                exp_1: "f32[3]" = torch.exp(x)
                return (rand, rand_1, exp, exp_1)
            """;
        Expect(new EliminateCommonSubexpressionsPass(), text, text);
    }

    [Fact]
    public void CallsUnderDifferentGradModesDoNotMerge()
    {
        const string text = """
            def forward(self, x: "f32[3] grad"):
                exp: "f32[3] grad" = torch.exp(x)
                _set_grad_enabled: "None" = torch._C._set_grad_enabled(False)
                exp_1: "f32[3]" = torch.exp(x)
                _set_grad_enabled_1: "None" = torch._C._set_grad_enabled(True)
                return (exp, exp_1)
            """;
        Expect(new EliminateCommonSubexpressionsPass(), text, text);
    }

    [Fact]
    public void AlgebraRulesRewriteToAFixpoint() => Expect(new SimplifyAlgebraPass(), """
        def forward(self, x: "f32[2, 3]"):
            mul: "f32[2, 3]" = torch.mul(x, 1)
            add: "f32[2, 3]" = torch.add(0, mul)
            pow_1: "f32[2, 3]" = torch.pow(add, 2)
            neg: "f32[2, 3]" = torch.neg(pow_1)
            neg_1: "f32[2, 3]" = torch.neg(neg)
            pow_2: "f32[2, 3]" = torch.pow(neg_1, 0.5)
            div: "f32[2, 3]" = torch.div(pow_2, 1.0)
            exp: "f32[2, 3]" = torch.exp(div)
            return exp
        """, """
        def forward(self, x: "f32[2, 3]"):
            mul: "f32[2, 3]" = torch.mul(x, x)
            neg: "f32[2, 3]" = torch.neg(mul)
            sqrt: "f32[2, 3]" = torch.sqrt(mul)
            exp: "f32[2, 3]" = torch.exp(sqrt)
            return exp
        """);

    [Fact]
    public void ViewRulesFoldChainsAndDropNoOps() => Expect(new SimplifyAlgebraPass(), """
        def forward(self, x: "f32[2, 3]"):
            transpose: "f32[3, 2]{1, 3}" = torch.transpose(x, 0, 1)
            transpose_1: "f32[2, 3]" = torch.transpose(transpose, 1, 0)
            view: "f32[6]" = transpose_1.view(6)
            view_1: "f32[3, 2]" = view.view(3, 2)
            reshape: "f32[3, 2]" = torch.reshape(view_1, 3, 2)
            unsqueeze: "f32[3, 1, 2]" = torch.unsqueeze(reshape, 1)
            squeeze: "f32[3, 2]" = torch.squeeze(unsqueeze, 1)
            exp: "f32[3, 2]" = torch.exp(squeeze)
            return exp
        """, """
        def forward(self, x: "f32[2, 3]"):
            transpose: "f32[3, 2]{1, 3}" = torch.transpose(x, 0, 1)
            view: "f32[6]" = x.view(6)
            view_2: "f32[3, 2]" = x.view(3, 2)
            unsqueeze: "f32[3, 1, 2]" = torch.unsqueeze(view_2, 1)
            exp: "f32[3, 2]" = torch.exp(view_2)
            return exp
        """);

    // eval-mode dropout and p=0 return the input itself in torch, returned or not; training dropout stays
    [Fact]
    public void InertDropoutIsTheInput() => Expect(new SimplifyAlgebraPass(), """
        def forward(self, x: "f32[2, 3]"):
            dropout: "f32[2, 3]" = torch.nn.functional.dropout(x, 0.1, False)
            exp: "f32[2, 3]" = torch.exp(dropout)
            dropout_1: "f32[2, 3]" = torch.nn.functional.dropout(exp, p=0.0)
            dropout_2: "f32[2, 3]" = torch.nn.functional.dropout(dropout_1, 0.0, True)
            return (dropout_2, dropout)
        """, """
        def forward(self, x: "f32[2, 3]"):
            exp: "f32[2, 3]" = torch.exp(x)
            return (exp, x)
        """);

    [Fact]
    public void RewritesThatWouldChangeMetadataOrAliasingAreNotMade()
    {
        // an int tensor times 1.0 is a float tensor; a returned x * 1 must stay a new tensor; in a
        // graph with a write, y = x * 1 must not become x (the write to x would show through y)
        const string text = """
            def forward(self, x: "i64[3]", y: "f32[3]"):
                mul: "f32[3]" = torch.mul(x, 1.0)
                mul_1: "f32[3]" = torch.mul(y, 1)
                mul_2: "f32[3]" = torch.mul(y, 1)
                add_: "f32[3]" = y.add_(1)
                exp: "f32[3]" = torch.exp(mul_2)
                return (mul, mul_1, exp)
            """;
        Expect(new SimplifyAlgebraPass(), text, text);
    }

    private const string Gelu = """
        def forward(self, x: "f32[2, 3]"):
            gelu: "f32[2, 3]" = torch.nn.functional.gelu(x)
            exp: "f32[2, 3]" = torch.exp(gelu)
            return exp
        """;

    [Fact]
    public void DecomposeSplitsTheOpsTheBackendAsksFor()
    {
        var result = new PassContext { VerifyEachPass = true, Decompose = op => op == Ops.Gelu }
            .Run(new DecomposePass(), CodeParser.Parse(Gelu)).Graph;
        var expected = CodeParser.Parse("""
            def forward(self, x: "f32[2, 3]"):
                mul: "f32[2, 3]" = torch.mul(x, 0.7071067811865475)
                erf: "f32[2, 3]" = torch.erf(mul)
                mul_1: "f32[2, 3]" = torch.mul(x, 0.5)
                add: "f32[2, 3]" = torch.add(erf, 1.0)
                mul_2: "f32[2, 3]" = torch.mul(mul_1, add)
                exp: "f32[2, 3]" = torch.exp(mul_2)
                return exp
            """);
        Assert.True(result.EquivalentTo(expected), CodePrinter.Print(result, sourceComments: false));
    }

    [Fact]
    public void DecomposeLeavesEverythingWhenNothingIsAskedFor() => Expect(new DecomposePass(), Gelu, Gelu);

    [Fact]
    public void PipelineRecordsWhatEachPassDid()
    {
        var context = new PassContext { VerifyEachPass = true };
        var graph = OptimizerPipeline.Optimize(CodeParser.Parse("""
            def forward(self, x: "f32[3]"):
                exp: "f32[3]" = torch.exp(x)
                exp_1: "f32[3]" = torch.exp(x)
                mul: "f32[3]" = torch.mul(exp_1, 1)
                add: "f32[3]" = torch.add(exp, mul)
                return add
            """), context);
        Assert.Equal(["x", "exp", "add", "output"], graph.Nodes.Select(n => n.Name));
        Assert.Equal(OptimizerPipeline.Passes.Select(p => p.Name), context.Records.Select(r => r.Pass));
        Assert.Equal(1, context.Records.Single(r => r.Pass == "simplify algebra").Rewritten);
        Assert.Equal(1, context.Records.Single(r => r.Pass == "eliminate common subexpressions").Removed);
    }

    [Fact]
    public void ProductsWithATransposedWeightTakeTheTransposedOperandForm() => Expect(new ChooseLayoutsPass(), """
        def forward(self, x: "f32[8, 16]", w: "f32[32, 16]", b: "f32[32]", y: "f32[2, 8, 16]"):
            t: "f32[16, 32]{1, 16}" = torch.t(w)
            matmul: "f32[8, 32]" = torch.matmul(x, t)
            addmm: "f32[8, 32]" = torch.addmm(b, x, t)
            transpose: "f32[16, 32]{1, 16}" = torch.transpose(w, -1, -2)
            matmul_1: "f32[2, 8, 32]" = torch.matmul(y, transpose)
            return (matmul, addmm, matmul_1)
        """, """
        def forward(self, x: "f32[8, 16]", w: "f32[32, 16]", b: "f32[32]", y: "f32[2, 8, 16]"):
            t: "f32[16, 32]{1, 16}" = torch.t(w)
            linear: "f32[8, 32]" = torch.nn.functional.linear(x, w)
            linear_1: "f32[8, 32]" = torch.nn.functional.linear(x, w, b)
            transpose: "f32[16, 32]{1, 16}" = torch.transpose(w, -1, -2)
            linear_2: "f32[2, 8, 32]" = torch.nn.functional.linear(y, w)
            return (linear, linear_1, linear_2)
        """);

    [Fact]
    public void AGemmOperandWithoutAUnitStrideGetsOneCopySharedByItsReaders() => Expect(new ChooseLayoutsPass(), """
        def forward(self, x: "f32[8, 32]", w: "f32[16, 4]"):
            getitem: "f32[8, 16]{32, 2}" = operator.getitem(x, (slice(None, None, None), slice(None, None, 2)))
            matmul: "f32[8, 4]" = torch.matmul(getitem, w)
            mm: "f32[8, 4]" = torch.mm(getitem, w)
            t: "f32[32, 8]{1, 32}" = torch.t(x)
            mm_1: "f32[32, 32]" = torch.mm(t, x)
            return (matmul, mm, mm_1)
        """, """
        def forward(self, x: "f32[8, 32]", w: "f32[16, 4]"):
            getitem: "f32[8, 16]{32, 2}" = operator.getitem(x, (slice(None, None, None), slice(None, None, 2)))
            contiguous: "f32[8, 16]" = getitem.contiguous()
            matmul: "f32[8, 4]" = torch.matmul(contiguous, w)
            mm: "f32[8, 4]" = torch.mm(contiguous, w)
            t: "f32[32, 8]{1, 32}" = torch.t(x)
            mm_1: "f32[32, 32]" = torch.mm(t, x)
            return (matmul, mm, mm_1)
        """);

    [Fact]
    public void ProductsStayWhenTheBackendWantsLinearInParts()
    {
        const string text = """
            def forward(self, x: "f32[8, 16]", w: "f32[32, 16]"):
                t: "f32[16, 32]{1, 16}" = torch.t(w)
                matmul: "f32[8, 32]" = torch.matmul(x, t)
                return matmul
            """;
        var context = new PassContext { VerifyEachPass = true, Decompose = op => op == Ops.Linear };
        Assert.True(context.Run(new ChooseLayoutsPass(), CodeParser.Parse(text)).Graph.EquivalentTo(CodeParser.Parse(text)));
    }

    [Fact]
    public void ThePipelineEndsWithFusionGroups()
    {
        var context = new PassContext { VerifyEachPass = true };
        var optimized = OptimizerPipeline.Run(MemoryPlanTests.Mlp(3), context);
        Assert.Equal(3, optimized.Fusion.Groups.Count);
        Assert.All(optimized.Fusion.Groups, g => Assert.Equal(FusionKind.Extern, g.Kind));
        Assert.Equal("plan fusion", context.Records[^1].Pass);
        Assert.Equal("3 kernels for 6 nodes", context.Records[^1].Summary);
    }

    [Fact]
    public void DivisionByAPowerOfTwoBecomesAnExactMultiplication() => Expect(new SimplifyAlgebraPass(), """
        def forward(self, x: "f32[3]", n: "i64[3]"):
            div: "f32[3]" = torch.div(x, 8)
            div_1: "f32[3]" = torch.div(x, -0.25)
            div_2: "f32[3]" = torch.div(x, 3)
            div_3: "f32[3]" = torch.div(n, 2)
            div_4: "i64[3]" = torch.div(n, 2, rounding_mode='floor')
            return (div, div_1, div_2, div_3, div_4)
        """, """
        def forward(self, x: "f32[3]", n: "i64[3]"):
            mul: "f32[3]" = torch.mul(x, 0.125)
            mul_1: "f32[3]" = torch.mul(x, -4.0)
            div_2: "f32[3]" = torch.div(x, 3)
            mul_2: "f32[3]" = torch.mul(n, 0.5)
            div_4: "i64[3]" = torch.div(n, 2, rounding_mode='floor')
            return (mul, mul_1, div_2, mul_2, div_4)
        """);
}
