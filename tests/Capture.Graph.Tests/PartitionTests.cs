using Capture.Graphs;

namespace Capture.Graphs.Tests;


// The max-flow under the min-cut partitioner, and what each partitioner saves on graphs whose best
// answer is known.
public sealed class PartitionTests
{
    [Fact]
    public void MaxFlowFindsTheMinimumCut()
    {
        // the classic six-vertex network: max flow 23, cut {s, 1, 2, 4} | {3, t}
        var flow = new MaxFlow(6);
        foreach (var (from, to, capacity) in new[] { (0, 1, 16L), (0, 2, 13L), (1, 2, 10L), (2, 1, 4L), (1, 3, 12L), (3, 2, 9L), (2, 4, 14L), (4, 3, 7L), (3, 5, 20L), (4, 5, 4L) })
            flow.AddEdge(from, to, capacity);
        Assert.Equal(23, flow.Run(0, 5));
        Assert.Equal([true, true, true, false, true, false], flow.SourceSide(0));
    }

    [Fact]
    public void MaxFlowReportsAnInfiniteCut()
    {
        var flow = new MaxFlow(3);
        flow.AddEdge(0, 1, MaxFlow.Infinite);
        flow.AddEdge(1, 2, MaxFlow.Infinite);
        Assert.True(flow.Run(0, 2) >= MaxFlow.Infinite);
    }

    private static Graph Parse(string body, string parameters) =>
        CodeParser.Parse($"def forward(self, {parameters}):\n{body}");

    [Fact]
    public void MinCutRecomputesAPointwiseChainFromItsInput()
    {
        var graph = Parse("""
                a: "f32[64, 64] grad" = torch.sin(x)
                b: "f32[64, 64] grad" = torch.exp(a)
                c: "f32[64, 64] grad" = torch.tanh(b)
                d: "f32[] grad" = c.sum()
                return d
            """, "x: \"f32[64, 64] grad\"");
        var joint = JointGraph.Build(graph);
        var minCut = Partitioners.MinCut(joint);
        var saveAll = Partitioners.SaveAll(joint);
        Assert.Equal(["x"], minCut.Saved);
        Assert.Equal(64 * 64 * 4, minCut.SavedBytes);
        Assert.True(saveAll.SavedBytes > minCut.SavedBytes, saveAll.ToString());
        // the backward computes sin, exp and tanh again from x
        Assert.Contains(minCut.Backward.Nodes, n => n is CallOp { Op.Name: "torch.exp" });
        Assert.Equal(["x", "tangents_1"], minCut.Backward.Placeholders.Select(p => p.Name));
    }

    [Fact]
    public void MinCutNeverRecomputesAMatmul()
    {
        var graph = Parse("""
                m: "f32[32, 32] grad" = torch.mm(x, w)
                r: "f32[32, 32] grad" = torch.relu(m)
                s: "f32[] grad" = r.sum()
                return s
            """, "x: \"f32[32, 32]\", w: \"f32[32, 32] grad\"");
        var partition = Partitioners.MinCut(JointGraph.Build(graph));
        Assert.DoesNotContain(partition.Backward.Nodes, n => n is CallOp { Op.Name: "torch.mm" } c && c.Args.Any(a => a is RefArg { Name: "w" }));
        Assert.Contains("x", partition.Saved);
        Assert.Equal(2, partition.Saved.Count); // x and one [32, 32] value behind the relu's mask
    }

    [Fact]
    public void AnInputWithoutGradGetsNoGradient()
    {
        var graph = Parse("""
                y: "f32[3] grad" = torch.mul(x, w)
                return y
            """, "x: \"f32[3]\", w: \"f32[3] grad\"");
        var joint = JointGraph.Build(graph);
        Assert.Equal([false, true], joint.InputNeedsGrad);
        Assert.IsType<NoneArg>(joint.InputGradients.Items[0]);
        Assert.IsType<RefArg>(joint.InputGradients.Items[1]);
    }

    [Fact]
    public void AnOpOutsideTheRegistryIsRefusedWithItsName()
    {
        var graph = Parse("""
                y: "f32[3] grad" = torch.cumsum(x, 0)
                return y
            """, "x: \"f32[3] grad\"");
        var e = Assert.Throws<NotSupportedException>(() => JointGraph.Build(graph));
        Assert.Contains("torch.cumsum", e.Message);
    }
}
