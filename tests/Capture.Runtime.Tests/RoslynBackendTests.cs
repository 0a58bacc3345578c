using Capture.Graph;
using Capture.Python;
using Capture.Runtime.Backends;

namespace Capture.Runtime.Tests;

using Graph = Capture.Graph.Graph;

// The Roslyn backend against the eager backend (torch itself): seeded random graphs, and the
// generated source of a known graph.
[Collection("Python")]
public sealed class RoslynBackendTests
{
    private const string Close = """

        def close(a, b):
            if isinstance(a, torch.Tensor):
                assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride(), (a.dtype, b.dtype, a.shape, b.shape, a.stride(), b.stride())
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)
                return True
            if isinstance(a, (tuple, list)):
                return all(close(x, y) for x, y in zip(a, b))
            assert a == b, (a, b)
            return True
        """;

    [Fact]
    public void RandomGraphsMatchEager()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(EagerBackendTests.Compare + Close, filename: "roslyn_compare.py");
        var roslyn = new RoslynBackend(CaptureRuntime.Torch);
        int kernels = 0, statements = 0;
        for (var seed = 0; seed < 200; seed++)
        {
            var graph = RandomGraphs.Generate(seed);
            var compiled = roslyn.Compile(graph);
            kernels += compiled.Kernels.Count;
            statements += compiled.Kernels.Values.Sum(k => k.Body.Count);
            AssertMatchesEager(ns, roslyn, compiled, seed);
        }
        Assert.True(kernels >= 60 && statements >= 80, $"only {kernels} kernels with {statements} statements were generated");
    }

    [Fact]
    public void APointwiseChainBecomesOneKernelMethodWithItsNodesNamed()
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse("""
            def forward(self, x: "f32[64, 1024]", b: "f32[1024]"):
                mul: "f32[64, 1024]" = torch.mul(x, 0.5)
                add: "f32[64, 1024]" = torch.add(mul, b)
                sigmoid: "f32[64, 1024]" = torch.sigmoid(add)
                gt: "b8[64, 1024]" = torch.gt(sigmoid, 0.25)
                where: "f32[64, 1024]" = torch.where(gt, sigmoid, 0.0)
                return (where, gt)
            """);
        var roslyn = new RoslynBackend(CaptureRuntime.Torch);
        var compiled = roslyn.Compile(graph);
        var kernel = Assert.Single(compiled.Kernels.Values);
        Assert.Equal(["mul", "add", "sigmoid", "gt", "where"], kernel.Body.Select(s => s.Node));
        Assert.Contains("// kernel for fusion group g1: mul, add, sigmoid, gt, where", compiled.Source);
        Assert.Contains("Parallel.For(0L, 64L", compiled.Source);
        using var ns = Py.Exec(EagerBackendTests.Compare + Close, filename: "roslyn_chain.py");
        AssertMatchesEager(ns, roslyn, compiled, 3);
    }

    /// <summary>The compiled graph on seeded inputs gives the eager backend's results (to the tolerance in <see cref="Close"/>).</summary>
    private static void AssertMatchesEager(PyObject ns, RoslynBackend roslyn, RoslynCompiledGraph compiled, int seed)
    {
        using var close = ns.GetItem("close");
        using var inputs = EagerBackendTests.Inputs(ns, compiled.Captured, seed);
        var inputList = inputs.ToItems();
        try
        {
            using var expected = new EagerBackend(CaptureRuntime.Torch).Run(compiled.Captured, inputList);
            using var actual = roslyn.Run(compiled, inputList);
            try { close.Call(actual, expected).Dispose(); }
            catch (PythonException e) { Assert.Fail($"seed {seed}: the Roslyn backend differs: {e.PythonMessage}\n{compiled.Captured}\n{compiled.Source}"); }
        }
        finally
        {
            foreach (var i in inputList) i.Dispose();
        }
    }
}
