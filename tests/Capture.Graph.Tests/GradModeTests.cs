namespace Capture.Graphs.Tests;


// torch.no_grad() blocks in graphs: _set_grad_enabled nodes, and what they do to metadata.
public sealed class GradModeTests
{
    private static readonly TensorMeta Grad = TensorMeta.Contiguous(new Shape(3L), DType.Float32, requiresGrad: true);

    private static (Graph Graph, GraphBuilder Builder) NoGradBlock()
    {
        var b = new GraphBuilder();
        var x = b.Placeholder("x", Grad);
        var before = b.Call(Ops.Exp, x);
        b.Call(Ops.SetGradEnabled, [new BoolArg(false)]);
        var inside = b.Call(Ops.Exp, x);
        b.Call(Ops.SetGradEnabled, [new BoolArg(true)]);
        var after = b.Call(Ops.Exp, inside);
        var g = b.Output(new ListArg(EquatableList.Of<Arg>(before, inside, after), IsTuple: true));
        return (g, b);
    }

    [Fact]
    public void ResultsUnderGradModeOffDoNotRequireGrad()
    {
        var (g, _) = NoGradBlock();
        var exps = g.Nodes.OfType<CallOp>().Where(n => n.Op == Ops.Exp).Select(n => ((TensorMeta)n.Meta).RequiresGrad).ToList();
        // exp(x) before the block needs grad; inside it does not; exp of the no-grad result after it does not either
        Assert.Equal([true, false, false], exps);
        Assert.Empty(Verifier.Verify(g));
    }

    [Fact]
    public void InPlaceOpUnderGradModeOffKeepsItsArgumentsMetadata()
    {
        var b = new GraphBuilder();
        var x = b.Placeholder("x", Grad);
        var y = b.Call(Ops.Mul, x, new FloatArg(2.0));
        b.Call(Ops.SetGradEnabled, [new BoolArg(false)]);
        var updated = b.Call(Ops.AddInPlace, [y, new FloatArg(1.0)], method: true);
        Assert.True(((TensorMeta)b.MetaOf(updated)).RequiresGrad);
    }

    [Fact]
    public void VerifierRejectsGradMetadataInsideTheBlock()
    {
        var (g, _) = NoGradBlock();
        var wrong = new Graph(g.Nodes.Select(n => n is CallOp { Name: "exp_1" } c ? c with { Meta = Grad } : n));
        Assert.Contains(Verifier.Verify(wrong), i => i.Rule == VerifierRule.MetadataMatchesRule && i.Node == "exp_1");
    }

    [Fact]
    public void TextFormatRoundTripsTheBlock()
    {
        var (g, _) = NoGradBlock();
        var text = CodePrinter.Print(g);
        Assert.Contains("torch._C._set_grad_enabled(False)", text, StringComparison.Ordinal);
        var parsed = CodeParser.Parse(text);
        Assert.Equal(CodePrinter.Print(g, sourceComments: false), CodePrinter.Print(parsed, sourceComments: false));
    }

    [Fact]
    public void TruncateRestoresTheGradModeOfTheMark()
    {
        var b = new GraphBuilder();
        var x = b.Placeholder("x", Grad);
        var mark = b.Mark();
        b.Call(Ops.SetGradEnabled, [new BoolArg(false)]);
        b.Call(Ops.Exp, x);
        Assert.False(b.GradEnabled);
        b.Truncate(mark);
        Assert.True(b.GradEnabled);
        Assert.True(((TensorMeta)b.MetaOf(b.Call(Ops.Exp, x))).RequiresGrad);
    }
}
