using Capture.Graphs;
using Capture.Python;

namespace Capture.Runtime.Tests;


// Every registry op's shape and dtype rule against torch itself, over generated cases: both must
// succeed with the same sizes, dtype and requires_grad (and strides, for views), or both must
// raise. NotSupported is accepted only where a case says Capture refuses on purpose.
[Collection("Python")]
public sealed class ShapeRuleTests
{
    public static TheoryData<string> Families => new(ShapeRuleCases.Families);

    /// <summary>The case as a one-node graph, or the exception the rule raised.</summary>
    private static (Graph? Graph, Exception? Error) Capture(RuleCase c)
    {
        var parameters = c.Inputs.Select((t, i) => $"a{i}: \"{MetaText.Format(t)}\"").Prepend("self");
        var text = $"def forward({string.Join(", ", parameters)}):\n    r = {c.Expression}\n    return r\n";
        try { return (CodeParser.Parse(text), null); }
        catch (FormatException e) when (e.InnerException is ShapeError or NotSupportedException) { return (null, e.InnerException); }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void RulesMatchTorch(string family)
    {
        using var gil = Interpreter.Gil();
        using var oracle = new TorchOracle();
        var cases = ShapeRuleCases.Family(family).ToList();
        var mismatches = new List<string>();
        var computed = 0;
        foreach (var c in cases)
        {
            var (graph, error) = Capture(c);
            var torch = oracle.Evaluate(c.Expression, c.Inputs);
            if (torch.Meta is not null) computed++;
            var problem = (error, torch) switch
            {
                (NotSupportedException, _) when c.ExpectNotSupported => null,
                (NotSupportedException e, _) => $"Capture says NotSupported ({e.Message}); torch: {torch.Error ?? MetaText.Format(torch.Meta!)}",
                (_, _) when c.ExpectNotSupported => $"expected NotSupported, got {(error is null ? "a graph" : error.Message)}",
                (ShapeError, { Error: not null }) => null,
                (ShapeError e, _) => $"Capture raised ({e.Message}) but torch gives {MetaText.Format(torch.Meta!)}",
                (null, { Error: { } torchError }) => $"Capture gives {MetaText.Format(graph!.Output.Meta)} but torch raised ({torchError})",
                _ => Compare(graph!, torch.Meta!),
            };
            if (problem is not null) mismatches.Add($"{c}\n      {problem}");
        }
        Assert.True(cases.Count >= 20, $"family {family} has only {cases.Count} cases");
        // Guards the oracle itself: agreeing only on errors would prove nothing.
        Assert.True(computed >= cases.Count / 3, $"torch computed only {computed} of {cases.Count} {family} cases");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {cases.Count} {family} cases disagree with torch:\n  " + string.Join("\n  ", mismatches));
    }

    private static string? Compare(Graph graph, ValueMeta torch)
    {
        var node = graph.Nodes.OfType<CallOp>().Single();
        return Same(node.Meta, torch, compareStrides: true)
            ? null
            : $"Capture gives {MetaText.Format(node.Meta)} but torch gives {MetaText.Format(torch)}";
    }

    private static bool Same(ValueMeta ours, ValueMeta torch, bool compareStrides) => (ours, torch) switch
    {
        (TensorMeta a, TensorMeta b) => a.Shape == b.Shape && a.DType == b.DType && a.RequiresGrad == b.RequiresGrad
            && (!compareStrides || a.Strides is null || a.Strides.Select((s, i) => a.Shape[i] == Dim.Of(1) || s == b.Strides![i]).All(x => x)),
        (TupleMeta a, TupleMeta b) => a.Items.Count == b.Items.Count && a.Items.Zip(b.Items).All(p => Same(p.First, p.Second, compareStrides)),
        _ => ours.Equals(torch),
    };

    [Fact]
    public void EveryRegistryOpHasCases()
    {
        var expressions = ShapeRuleCases.Families.SelectMany(ShapeRuleCases.Family).Select(c => c.Expression).ToList();
        // global-state ops (grad mode) have no tensor result to compare: GradModeTests covers them; library
        // ops take tensors in oneDNN's blocked layout, which fake tensors do not have: OneDnnLayoutTests runs
        // them against the dense ops they stand for
        var uncovered = OpRegistry.All.Where(op => op.Category is not (OpCategory.GlobalState or OpCategory.Library) && !expressions.Any(e =>
            e.StartsWith(op.Name + "(", StringComparison.Ordinal) || op.MethodName is { } m && e.Contains($".{m}(", StringComparison.Ordinal))).Select(op => op.Name).ToList();
        Assert.True(uncovered.Count == 0, "registry ops without a shape-rule case: " + string.Join(", ", uncovered));
        Assert.True(expressions.Count >= 1000, $"only {expressions.Count} generated cases");
    }
}
