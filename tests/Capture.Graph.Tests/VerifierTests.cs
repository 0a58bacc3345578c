namespace Capture.Graphs.Tests;


// Each verifier rule, violated once, on a graph that is otherwise valid.
public sealed class VerifierTests
{
    private static readonly TensorMeta F2 = TensorMeta.Contiguous(new Shape(2L), DType.Float32);
    private static readonly OpDef Exp = Ops.Exp;

    private static CallOp ExpOf(string name, string input) => new(name, Exp, EquatableList.Of<Arg>(new RefArg(input)), EquatableList<Kwarg>.Empty, F2);

    private static VerifierRule Only(Graph g)
    {
        var issues = Verifier.Verify(g);
        Assert.True(issues.Count >= 1, "expected the verifier to reject the graph");
        return issues.Select(i => i.Rule).Distinct().Single();
    }

    [Fact]
    public void ValidGraphPasses()
    {
        var g = new Graph([new Placeholder("x", F2), ExpOf("e", "x"), new Output("output", new RefArg("e"), F2)]);
        Assert.Empty(Verifier.Verify(g));
        Verifier.Check(g);
    }

    [Fact]
    public void DuplicateName() =>
        Assert.Equal(VerifierRule.UniqueNames, Only(new Graph([new Placeholder("x", F2), ExpOf("e", "x"), ExpOf("e", "x"), new Output("output", new RefArg("e"), F2)])));

    [Fact]
    public void PlaceholderAfterCompute() =>
        Assert.Equal(VerifierRule.PlaceholdersFirst, Only(new Graph([new Placeholder("x", F2), ExpOf("e", "x"), new Placeholder("y", F2), new Output("output", new RefArg("e"), F2)])));

    [Fact]
    public void OutputNotLast() =>
        Assert.Equal(VerifierRule.OneOutputLast, Only(new Graph([new Placeholder("x", F2), new Output("output", new RefArg("x"), F2), ExpOf("e", "x")])));

    [Fact]
    public void UseBeforeDefinition() =>
        Assert.Equal(VerifierRule.DefinedBeforeUse, Only(new Graph([new Placeholder("x", F2), ExpOf("e", "f"), ExpOf("f", "x"), new Output("output", new RefArg("e"), F2)])));

    [Fact]
    public void MissingStrides() =>
        Assert.Equal(VerifierRule.MetadataPresent, Only(new Graph([new Placeholder("x", F2 with { Strides = null }), new Output("output", new RefArg("x"), F2 with { Strides = null })])));

    [Fact]
    public void MetadataDisagreeingWithTheRule() =>
        Assert.Equal(VerifierRule.MetadataMatchesRule, Only(new Graph([new Placeholder("x", F2), ExpOf("e", "x") with { Meta = F2 with { DType = DType.Float64 } },
            new Output("output", new RefArg("e"), F2 with { DType = DType.Float64 })])));

    [Fact]
    public void MethodOnlyOpCalledAsFunction() =>
        Assert.Equal(VerifierRule.CallForm, Only(new Graph([new Placeholder("x", F2),
            new CallOp("c", Ops.Contiguous, EquatableList.Of<Arg>(new RefArg("x")), EquatableList<Kwarg>.Empty, F2),
            new Output("output", new RefArg("c"), F2)])));

    [Fact]
    public void CondBranchesDisagree()
    {
        var branch = new Graph([new Placeholder("a", F2), new Output("output", new RefArg("a"), F2)]);
        var other = new Graph([new Placeholder("a", F2), new Output("output", new RefArg("a"), F2)]);
        var badBranch = new Graph([new Placeholder("a", F2), new Placeholder("b", F2), new Output("output", new RefArg("a"), F2)]);
        var pred = TensorMeta.Contiguous(Shape.Scalar, DType.Bool);
        Graph WithCond(Graph t, Graph f) => new([new Placeholder("p", pred), new Placeholder("x", F2),
            new Cond("cond", new RefArg("p"), t, f, EquatableList.Of<Arg>(new RefArg("x")), F2), new Output("output", new RefArg("cond"), F2)]);
        Assert.Empty(Verifier.Verify(WithCond(branch, other)));
        Assert.Equal(VerifierRule.SubgraphSignature, Only(WithCond(branch, badBranch)));
    }

    [Fact]
    public void CheckThrowsWithEveryIssue()
    {
        var g = new Graph([new Placeholder("x", F2), ExpOf("e", "nope"), ExpOf("e", "x")]);
        var e = Assert.Throws<GraphVerificationException>(() => Verifier.Check(g));
        Assert.Contains(e.Issues, i => i.Rule == VerifierRule.DefinedBeforeUse);
        Assert.Contains(e.Issues, i => i.Rule == VerifierRule.UniqueNames);
        Assert.Contains(e.Issues, i => i.Rule == VerifierRule.OneOutputLast);
    }
}
