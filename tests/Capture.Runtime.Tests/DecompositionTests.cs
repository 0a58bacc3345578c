using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Tests;

// Every registry decomposition computes what its op computes: the op alone and its decomposition,
// each a graph, run through the eager backend on the same inputs.
[Collection("Python")]
public sealed class DecompositionTests
{
    private static readonly string[] Specs =
    [
        "torch.rsqrt(a0) | f32[3, 4]",
        "torch.nn.functional.gelu(a0) | f32[3, 4]",
        "torch.nn.functional.gelu(a0, approximate='tanh') | f64[3, 4]",
        "torch.nn.functional.silu(a0) | f32[5]",
        "torch.mean(a0, [1, 2], True) | f32[2, 3, 4]",
        "torch.mean(a0) | f64[2, 3]",
        "torch.softmax(a0, -1) | f32[3, 5]",
        "torch.softmax(a0, 0, dtype=torch.float64) | f32[3, 5]",
        "torch.addmm(a0, a1, a2, beta=0.5, alpha=2) | f32[4] | f32[2, 3] | f32[3, 4]",
        "torch.nn.functional.linear(a0, a1, a2) | f32[5, 3] | f32[4, 3] | f32[4]",
        "torch.nn.functional.linear(a0, a1) | f32[2, 5, 3] | f32[4, 3]",
        "torch.nn.functional.layer_norm(a0, [4], a1, a2) | f32[2, 3, 4] | f32[4] | f32[4]",
        "torch.nn.functional.layer_norm(a0, [3, 4], eps=0.1) | f64[2, 3, 4]",
        "torch.log_softmax(a0, 1) | f32[3, 5]",
        "torch.nn.functional.softmax(a0, dim=-1) | f32[3, 5]",
        "torch.nn.functional.log_softmax(a0, 0, dtype=torch.float64) | f32[3, 5]",
        "torch.log_softmax(a0, -1, dtype=torch.float64) | f32[2, 3, 5]",
        "torch.logsumexp(a0, [1]) | f32[3, 5]",
        "torch.logsumexp(a0, [0, 2], True) | f64[2, 3, 4]",
        "torch.nn.functional.batch_norm(a0, a1, a2, a3, a4) | f32[2, 3, 4, 4] | f32[3] | f32[3] | f32[3] | f32[3]",
        "torch.nn.functional.batch_norm(a0, a1, a2, eps=0.01) | f32[5, 3] | f32[3] | f32[3]",
        "torch.nn.functional.group_norm(a0, 2, a1, a2) | f32[2, 4, 5] | f32[4] | f32[4]",
        "torch.nn.functional.group_norm(a0, 3, eps=0.1) | f64[2, 6, 2, 3]",
        "torch._C._nn.hardtanh(a0, -0.5, 0.75) | f32[3, 4]",
        "torch._C._nn.hardtanh(a0) | f64[5]",
        "torch._C._nn.relu6(a0) | f64[3, 4]",
        "torch._C._nn.hardsigmoid(a0) | f32[7]",
        "torch._C._nn.hardswish(a0) | f32[2, 3]",
        // training mode: the same draws as torch's own dropout; eval mode and p=0: the input
        "torch.nn.functional.dropout(a0, 0.3, True) | f32[4, 5]",
        "torch.nn.functional.dropout(a0, 0.3, False) | f32[4, 5]",
        "torch.nn.functional.dropout(a0, 1.0, True) | f32[2, 3]",
        "torch._C._nn.silu(a0) | f64[4, 3]",
        // the fused encoder layer in its parts (sums of products in another order: 1e-5 absolute)
        "torch._transformer_encoder_layer_fwd(a0, 16, 4, a1, a2, a3, a4, False, False, 1e-05, a5, a6, a7, a8, a9, a10, a11, a12) | f32[2, 5, 16] | f32[48, 16] | f32[48] | f32[16, 16] | f32[16] | f32[16] | f32[16] | f32[16] | f32[16] | f32[32, 16] | f32[32] | f32[16, 32] | f32[16] | atol=1e-5",
        "torch._transformer_encoder_layer_fwd(a0, 16, 2, a1, a2, a3, a4, True, True, 0.001, a5, a6, a7, a8, a9, a10, a11, a12) | f32[3, 4, 16] | f32[48, 16] | f32[48] | f32[16, 16] | f32[16] | f32[16] | f32[16] | f32[16] | f32[16] | f32[32, 16] | f32[32] | f32[16, 32] | f32[16] | atol=1e-5",
    ];

    public static TheoryData<string> Cases => new(Specs);

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecompositionComputesTheOp(string spec)
    {
        var all = spec.Split(" | ");
        var atol = all.FirstOrDefault(p => p.StartsWith("atol=", StringComparison.Ordinal)) is { } given ? double.Parse(given[5..], System.Globalization.CultureInfo.InvariantCulture) : 1e-8;
        var parts = all.Where(p => !p.StartsWith("atol=", StringComparison.Ordinal)).ToArray();
        var parameters = parts.Skip(1).Select((m, i) => $"a{i}: \"{m}\"").Prepend("self");
        var original = CodeParser.Parse($"def forward({string.Join(", ", parameters)}):\n    r = {parts[0]}\n    return r\n");
        var call = original.Nodes.OfType<CallOp>().Single();
        Assert.NotNull(call.Op.Decompose);

        var builder = new GraphBuilder();
        foreach (var p in original.Placeholders) builder.Placeholder(p.Name, p.Meta);
        var bound = OpCall.Bind(call.Op, call.Args, call.Kwargs, builder.MetaOf);
        var decomposed = builder.Output(call.Op.Decompose!(builder, bound));
        Verifier.Check(decomposed);
        Assert.DoesNotContain(decomposed.Nodes.OfType<CallOp>(), n => n.Op == call.Op);
        Assert.Equal(((TensorMeta)original.Output.Meta).Shape, ((TensorMeta)decomposed.Output.Meta).Shape);
        Assert.Equal(((TensorMeta)original.Output.Meta).DType, ((TensorMeta)decomposed.Output.Meta).DType);

        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("import torch\ng = torch.Generator().manual_seed(3)\n");
        var inputs = original.Placeholders.Select(p => (TensorMeta)p.Meta)
            .Select(m => Py.Eval($"torch.randn({string.Join(", ", m.Shape.Dims)}, generator=g, dtype=torch.{m.DType.TorchName()})", ns)).ToList();
        var eager = new GraphInterpreter(TestSession.Current.Torch);
        // random ops (training dropout): both runs draw from the generator in the same state
        using var seed = Py.Eval("torch.manual_seed", ns);
        using var zero = Py.Int(0);
        seed.Call(zero).Dispose();
        using var expected = eager.Run(original, inputs);
        seed.Call(zero).Dispose();
        using var actual = eager.Run(decomposed, inputs);
        using var allclose = actual.GetAttr("allclose");
        using var yes = Py.Bool(true);
        using var tolerance = Py.Float(atol);
        using var close = allclose.Call([expected], [new("equal_nan", yes), new("atol", tolerance)]);
        Assert.True(close.ToBoolean(), $"decomposition of {parts[0]} differs:\n{decomposed}\nexpected {expected}\nactual {actual}");
        foreach (var i in inputs) i.Dispose();
    }

    [Fact]
    public void EveryDecomposedOpHasACase()
    {
        var covered = Specs.Select(c => c.Split('(')[0]).ToHashSet();
        var missing = OpRegistry.All.Where(op => op.Decompose is not null && !covered.Contains(op.Name)).Select(op => op.Name).ToList();
        Assert.True(missing.Count == 0, "decompositions without a test: " + string.Join(", ", missing));
    }
}
