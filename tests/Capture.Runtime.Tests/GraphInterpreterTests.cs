using Capture.Runtime.Torch;
using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Tests;


[Collection("Python")]
public sealed class GraphInterpreterTests
{
    internal const string Compare = """
        import operator, torch

        class _Capture:  # what capture.cond / while_loop mean, for running printed graphs as Python
            @staticmethod
            def cond(pred, true_fn, false_fn, operands):
                return true_fn(None, *operands) if bool(pred) else false_fn(None, *operands)
            @staticmethod
            def while_loop(cond_fn, body_fn, operands):
                while bool(cond_fn(None, *operands)):
                    operands = tuple(body_fn(None, *operands))
                return tuple(operands)

        def inputs_for(shapes, dtypes, seed):
            g = torch.Generator().manual_seed(seed)
            return [torch.randn(s, generator=g, dtype=getattr(torch, d)) for s, d in zip(shapes, dtypes)]

        def run_printed(code, inputs):
            ns = {"torch": torch, "operator": operator, "capture": _Capture}
            exec(code, ns)
            return ns["forward"](None, *inputs)

        def same(a, b, rtol=0.0, atol=0.0):
            if isinstance(a, torch.Tensor):
                torch.testing.assert_close(a, b, rtol=rtol, atol=atol, equal_nan=True)
                return True
            if isinstance(a, (tuple, list)):
                assert len(a) == len(b), (len(a), len(b))
                return all(same(x, y, rtol, atol) for x, y in zip(a, b))
            assert a == b, (a, b)
            return True
        """;

    internal static PyObject Inputs(PyObject ns, Graph graph, int seed)
    {
        var metas = graph.Placeholders.Select(p => (TensorMeta)p.Meta).ToList();
        using var shapes = Py.List(metas.Select(m => Py.IntTuple(m.Shape.Concrete())).ToArray());
        using var dtypes = Py.List(metas.Select(m => Py.Str(m.DType.TorchName())).ToArray());
        using var s = Py.Int(seed);
        using var make = ns.GetItem("inputs_for");
        return make.Call(shapes, dtypes, s);
    }

    /// <summary>
    /// Both graphs on the same seeded inputs through the eager backend give equal results (metadata checked
    /// too): exactly, or within <paramref name="rtol"/> and <paramref name="atol"/> (a rewrite that rounds differently).
    /// </summary>
    internal static void AssertSameResults(Graph expected, Graph actual, int seed, PyObject? root = null, double rtol = 0, double atol = 0)
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(Compare, filename: "same_results.py");
        using var same = ns.GetItem("same");
        using var inputs = Inputs(ns, expected, seed);
        var inputList = inputs.ToItems();
        try
        {
            var eager = new GraphInterpreter(TestSession.Current.Torch);
            using var before = eager.Run(expected, inputList, root, checkMetadata: true);
            using var after = eager.Run(actual, inputList, root, checkMetadata: true);
            using var relative = Py.Float(rtol);
            using var absolute = Py.Float(atol);
            try { same.Call(after, before, relative, absolute).Dispose(); }
            catch (PythonException e) { Assert.Fail($"results differ: {e.PythonMessage}\nbefore:\n{expected}\nafter:\n{actual}"); }
        }
        finally
        {
            foreach (var i in inputList) i.Dispose();
        }
    }

    [Fact]
    public void RandomGraphsMatchTheirPrintedCodeRunAsPython()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(Compare, filename: "eager_compare.py");
        using var runPrinted = ns.GetItem("run_printed");
        using var same = ns.GetItem("same");
        var eager = new GraphInterpreter(TestSession.Current.Torch);
        var ops = new HashSet<string>();
        var nodes = 0;
        const int graphs = 300;
        for (var seed = 0; seed < graphs; seed++)
        {
            var graph = RandomGraphs.Generate(seed);
            Verifier.Check(graph);
            nodes += graph.Nodes.Count(n => n is CallOp);
            foreach (var c in graph.Nodes.OfType<CallOp>()) ops.Add(c.Op.Name);
            using var inputs = Inputs(ns, graph, seed);
            var inputList = inputs.ToItems();
            try
            {
                using var ours = eager.Run(graph, inputList, checkMetadata: true);
                using var code = Py.Str(CodePrinter.Print(graph));
                using var reference = runPrinted.Call(code, inputs);
                try { same.Call(ours, reference).Dispose(); }
                catch (PythonException e) { Assert.Fail($"seed {seed}: eager backend and printed code differ: {e.PythonMessage}\n{graph}"); }
            }
            catch (Exception e) when (e is GraphExecutionException or MetadataMismatchException)
            {
                Assert.Fail($"seed {seed}: {e.Message}\n{graph}");
            }
            finally
            {
                foreach (var i in inputList) i.Dispose();
            }
        }
        Assert.True(nodes >= graphs * 5, $"random graphs are too small: {nodes} call nodes in {graphs} graphs");
        Assert.True(ops.Count >= 30, $"random graphs use only {ops.Count} distinct ops");
    }

    [Fact]
    public void SameSeedSameGraph() => Assert.Equal(RandomGraphs.Generate(42), RandomGraphs.Generate(42));

    [Fact]
    public void CondAndWhileLoopRunTheirSubgraphs()
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse("""
            def forward(self, x: "f32[4]", n: "i64[]"):
                gt: "b8[]" = torch.gt(n, 0)
                def cond_true(self, x: "f32[4]"):
                    neg: "f32[4]" = torch.neg(x)
                    return neg
                def cond_false(self, x: "f32[4]"):
                    relu: "f32[4]" = torch.relu(x)
                    return relu
                cond: "f32[4]" = capture.cond(gt, cond_true, cond_false, (x,))
                def loop_cond(self, i: "i64[]", acc: "f32[4]"):
                    lt: "b8[]" = torch.lt(i, 3)
                    return lt
                def loop_body(self, i: "i64[]", acc: "f32[4]"):
                    add: "i64[]" = torch.add(i, 1)
                    mul: "f32[4]" = torch.mul(acc, 2)
                    return (add, mul)
                loop: "(i64[], f32[4])" = capture.while_loop(loop_cond, loop_body, (n, cond))
                return loop
            """);
        using var ns = Py.Exec("""
            import torch
            x = torch.tensor([1.0, -2.0, 3.0, -4.0])
            def reference(x, n):
                acc = -x if n > 0 else torch.relu(x)
                i = n
                while i < 3:
                    i, acc = i + 1, acc * 2
                return i, acc
            def same(ours, ref):
                return ours[0].item() == ref[0].item() and torch.equal(ours[1], ref[1])
            """);
        using var x = ns.GetItem("x");
        using var reference = ns.GetItem("reference");
        using var same = ns.GetItem("same");
        var eager = new GraphInterpreter(TestSession.Current.Torch);
        foreach (var n in new[] { 1L, -1L, 5L })
        {
            using var nTensor = Py.Eval($"__import__('torch').tensor({n})");
            using var result = eager.Run(graph, [x, nTensor], checkMetadata: true);
            using var expected = reference.Call(x, nTensor);
            using var ok = same.Call(result, expected);
            Assert.True(ok.ToBoolean(), $"n={n}: {result} vs {expected}");
        }
    }

    [Fact]
    public void ModuleAttributesAndSubmodulesComeFromTheRoot()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("import torch\ntorch.manual_seed(0)\nm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())\nx = torch.randn(2, 4)\nexpected = m[1](m[0](x)) * m[0].bias\n");
        var graph = CodeParser.Parse("""
            def forward(self, x: "f32[2, 4]"):
                l0: "f32[2, 3] grad" = operator.attrgetter('0')(self)(x)
                r: "f32[2, 3] grad" = operator.attrgetter('1')(self)(l0)
                bias: "f32[3] grad" = operator.attrgetter('0.bias')(self)
                mul: "f32[2, 3] grad" = torch.mul(r, bias)
                return mul
            """);
        using var m = ns.GetItem("m");
        using var x = ns.GetItem("x");
        using var expected = ns.GetItem("expected");
        using var result = new GraphInterpreter(TestSession.Current.Torch).Run(graph, [x], root: m, checkMetadata: true);
        using var equal = result.CallMethod("equal", expected);
        Assert.True(equal.ToBoolean());
    }

    [Fact]
    public void FailingNodeNamesItselfAndItsSourceLine()
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse("def forward(self, x: \"i64[3]\"):\n    y = torch.nn.functional.gelu(x)  # model.py:7:12\n    return y\n");
        using var x = Py.Eval("__import__('torch').arange(3)");
        var e = Assert.Throws<GraphExecutionException>(() => new GraphInterpreter(TestSession.Current.Torch).Run(graph, [x]).Dispose());
        Assert.StartsWith("node 'y' (torch.nn.functional.gelu(x)) from model.py:7:12 failed: RuntimeError: \"GeluKernelImpl\" not implemented for 'Long'", e.Message);
    }

    [Fact]
    public void OpaqueOpsGetMetadataFromFakeTensorsAndRunThroughTorch()
    {
        using var gil = Interpreter.Gil();
        var inference = new MetaInference(TestSession.Current.Torch);
        var b = new GraphBuilder();
        var x = b.Placeholder("x", TensorMeta.Contiguous(new Shape(3L, 4L), DType.Float32, requiresGrad: true));
        foreach (var name in new[] { "torch.cumsum", "torch.special.i0" })
            Assert.False(OpRegistry.TryGet(name, out _), $"{name} became a registry op: pick another for this test");
        Arg[] args = [x, 1L];
        var cumsum = b.Call(OpDef.Opaque("torch.cumsum"), args, opaqueMeta: inference.Infer("torch.cumsum", args, [], b.MetaOf).Meta);
        var i0 = b.Call(OpDef.Opaque("torch.special.i0"), [cumsum], opaqueMeta: inference.Infer("torch.special.i0", [cumsum], [], b.MetaOf).Meta);
        var graph = b.Output(b.Call(Ops.Sum, i0, 0L));
        Assert.Equal("f32[3, 4] grad", MetaText.Format(graph["cumsum"].Meta));
        Assert.Empty(Verifier.Verify(graph));
        using var input = Py.Eval("__import__('torch').randn(3, 4, requires_grad=True)");
        using var result = new GraphInterpreter(TestSession.Current.Torch).Run(graph, [input], checkMetadata: true);
        using var ns = Py.Exec("import torch\ndef ref(x):\n    return torch.special.i0(torch.cumsum(x, 1)).sum(0)\n");
        using var reference = ns.GetItem("ref").Call(input);
        using var equal = result.CallMethod("equal", reference);
        Assert.True(equal.ToBoolean());
        Assert.Throws<ShapeError>(() => inference.Infer("torch.cumsum", [x, 5L], [], b.MetaOf));
    }
}
