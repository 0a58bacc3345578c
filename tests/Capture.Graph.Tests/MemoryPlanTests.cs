namespace Capture.Graphs.Tests;


// Memory plans over fusion plans of IR text: which buffers share slots, in-place reuse, and the
// planned size against one allocation per intermediate.
public sealed class MemoryPlanTests
{
    private static MemoryPlan Plan(Graph graph)
    {
        var context = new PassContext();
        var fusion = new PlanFusionPass().Run(graph, context);
        return new PlanMemoryPass(fusion).Run(graph, context);
    }

    private static MemoryPlan Plan(string text) => Plan(CodeParser.Parse(text));

    /// <summary>x -> (linear + relu) x layers, 64 x 256 float32 activations.</summary>
    internal static Graph Mlp(int layers)
    {
        var b = new GraphBuilder();
        Arg x = b.Placeholder("x", TensorMeta.Contiguous(new Shape(64, 256), DType.Float32));
        var weights = Enumerable.Range(0, layers).Select(i => (
            W: b.Placeholder($"w{i}", TensorMeta.Contiguous(new Shape(256, 256), DType.Float32)),
            B: b.Placeholder($"b{i}", TensorMeta.Contiguous(new Shape(256), DType.Float32)))).ToList();
        foreach (var (w, bias) in weights) x = b.Call(Ops.Relu, b.Call(Ops.Linear, x, w, bias));
        return b.Output(x);
    }

    [Fact]
    public void ATenLayerMlpPingPongsBetweenTwoSlots()
    {
        var plan = Plan(Mlp(10));
        const long activation = 64 * 256 * 4;
        Assert.Equal(9, plan.Buffers.Count); // the tenth activation is the graph's output
        Assert.Equal([activation, activation], plan.Slots);
        Assert.Equal(2 * activation, plan.PlannedBytes);
        Assert.Equal(9 * activation, plan.NaiveBytes);
        Assert.Equal(2 * activation, plan.PeakLiveBytes);
        Assert.Equal([0, 1, 0, 1, 0, 1, 0, 1, 0], plan.Buffers.Select(b => b.Slot));
        Assert.StartsWith("9 buffers in 2 slots: planned 128 KiB, naive 576 KiB, peak live 128 KiB", plan.ToString());
    }

    [Fact]
    public void APointwiseKernelWritesOverAnInputThatDiesThere()
    {
        var plan = Plan("""
            def forward(self, x: "f32[4, 8]", w: "f32[8, 8]"):
                rand: "f32[4, 8]" = torch.rand(4, 8)
                add: "f32[4, 8]" = torch.add(rand, x)
                exp: "f32[4, 8]" = torch.exp(add)
                matmul: "f32[4, 8]" = torch.matmul(exp, w)
                return matmul
            """);
        // kernels: rand | add, exp | matmul: exp is written over rand, which dies in that kernel
        var exp = plan.Buffers.Single(b => b.Value == "exp");
        Assert.Equal("rand", exp.InPlaceOf);
        Assert.Equal(plan.Buffers.Single(b => b.Value == "rand").Slot, exp.Slot);
        Assert.Equal([4 * 8 * 4L], plan.Slots);
    }

    [Fact]
    public void NoInPlaceWriteOverAnInputAlsoReadThroughAViewOrBroadcast()
    {
        var plan = Plan("""
            def forward(self, x: "f32[4, 4]"):
                rand: "f32[4, 4]" = torch.rand(4, 4)
                t: "f32[4, 4]{1, 4}" = torch.t(rand)
                add: "f32[4, 4]" = torch.add(rand, t)
                exp: "f32[4, 4]" = torch.exp(add)
                rand_1: "f32[4]" = torch.rand(4)
                mul: "f32[4, 4]" = torch.mul(exp, rand_1)
                return (mul, x)
            """);
        Assert.All(plan.Buffers, b => Assert.Null(b.InPlaceOf));
        Assert.DoesNotContain(plan.Buffers, b => b.Value == "mul");
    }

    [Fact]
    public void AReturnedViewKeepsItsBaseOutOfThePlan()
    {
        var plan = Plan("""
            def forward(self, x: "f32[4, 4]"):
                rand: "f32[4, 4]" = torch.rand(4, 4)
                t: "f32[4, 4]{1, 4}" = torch.t(rand)
                add: "f32[4, 4]" = torch.add(rand, x)
                return (t, add)
            """);
        Assert.Empty(plan.Buffers);
    }
}
