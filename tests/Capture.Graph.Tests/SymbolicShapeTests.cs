namespace Capture.Graphs.Tests;

// Symbolic sizes flow through rules that only compare sizes; rules that need a size's value say so.
public sealed class SymbolicShapeTests
{
    private static readonly TensorMeta Batch = TensorMeta.Contiguous(Shape.Of(Dim.Sym("s0"), 3), DType.Float32);

    private static ValueMeta Infer(string op, params Arg[] args)
    {
        var b = new GraphBuilder();
        var x = b.Placeholder("x", Batch);
        var w = b.Placeholder("w", TensorMeta.Contiguous(new Shape(3L, 4L), DType.Float32));
        var resolved = args.Select(a => a is StrArg { Value: var n } ? (Arg)new RefArg(n) : a).ToArray();
        return b.MetaOf(b.Call(OpRegistry.Get(op), resolved));
    }

    private static readonly Arg X = new StrArg("x");
    private static readonly Arg W = new StrArg("w");

    [Fact]
    public void PointwiseMatmulAndReductionsKeepSymbols()
    {
        Assert.Equal("f32[s0, 3]", MetaText.Format(Infer("torch.add", X, 1.0)));
        Assert.Equal("f32[s0, 4]", MetaText.Format(Infer("torch.matmul", X, W)));
        Assert.Equal("f32[s0]", MetaText.Format(Infer("torch.sum", X, Arg.Ints(1))));
        Assert.Equal("f32[3, s0]", MetaText.Format(Infer("torch.transpose", X, 0L, 1L)));
        Assert.Null(((TensorMeta)Infer("torch.exp", X)).Strides);
    }

    [Fact]
    public void RulesNeedingAValueRefuseClearly()
    {
        var e = Assert.Throws<NotSupportedException>(() => Infer("torch.reshape", X, Arg.Ints(-1)));
        Assert.Contains("symbolic (s0)", e.Message);
        Assert.Throws<NotSupportedException>(() => Infer("torch.chunk", X, 2L));
    }

    [Fact]
    public void UndecidableBroadcastIsNotSupported()
    {
        var b = new GraphBuilder();
        var x = b.Placeholder("x", Batch);
        var y = b.Placeholder("y", TensorMeta.Contiguous(Shape.Of(Dim.Sym("s1"), 3), DType.Float32));
        Assert.Contains("sizes s0 and s1", Assert.Throws<NotSupportedException>(() => b.Call(Ops.Add, x, y)).Message);
    }
}
