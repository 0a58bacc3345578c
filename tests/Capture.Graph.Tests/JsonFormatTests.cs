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
        var x = b.Placeholder("x", TensorMeta.Contiguous(Shape.Of(3, Dim.Sym("s0")), DType.Float64, requiresGrad: true));
        var y = b.Call(Ops.Clamp, x, double.NegativeInfinity, double.NaN);
        var z = b.Call(Ops.View, [y, new ListArg(EquatableList.Of(Arg.Size(Dim.Sym("3*s0")), 1L))], method: true);
        var graph = b.Output(b.Call(Ops.Transpose, z, 0L, 1L));
        Assert.Null(((TensorMeta)graph["clamp"].Meta).Strides); // [s0, 1]
        Assert.Equal("f64[1, 3*s0]{1, 1} grad", MetaText.Format(graph.Output.Meta));
        var back = JsonFormat.Read(JsonFormat.Write(graph));
        Assert.Equal(graph, back);
        Assert.Contains("\"s0\"", JsonFormat.Write(graph));
        Assert.Contains("\"3*s0\"", JsonFormat.Write(graph));
    }

    [Fact]
    public void MalformedJsonSaysWhatIsWrong()
    {
        Assert.Equal("unknown node op 'call_magic' (node a)",
            Assert.Throws<FormatException>(() => JsonFormat.Read("""{"nodes": [{"name": "a", "op": "call_magic", "meta": {"none": null}}]}""")).Message);
    }
}
