namespace Capture.Graphs.Tests;

// A graph with control flow cut into pieces that run one after another (for gradients: each piece of
// ops compiles with its own forward/backward split): what each piece reads and passes on.
public sealed class ControlFlowPiecesTests
{
    private const string Branchy = """
        def forward(self, x: "f32[4]", w: "f32[4]"):
            mul: "f32[4]" = torch.mul(x, w)
            sum_1: "f32[]" = torch.sum(mul)
            gt: "b8[]" = torch.gt(sum_1, 0)
            def cond_true(self, mul: "f32[4]"):
                neg: "f32[4]" = torch.neg(mul)
                return (neg,)
            def cond_false(self, mul: "f32[4]"):
                relu: "f32[4]" = torch.relu(mul)
                return (relu,)
            cond: "(f32[4],)" = capture.cond(gt, cond_true, cond_false, (mul,))
            add: "f32[4]" = torch.add(x, 1)
            getitem: "f32[4]" = operator.getitem(cond, 0)
            add_1: "f32[4]" = torch.add(getitem, add)
            return (add_1, mul)
        """;

    private static string[] Names(IEnumerable<Node> nodes) => [.. nodes.Select(n => n.Name)];

    private static string[] Returned(Graph piece) => [.. ((ListArg)piece.Output.Value).Items.SelectMany(a => a.References())];

    [Fact]
    public void EachPieceReadsWhatCameBeforeAndPassesOnWhatComesAfter()
    {
        var pieces = ControlFlowPieces.Cut(CodeParser.Parse(Branchy));
        Assert.NotNull(pieces);
        Assert.Equal(3, pieces.Count);
        foreach (var piece in pieces) Assert.Empty(Verifier.Verify(piece));

        // the ops before the cond: the predicate and the operand go on, sum_1 stays inside
        Assert.Equal(["x", "w"], Names(pieces[0].Placeholders));
        Assert.Equal(["mul", "gt"], Returned(pieces[0]));

        // the cond with the getitem that takes its result apart (moved up from after `add`)
        Assert.Equal(["gt", "mul"], Names(pieces[1].Placeholders));
        Assert.Equal(["cond", "getitem"], Names(pieces[1].Nodes.Where(n => n is not (Placeholder or Output))));
        Assert.True(ControlFlowPieces.IsControlFlowOnly(pieces[1]));
        Assert.Equal(["getitem"], Returned(pieces[1]));

        // the last piece reads an input, the cond's result and a value from two pieces back, and returns the graph's output
        Assert.Equal(["x", "getitem", "mul"], Names(pieces[2].Placeholders));
        Assert.Equal(["add", "add_1"], Names(pieces[2].Nodes.Where(n => n is not (Placeholder or Output))));
        Assert.Equal(["add_1", "mul"], Returned(pieces[2]));
        Assert.False(ControlFlowPieces.IsControlFlowOnly(pieces[0]));
    }

    [Fact]
    public void ATupleReadWholeAcrossPiecesIsNotCut()
    {
        var graph = CodeParser.Parse(Branchy.Replace("return (add_1, mul)", "return (add_1, cond)"));
        Assert.Null(ControlFlowPieces.Cut(graph));
    }
}
