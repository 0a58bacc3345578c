using Capture.Graphs;

namespace Capture.Runtime.Tests;

// Every registry op's rule evaluated with symbolic sizes: each input size of 2 or more becomes a
// symbol (one per distinct value, as Dynamo's duck sizing does), the rule runs with a ShapeEnv whose
// hints are the case's sizes, and its result, with the hints substituted, must equal the concrete
// rule's (which ShapeRuleTests checks against torch). Then the guards: for new sizes under which every
// relation the rule decided still holds, the concrete rule at those sizes must give the symbolic
// result with those sizes substituted: a capture reused under its guards is never wrong.
public sealed class SymbolicShapeRuleTests
{
    public static TheoryData<string> Families => new(ShapeRuleCases.Families);

    /// <summary>Ops whose rules still need concrete sizes (they refuse symbolic ones with NotSupported).</summary>
    private static readonly HashSet<string> NeedConcreteSizes = [];

    private static (Graph? Graph, Exception? Error) Build(string expression, IReadOnlyList<TensorMeta> inputs, ShapeEnv? env)
    {
        var parameters = inputs.Select((t, i) => $"a{i}: \"{MetaText.Format(t)}\"").Prepend("self");
        var text = $"def forward({string.Join(", ", parameters)}):\n    r = {expression}\n    return r\n";
        using var scope = ShapeEnv.Enter(env);
        try { return (CodeParser.Parse(text), null); }
        catch (FormatException e) when (e.InnerException is ShapeError or NotSupportedException) { return (null, e.InnerException); }
    }

    /// <summary>The inputs with each size of 2 or more (of contiguous inputs) a symbol, one per distinct value.</summary>
    private static List<TensorMeta> Symbolize(IReadOnlyList<TensorMeta> inputs, ShapeEnv env)
    {
        var symbols = new Dictionary<long, Dim>();
        return inputs.Select(t =>
        {
            if (t.Strides is null || !t.Strides.Equals(t.Shape.ContiguousStrides())) return t;
            var shape = Shape.Of(t.Shape.Dims.Select(d => d.Value is >= 2 and var v ? symbols.TryGetValue(v, out var s) ? s : symbols[v] = env.NewSymbol(v) : d));
            return TensorMeta.Contiguous(shape, t.DType, t.RequiresGrad, t.Device);
        }).ToList();
    }

    private static string OpOf(string expression) =>
        expression.StartsWith("a0.", StringComparison.Ordinal) ? "Tensor." + expression[3..expression.IndexOf('(')] : expression[..expression.IndexOf('(')];

    [Theory]
    [MemberData(nameof(Families))]
    public void SymbolicRulesAgreeWithConcreteOnesUnderTheirGuards(string family)
    {
        var random = new Random(family.GetHashCode(StringComparison.Ordinal) & 0x7fff);
        var mismatches = new List<string>();
        var refused = new HashSet<string>();
        int symbolic = 0, resampled = 0;
        foreach (var c in ShapeRuleCases.Family(family).Where(c => !c.ExpectNotSupported))
        {
            var (concrete, concreteError) = Build(c.Expression, c.Inputs, null);
            var env = new ShapeEnv();
            var inputs = Symbolize(c.Inputs, env);
            if (env.Hints.Count == 0) continue;
            var (graph, error) = Build(c.Expression, inputs, env);
            if (error is NotSupportedException)
            {
                if (concreteError is null && !NeedConcreteSizes.Contains(OpOf(c.Expression))) mismatches.Add($"{c}\n      refuses symbolic sizes: {error.Message}");
                refused.Add(OpOf(c.Expression));
                continue;
            }
            if (concreteError is not null)
            {
                if (error is null) mismatches.Add($"{c}\n      symbolic rule succeeds ({MetaText.Format(graph!.Output.Meta)}) where the concrete one raises ({concreteError.Message})");
                continue;
            }
            if (error is not null)
            {
                mismatches.Add($"{c}\n      symbolic rule raises ({error.Message}) where the concrete one gives {MetaText.Format(concrete!.Output.Meta)}");
                continue;
            }
            symbolic++;
            var result = graph!.Output.Meta;
            if (SizeValues.Substitute(result, env.Hints) is var atHints && !Same(atHints, concrete!.Output.Meta))
            {
                mismatches.Add($"{c}\n      symbolic rule gives {MetaText.Format(result)} = {MetaText.Format(atHints)} at the hints, concrete {MetaText.Format(concrete.Output.Meta)}");
                continue;
            }
            // other sizes under the same guards
            for (var trial = 0; trial < 6; trial++)
            {
                // the first trial has every symbol 1 (a symbol stands for any size of at least 1): a rule that
                // relied on a size not being 1 must have said so in a guard
                var values = env.Hints.Keys.ToDictionary(k => k, _ => trial == 0 ? 1L : random.Next(1, 13));
                if (!env.Decisions.All(d => d.Relation.Holds(values))) continue;
                resampled++;
                var (again, againError) = Build(c.Expression, inputs.Select(t => SizeValues.Substitute(t, values)).ToList(), null);
                var expected = SizeValues.Substitute(result, values);
                if (againError is not null)
                    mismatches.Add($"{c}\n      at {Text(values)} (guards {string.Join(", ", env.Decisions.Select(d => d.Relation))} hold) the concrete rule raises ({againError.Message}); symbolic gives {MetaText.Format(expected)}");
                else if (!Same(expected, again!.Output.Meta))
                    mismatches.Add($"{c}\n      at {Text(values)} (guards {string.Join(", ", env.Decisions.Select(d => d.Relation))} hold) concrete gives {MetaText.Format(again.Output.Meta)}, symbolic {MetaText.Format(expected)}");
                else continue;
                break;
            }
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} {family} cases disagree:\n  " + string.Join("\n  ", mismatches.Take(40)));
        // the list names only ops that still refuse
        var ops = ShapeRuleCases.Family(family).Select(c => OpOf(c.Expression)).ToHashSet();
        var stale = NeedConcreteSizes.Where(op => ops.Contains(op) && !refused.Contains(op)).ToList();
        Assert.True(stale.Count == 0, "listed as needing concrete sizes but accept symbolic ones: " + string.Join(", ", stale));
        Assert.True(symbolic > 0, $"no {family} case ran with symbolic sizes");
    }

    private static string Text(Dictionary<string, long> values) => string.Join(", ", values.Select(p => $"{p.Key}={p.Value}"));

    private static bool Same(ValueMeta a, ValueMeta b) => (a, b) switch
    {
        (TensorMeta x, TensorMeta y) => x.Shape == y.Shape && x.DType == y.DType && x.RequiresGrad == y.RequiresGrad
            && (x.Strides is null || y.Strides is null || x.Strides.Select((s, i) => x.Shape[i] == Dim.Of(1) || s == y.Strides[i]).All(v => v)),
        (TupleMeta x, TupleMeta y) => x.Items.Count == y.Items.Count && x.Items.Zip(y.Items).All(p => Same(p.First, p.Second)),
        _ => a.Equals(b),
    };
}
