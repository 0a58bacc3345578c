namespace Capture.Graphs.Tests;

public sealed class PrinterTests
{
    [Fact]
    public void TabularHasFxColumns()
    {
        var graph = CodeParser.Parse(TextFormatTests.Mlp);
        var lines = TabularPrinter.Print(graph).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^opcode\s+name\s+target\s+args\s+kwargs\s+meta$", lines[0]);
        Assert.Equal(graph.Nodes.Count + 2, lines.Length);
        Assert.Matches(@"^call_function\s+gelu\s+torch\.nn\.functional\.gelu\s+\(linear,\)\s+\{'approximate': 'tanh'\}\s+f32\[8, 32\]$", lines.Single(l => l.StartsWith("call_function  gelu")));
        Assert.Matches(@"^call_method\s+t\s+t\s+\(w2,\)", lines.Single(l => l.StartsWith("call_method") && l.Contains("(w2,)")));
    }

    [Fact]
    public void DotHasANodePerNodeAndAnEdgePerUse()
    {
        var graph = CodeParser.Parse(TextFormatTests.Control);
        var dot = DotPrinter.Print(graph);
        Assert.StartsWith("digraph \"forward\" {", dot);
        Assert.Contains("\"x\" -> \"cond\";", dot);
        Assert.Contains("subgraph \"cluster_cond_true\"", dot);
        Assert.Contains("\"cond_true.neg\" [label=\"neg = torch.neg\\nf32[4]\"];", dot);
        Assert.EndsWith("}\n", dot);
    }

    [Theory]
    [InlineData(TextFormatTests.Mlp)]
    [InlineData(TextFormatTests.Control)]
    public void GraphvizRendersTheDot(string text)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dot", "-Tsvg") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var dot = System.Diagnostics.Process.Start(start)!;
        var graph = CodeParser.Parse(text);
        dot.StandardInput.Write(DotPrinter.Print(graph));
        dot.StandardInput.Close();
        var svg = dot.StandardOutput.ReadToEnd();
        var errors = dot.StandardError.ReadToEnd();
        dot.WaitForExit();
        Assert.True(dot.ExitCode == 0, errors);
        Assert.Contains("<svg", svg);
        Assert.All(graph.Nodes, n => Assert.Contains(n.Name, svg));
    }

    [Fact]
    public void UseAnalysisCountsEachUserOnce()
    {
        var graph = CodeParser.Parse("def forward(self, x: \"f32[2]\"):\n    y = torch.add(x, x)\n    z = torch.mul(y, x)\n    w = torch.exp(x)\n    return z\n");
        var uses = UseAnalysis.Of(graph);
        Assert.Equal(["y", "z", "w"], uses.Users("x"));
        Assert.True(uses.IsDead("w"));
        Assert.Equal(1, uses.UseCount("z"));
    }
}
