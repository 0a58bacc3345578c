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
        Assert.Equal("f32[3, s0]{1, 3}", MetaText.Format(Infer("torch.transpose", X, 0L, 1L)));
        Assert.Equal([3L, 1L], ((TensorMeta)Infer("torch.exp", X)).Strides!);
        Assert.Equal("f32[3*s0]", MetaText.Format(Infer("torch.reshape", X, Arg.Ints(-1))));
        Assert.Equal("f32[s0, 3, 1]", MetaText.Format(Infer("torch.unsqueeze", X, 2L)));
    }

    [Fact]
    public void SizeExpressionsAreCanonicalAndFollowPythonsIntegerArithmetic()
    {
        SizeExpr s0 = SizeExpr.Symbol("s0"), s1 = SizeExpr.Symbol("s1");
        Assert.Equal(s0 * (s1 + 1), s1 * s0 + s0);
        Assert.Equal("s0*s1 + s0", (s0 * (s1 + 1)).ToString());
        Assert.Equal(s0 + 1, SizeExpr.FloorDiv(s0 * 4 + 5, 4));           // (4*s0 + 5) // 4 = s0 + 1
        Assert.Equal("(s0//2)", SizeExpr.FloorDiv(s0, 2).ToString());
        Assert.Equal("(s0%3) + 1", (SizeExpr.Mod(s0 * 3 + s0, 3) + 1).ToString());
        Assert.Equal(-2, SizeExpr.FloorDiv(SizeExpr.Constant(-7), 4).ConstantValue);   // floor, as Python
        Assert.Equal(1, SizeExpr.Mod(SizeExpr.Constant(-7), 4).ConstantValue);
        Assert.Equal(s1, SizeExpr.ExactDivide(s0 * s1 * 2, s0 * 2));
        Assert.Null(SizeExpr.ExactDivide(s0 * s1 + 1, s0));
        foreach (var text in new[] { "s0*s1 + s0", "(s0//2)", "2*s0 - 3", "(s0//2)*s1 + (s1%4)" })
            Assert.Equal(text, SizeExpr.Parse(text).ToString());
        var values = new Dictionary<string, long> { ["s0"] = 7, ["s1"] = 5 };
        Assert.Equal(7 / 2 * 5 + 5 % 4, SizeExpr.Parse("(s1%4) + s1*(s0//2)").Evaluate(values));
    }

    [Fact]
    public void RelationsKnownFromTheExpressionsNeedNoGuard()
    {
        var s0 = Dim.Sym("s0");
        var env = new ShapeEnv();
        env.Declare("s0", 5);
        env.Declare("s1", 9);
        using (ShapeEnv.Enter(env))
        {
            Assert.False(Sizes.IsOne(s0));
            Assert.True(Sizes.Compare(s0 + Dim.Of(1), SizeComparison.Gt, s0, "test"));
            Assert.True(Sizes.Compare(s0 * Dim.Sym("s1"), SizeComparison.Ge, s0, "test"));
            Assert.Empty(env.Decisions);
            Assert.True(Sizes.Compare(s0, SizeComparison.Lt, Dim.Sym("s1"), "line 3"));
            Assert.Equal("s0 < s1", Assert.Single(env.Decisions).Relation.ToString());
            Assert.False(Sizes.Equal(s0, Dim.Of(4), "line 4"));
            Assert.Equal("s0 != 4", env.Decisions[1].Relation.ToString());
            // a symbol stands for any size of at least 1 (its graph serves size 1): that it is more is a guard
            Assert.True(Sizes.Compare(s0 * Dim.Sym("s1"), SizeComparison.Ge, Dim.Of(4), "line 5"));
            Assert.Equal("s0*s1 >= 4", env.Decisions[2].Relation.ToString());
            Assert.False(Sizes.IsOne(s0, "line 6"));
            Assert.Equal("s0 != 1", env.Decisions[3].Relation.ToString());
        }
    }

    [Fact]
    public void SlicingByASymbolGuardsItsClamp()
    {
        // mask[:T, :T] of a 64 x 64 buffer: the result is T x T while T <= 64
        var env = new ShapeEnv();
        env.Declare("s0", 12);
        var b = new GraphBuilder();
        var mask = b.Placeholder("mask", TensorMeta.Contiguous(new Shape(64L, 64L), DType.Float32));
        var t = new SliceArg(NoneArg.Instance, Arg.Size(Dim.Sym("s0")), NoneArg.Instance);
        using (ShapeEnv.Enter(env))
        {
            var sliced = b.Call(Ops.GetItem, mask, new ListArg(EquatableList.Of<Arg>(t, t), IsTuple: true));
            Assert.Equal("f32[s0, s0]{64, 1}", MetaText.Format(b.MetaOf(sliced)));
        }
        Assert.Equal("s0 <= 64", Assert.Single(env.Decisions).Relation.ToString());
    }

    [Fact]
    public void RulesNeedingAValueRefuseClearly()
    {
        // with no ShapeEnv to guard the decision, a rule that needs a symbol's value refuses
        var e = Assert.Throws<NotSupportedException>(() => Infer("torch.chunk", X, 2L, 0L));
        Assert.Contains("s0", e.Message);
        Assert.Throws<NotSupportedException>(() => Infer("torch.unbind", X, 0L));
    }

    [Fact]
    public void UndecidableBroadcastIsNotSupported()
    {
        var b = new GraphBuilder();
        var x = b.Placeholder("x", Batch);
        var y = b.Placeholder("y", TensorMeta.Contiguous(Shape.Of(Dim.Sym("s1"), 3), DType.Float32));
        Assert.Contains("s0 == s1", Assert.Throws<NotSupportedException>(() => b.Call(Ops.Add, x, y)).Message);
    }
}
