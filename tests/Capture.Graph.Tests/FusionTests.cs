namespace Capture.Graphs.Tests;

// Fusion grouping on IR text: the expected kernels, one line each ("g1 extern [8, 32]: linear, relu").
public sealed class FusionTests
{
    private static FusionPlan Plan(string text) => new PlanFusionPass().Run(CodeParser.Parse(text), new PassContext());

    private static void Expect(string text, params string[] groups) =>
        Assert.Equal(string.Join("\n", groups), Plan(text).ToString().TrimEnd('\n'));

    [Fact]
    public void APointwiseChainAndItsSiblingsAreOneKernel() => Expect("""
        def forward(self, x: "f32[4, 8]", y: "f32[4, 8]"):
            mul: "f32[4, 8]" = torch.mul(x, 2)
            exp: "f32[4, 8]" = torch.exp(mul)
            neg: "f32[4, 8]" = torch.neg(mul)
            add: "f32[4, 8]" = torch.add(exp, y)
            return (add, neg)
        """, "g1 pointwise [4, 8]: mul, exp, neg, add");

    [Fact]
    public void MatmulBiasAndActivationAreOneKernel()
    {
        Expect("""
            def forward(self, x: "f32[8, 16]", w: "f32[32, 16]", b: "f32[32]"):
                linear: "f32[8, 32]" = torch.nn.functional.linear(x, w, b)
                relu: "f32[8, 32]" = torch.relu(linear)
                return relu
            """, "g1 extern [8, 32]: linear, relu");
        // the decomposed form: the transpose is a view the gemm reads, the bias add an epilogue
        Expect("""
            def forward(self, x: "f32[8, 16]", w: "f32[32, 16]", b: "f32[32]"):
                t: "f32[16, 32]{1, 16}" = torch.t(w)
                matmul: "f32[8, 32]" = torch.matmul(x, t)
                add: "f32[8, 32]" = torch.add(matmul, b)
                gelu: "f32[8, 32]" = torch.nn.functional.gelu(add)
                return gelu
            """,
            "g1 extern [8, 32]: matmul, add, gelu");
    }

    [Fact]
    public void SoftmaxAndLayerNormAreOneKernelEachWholeOrInParts()
    {
        Expect("""
            def forward(self, x: "f32[4, 8]", w: "f32[8]", b: "f32[8]"):
                softmax: "f32[4, 8]" = torch.softmax(x, -1)
                layer_norm: "f32[4, 8]" = torch.nn.functional.layer_norm(softmax, [8], w, b)
                return layer_norm
            """, "g1 reduction [4, 8] -> [4, 1]: softmax, layer_norm");
        Expect("""
            def forward(self, x: "f32[4, 8]"):
                amax: "f32[4, 1]" = torch.amax(x, [1], True)
                sub: "f32[4, 8]" = torch.sub(x, amax)
                exp: "f32[4, 8]" = torch.exp(sub)
                sum: "f32[4, 1]" = torch.sum(exp, [1], True)
                div: "f32[4, 8]" = torch.div(exp, sum)
                return div
            """, "g1 reduction [4, 8] -> [4, 1]: amax, sub, exp, sum, div");
        Expect("""
            def forward(self, x: "f32[4, 8]", w: "f32[8]", b: "f32[8]"):
                mean: "f32[4, 1]" = torch.mean(x, [1], True)
                sub: "f32[4, 8]" = torch.sub(x, mean)
                mul: "f32[4, 8]" = torch.mul(sub, sub)
                mean_1: "f32[4, 1]" = torch.mean(mul, [1], True)
                add: "f32[4, 1]" = torch.add(mean_1, 1e-05)
                rsqrt: "f32[4, 1]" = torch.rsqrt(add)
                mul_1: "f32[4, 8]" = torch.mul(sub, rsqrt)
                mul_2: "f32[4, 8]" = torch.mul(mul_1, w)
                add_1: "f32[4, 8]" = torch.add(mul_2, b)
                return add_1
            """, "g1 reduction [4, 8] -> [4, 1]: mean, sub, mul, mean_1, add, rsqrt, mul_1, mul_2, add_1");
    }

    [Fact]
    public void AMatmulAfterASoftmaxStartsANewKernel() => Expect("""
        def forward(self, q: "f32[4, 8]", k: "f32[8, 4]", v: "f32[4, 8]"):
            matmul: "f32[4, 4]" = torch.matmul(q, k)
            mul: "f32[4, 4]" = torch.mul(matmul, 0.5)
            softmax: "f32[4, 4]" = torch.softmax(mul, -1)
            matmul_1: "f32[4, 8]" = torch.matmul(softmax, v)
            return matmul_1
        """, "g1 extern [4, 4]: matmul, mul", "g2 reduction [4, 4] -> [4, 1]: softmax", "g3 extern [4, 8]: matmul_1");

    [Fact]
    public void AMergeThroughAViewOfTheProducerWouldBeACycleAndIsRefused() => Expect("""
        def forward(self, x: "f32[4, 4]"):
            exp: "f32[4, 4]" = torch.exp(x)
            t: "f32[4, 4]{1, 4}" = torch.t(exp)
            add: "f32[4, 4]" = torch.add(exp, t)
            return add
        """, "g1 pointwise [4, 4]: exp", "g2 pointwise [4, 4]: add");

    // mean's group would take add (its epilogue), but the clamps' group holds both a node downstream of
    // mean (mul, through sum) and one upstream of add (clamp): merging would make a cycle of groups
    // that no path of single nodes shows. Found by random graphs with dims of up to 24 (seed 162).
    [Fact]
    public void AMergeThroughAThirdGroupWouldBeACycleAndIsRefused() => Expect("""
        def forward(self, x0: "f32[4]"):
            clamp: "f32[4]" = torch.clamp(x0, -0.5, 0.75)
            clamp_1: "f32[4]" = torch.clamp(clamp, -0.5, 0.75)
            mean: "f32[1]" = torch.mean(x0, [0], True)
            sum: "f32[]" = torch.sum(mean)
            mul: "f32[4]" = torch.mul(sum, clamp_1)
            sum_1: "f32[]" = torch.sum(mul)
            mul_1: "f32[4]" = torch.mul(sum_1, clamp_1)
            add: "f32[4]" = torch.add(mean, clamp, alpha=0.5)
            return (mul_1, add)
        """, "g1 reduction [4] -> [1]: mean", "g2 reduction [1] -> []: sum", "g3 reduction [4] -> []: clamp, clamp_1, mul, sum_1, mul_1, add");

    [Fact]
    public void CheapBroadcastProducersAreRecomputedExpensiveOnesAndReductionsAreNot()
    {
        var plan = Plan("""
            def forward(self, x: "f32[4, 8]", b: "f32[8]"):
                mul: "f32[8]" = torch.mul(b, 2)
                add: "f32[4, 8]" = torch.add(x, mul)
                return add
            """);
        var group = Assert.Single(plan.Groups);
        Assert.Equal(["mul"], group.Recomputed);
        Assert.Equal(["add"], group.Outputs);
        Expect("""
            def forward(self, x: "f32[4, 8]", b: "f32[8]"):
                exp: "f32[8]" = torch.exp(b)
                add: "f32[4, 8]" = torch.add(x, exp)
                return add
            """, "g1 pointwise [8]: exp", "g2 pointwise [4, 8]: add");
        Expect("""
            def forward(self, x: "f32[4, 8]", y: "f32[4, 8]"):
                sum: "f32[8]" = torch.sum(x, [0])
                add: "f32[4, 8]" = torch.add(y, sum)
                return add
            """, "g1 reduction [4, 8] -> [8]: sum", "g2 pointwise [4, 8]: add");
    }

    [Fact]
    public void ViewsConstantsAndPlaceholdersGetNoKernelAndGroupsRunAfterWhatTheyRead()
    {
        var plan = Plan("""
            def forward(self, x: "f32[4, 8]"):
                view: "f32[32]" = x.view(32)
                exp: "f32[32]" = torch.exp(view)
                view_1: "f32[4, 8]" = exp.view(4, 8)
                rand: "f32[4, 8]" = torch.rand(4, 8)
                add: "f32[4, 8]" = torch.add(view_1, rand)
                return add
            """);
        Assert.Equal("g1 pointwise [32]: exp\ng2 single [4, 8]: rand\ng3 pointwise [4, 8]: add\n", plan.ToString());
        Assert.Null(plan.GroupOf("view"));
        Assert.Equal(["view_1", "rand"], plan.Groups[2].Inputs);
    }
}
