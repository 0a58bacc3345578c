using Capture.Runtime.Torch;
using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Tests;


// The full optimizer pipeline on many seeded random graphs, each padded with work the passes
// should remove (repeated calls, multiplications by one, unused calls): the eager backend gives
// bit-identical results before and after, with the verifier passing after every pass.
[Collection("Python")]
public sealed class OptimizerDifferentialTests
{
    /// <summary>Each pure call twice (later nodes read the copy), float results times one or plus a constant zero, and a dead exp.</summary>
    private static Graph Padded(Graph graph, int seed)
    {
        var rng = new Random(seed);
        var b = new GraphBuilder();
        b.Reserve(graph.Nodes.Select(n => n.Name));
        var renames = new Dictionary<string, string>();
        foreach (var node in graph.Nodes.Where(n => n is not Output))
        {
            var copy = node.Rename(n => renames.GetValueOrDefault(n, n));
            if (copy is CallOp c && c.Op.Category != OpCategory.Opaque)
            {
                // arguments may now be the padded values, with other strides: infer again
                var made = b.Call(c.Op, c.Args, c.Kwargs, method: c.IsMethod);
                renames[c.Name] = made.Name;
                copy = c with { Name = made.Name, Meta = b.MetaOf(made) };
            }
            else b.Add(copy);
            if (copy is not CallOp { Meta: TensorMeta meta } call || !OpEffects.IsPure(call.Op)) continue;
            var value = new RefArg(call.Name);
            if (rng.Next(2) == 0) value = b.Call(call.Op, call.Args, call.Kwargs, method: call.IsMethod);
            if (meta.DType.IsFloatingPoint() && rng.Next(2) == 0) value = b.Call(Ops.Mul, value, new IntArg(1));
            if (meta.DType.IsFloatingPoint() && rng.Next(4) == 0) b.Call(Ops.Exp, value);
            if (meta.DType == DType.Float32 && meta.Rank > 0 && meta.Shape.IsConcrete && rng.Next(4) == 0) // folds into a constant of zeros
                value = b.Call(Ops.Add, value, b.Call(Ops.Mul, b.Call(Ops.Arange, new IntArg(meta.Shape[meta.Rank - 1].Concrete())), new FloatArg(0.0)));
            renames[call.Name] = value.Name;
        }
        var output = (Output)graph.Output.Rename(n => renames.GetValueOrDefault(n, n));
        return b.Output(output.Value);
    }

    [Fact]
    public void RandomGraphsGiveTheSameResultsBeforeAndAfterThePipeline()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(GraphInterpreterTests.Compare, filename: "optimizer_compare.py");
        using var same = ns.GetItem("same");
        var eager = new GraphInterpreter(TestSession.Current.Torch);
        var evaluator = new TorchConstantEvaluator(TestSession.Current.Torch);
        int before = 0, after = 0, folded = 0, layouts = 0;
        for (var seed = 0; seed < 200; seed++)
        {
            var graph = Padded(RandomGraphs.Generate(seed), seed);
            Verifier.Check(graph);
            var context = new PassContext { VerifyEachPass = true, Constants = evaluator };
            var optimized = OptimizerPipeline.Optimize(graph, context);
            folded += context.Records.Single(r => r.Pass == "fold constants").Rewritten;
            layouts += context.Records.Single(r => r.Pass == "choose layouts") is var l ? l.Rewritten + l.Added : 0;
            before += graph.Nodes.Count;
            after += optimized.Nodes.Count;
            using var inputs = GraphInterpreterTests.Inputs(ns, graph, seed);
            var inputList = inputs.ToItems();
            try
            {
                using var expected = eager.Run(graph, inputList, checkMetadata: true);
                using var actual = eager.Run(optimized, inputList, checkMetadata: true);
                try { same.Call(actual, expected).Dispose(); }
                catch (PythonException e) { Assert.Fail($"seed {seed}: the optimized graph differs: {e.PythonMessage}\nbefore:\n{graph}\nafter:\n{optimized}"); }
            }
            finally
            {
                foreach (var i in inputList) i.Dispose();
            }
        }
        // the padding is a third or more of the nodes, and the passes take it out again
        Assert.True(folded >= 20, $"only {folded} constants were folded");
        Assert.True(layouts >= 1, $"only {layouts} layout changes");
        Assert.True(after < before * 0.8, $"the pipeline removed too little: {before} nodes before, {after} after");
    }

    // decompositions compute the same math in other steps than torch's fused kernels: close, not equal
    [Fact]
    public void DecomposingEveryOpThatCanBeKeepsResultsClose()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(GraphInterpreterTests.Compare + "\ndef close(a, b):\n    if isinstance(a, torch.Tensor):\n        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, equal_nan=True)\n        return True\n    return all(close(x, y) for x, y in zip(a, b))\n", filename: "decompose_compare.py");
        using var close = ns.GetItem("close");
        var eager = new GraphInterpreter(TestSession.Current.Torch);
        var decomposed = 0;
        for (var seed = 0; seed < 150; seed++)
        {
            var graph = RandomGraphs.Generate(seed);
            var context = new PassContext { VerifyEachPass = true, Decompose = _ => true };
            var optimized = OptimizerPipeline.Optimize(graph, context);
            decomposed += context.Records.Single(r => r.Pass == "decompose").Rewritten;
            using var inputs = GraphInterpreterTests.Inputs(ns, graph, seed);
            var inputList = inputs.ToItems();
            try
            {
                using var expected = eager.Run(graph, inputList, checkMetadata: true);
                using var actual = eager.Run(optimized, inputList, checkMetadata: true);
                try { close.Call(actual, expected).Dispose(); }
                catch (PythonException e) { Assert.Fail($"seed {seed}: the decomposed graph differs: {e.PythonMessage}\nbefore:\n{graph}\nafter:\n{optimized}"); }
            }
            finally
            {
                foreach (var i in inputList) i.Dispose();
            }
        }
        Assert.True(decomposed >= 20, $"only {decomposed} calls were decomposed");
    }

    // the layout pass's rewrites (transposed-operand form, contiguous copies) compute the same values
    [Theory]
    [InlineData("""
        def forward(self, x: "f32[8, 16]", w: "f32[32, 16]", b: "f32[32]", y: "f32[2, 8, 16]"):
            t: "f32[16, 32]{1, 16}" = torch.t(w)
            matmul: "f32[8, 32]" = torch.matmul(x, t)
            addmm: "f32[8, 32]" = torch.addmm(b, x, t)
            transpose: "f32[16, 32]{1, 16}" = torch.transpose(w, -1, -2)
            matmul_1: "f32[2, 8, 32]" = torch.matmul(y, transpose)
            return (matmul, addmm, matmul_1)
        """)]
    [InlineData("""
        def forward(self, x: "f32[8, 32]", w: "f32[16, 4]", c: "f32[2, 3, 9, 9]", k: "f32[4, 3, 3, 3]"):
            getitem: "f32[8, 16]{32, 2}" = operator.getitem(x, (slice(None, None, None), slice(None, None, 2)))
            matmul: "f32[8, 4]" = torch.matmul(getitem, w)
            mm: "f32[8, 4]" = torch.mm(getitem, w)
            transpose: "f32[2, 3, 9, 9]{243, 81, 1, 9}" = torch.transpose(c, 2, 3)
            conv2d: "f32[2, 4, 7, 7]" = torch.nn.functional.conv2d(transpose, k)
            return (matmul, mm, conv2d)
        """)]
    public void LayoutRewritesKeepResults(string text)
    {
        var graph = CodeParser.Parse(text);
        var laid = new PassContext { VerifyEachPass = true }.Run(new ChooseLayoutsPass(), graph);
        Assert.True(laid.Changed);
        GraphInterpreterTests.AssertSameResults(graph, laid.Graph, 7);
    }
}
