namespace Capture.Graphs.Tests;

public sealed class JsonFormatTests
{
    [Theory]
    [InlineData(TextFormatTests.Mlp)]
    [InlineData(TextFormatTests.Control)]
    public void JsonRoundTripsToAnEqualGraph(string text)
    {
        var graph = CodeParser.Parse(text);
        var json = JsonFormat.Write(graph);
        var back = JsonFormat.Read(json);
        Assert.Equal(graph, back);
        Assert.Equal(json, JsonFormat.Write(back));
        Assert.Equal(graph.Nodes.Select(n => n.Source), back.Nodes.Select(n => n.Source));
    }

    [Fact]
    public void SymbolicSizesAndNonFiniteConstantsSurvive()
    {
        var b = new GraphBuilder();
        var x = b.Placeholder("x", TensorMeta.Contiguous(Shape.Of(Dim.Sym("s0"), 3), DType.Float64, requiresGrad: true));
        var y = b.Call(Ops.Clamp, x, double.NegativeInfinity, double.NaN);
        var graph = b.Output(y);
        Assert.Null(((TensorMeta)graph["clamp"].Meta).Strides);
        var back = JsonFormat.Read(JsonFormat.Write(graph));
        Assert.Equal(graph, back);
        Assert.Contains("\"s0\"", JsonFormat.Write(graph));
    }

    [Fact]
    public void MalformedJsonSaysWhatIsWrong()
    {
        Assert.Equal("unknown node op 'call_magic' (node a)",
            Assert.Throws<FormatException>(() => JsonFormat.Read("""{"nodes": [{"name": "a", "op": "call_magic", "meta": {"none": null}}]}""")).Message);
    }
}
