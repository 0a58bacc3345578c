using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Tests;


// Every derivative rule against torch's autograd, over the shape-rule cases (dtypes, broadcasting,
// keepdim, negative dims, strided inputs): each case's f32/f64 inputs require grad; the one-op
// graph is differentiated, split by both partitioners, and the forward and backward graphs run
// through the eager backend with torch's own tangents; the input gradients must match
// torch.autograd.grad (rtol 1e-4).
[Collection("Python")]
public sealed class GradientRuleTests
{
    private const string Source = TorchOracle.Make + """

        def prepare(expression, specs, seed):
            ns = {"torch": torch, "operator": operator}
            inputs = []
            for i, (shape, dtype, strides) in enumerate(specs):
                t = _make(shape, getattr(torch, dtype), strides, "cpu", i)
                inputs.append(t)
                ns[f"a{i}"] = t.detach().requires_grad_(t.dtype in (torch.float32, torch.float64))
            torch.manual_seed(seed)  # random ops (training dropout) draw what the compiled forward draws
            result = eval(expression, ns)
            outs = list(result) if isinstance(result, (tuple, list)) else [result]
            diff = [o for o in outs if isinstance(o, torch.Tensor) and o.requires_grad]
            g = torch.Generator().manual_seed(seed)
            tangents = [torch.randn(o.shape, generator=g).to(o.dtype) for o in diff]
            wrt = [ns[f"a{i}"] for i in range(len(specs)) if ns[f"a{i}"].requires_grad]
            grads = list(torch.autograd.grad(diff, wrt, tangents, allow_unused=True)) if diff else []
            expected = [grads.pop(0) if ns[f"a{i}"].requires_grad else None for i in range(len(specs))]
            return tuple(inputs), tuple(tangents), tuple(expected)

        def compare(ours, expected):
            problems = []
            for i, (a, e) in enumerate(zip(ours, expected)):
                if a is None and e is None:
                    continue
                a = torch.zeros_like(e) if a is None else a
                e = torch.zeros_like(a) if e is None else e
                if a.shape != e.shape or a.dtype != e.dtype:
                    problems.append(f"a{i}: {a.dtype}{list(a.shape)}, torch {e.dtype}{list(e.shape)}")
                elif not torch.equal(torch.isfinite(a), torch.isfinite(e)):
                    problems.append(f"a{i}: finite where torch is not, or the reverse")
                elif not torch.allclose(a[torch.isfinite(e)], e[torch.isfinite(e)], rtol=1e-4, atol=1e-4):
                    problems.append(f"a{i}: max difference {(a - e)[torch.isfinite(e)].abs().max().item():.3g}")
            return "; ".join(problems) or None
        """;

    /// <summary>Ops that take a gradient but have no rule: their graphs run through torch's autograd.</summary>
    public static readonly IReadOnlySet<string> WithoutRule = new HashSet<string>();

    // the backward kernels' own cases are left out: a compiled backward is differentiated once (no double backward)
    public static TheoryData<string> Families => new(ShapeRuleCases.Families.Where(f => f != "backward"));

    private static Graph? Parse(RuleCase c, IReadOnlyList<TensorMeta> inputs)
    {
        var parameters = string.Join(", ", inputs.Select((t, i) => $"a{i}: \"{MetaText.Format(t)}\"").Prepend("self"));
        string Text(string tail) => $"def forward({parameters}):\n    r = {c.Expression}\n{tail}";
        try
        {
            var graph = CodeParser.Parse(Text("    return r\n"));
            if (graph.Output.Meta is not TupleMeta tuple) return graph;
            var items = tuple.Items.Select((m, i) => (m, i)).Where(p => p.m is TensorMeta).Select(p => p.i).ToList();
            return CodeParser.Parse(Text(string.Concat(items.Select(i => $"    r{i} = operator.getitem(r, {i})\n"))
                + $"    return ({string.Join(", ", items.Select(i => $"r{i}"))},)\n"));
        }
        catch (FormatException) { return null; }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void RulesMatchTorchAutograd(string family)
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(Source, filename: "gradient_oracle.py");
        using var prepare = ns.GetItem("prepare");
        using var compare = ns.GetItem("compare");
        var eager = new GraphInterpreter(TestSession.Current.Torch);
        var mismatches = new List<string>();
        var refused = new SortedSet<string>();
        var checkedCases = 0;
        var seed = 0;
        // torch 1.13's var/std backward reads dim=[] as "no dim" (N = 1: an infinite gradient) while
        // its forward reduces every dim; the rule follows the forward, so those cases are not torch's to judge
        foreach (var c in ShapeRuleCases.Family(family).Where(c => !c.ExpectNotSupported && !(c.Expression.StartsWith("torch.var(a0, []") || c.Expression.StartsWith("torch.std(a0, []"))))
        {
            var inputs = c.Inputs.Select(t => t.DType is DType.Float32 or DType.Float64 ? t with { RequiresGrad = true } : t).ToList();
            if (inputs.All(t => !t.RequiresGrad) || Parse(c, inputs) is not { } graph || !JointGraph.NeedsGrad(graph.Output.Meta) && graph.Output.Meta is not TupleMeta)
                continue;
            PyObject prepared;
            var caseSeed = seed++;
            using (var specs = Py.List(c.Inputs.Select(TorchOracle.Spec).ToList()))
            using (var expression = Py.Str(c.Expression))
            using (var seedValue = Py.Int(caseSeed))
            {
                try { prepared = prepare.Call(expression, specs, seedValue); }
                catch (PythonException) { continue; } // torch raises (no CPU kernel for the dtype...): nothing to compare
            }
            using (prepared)
            {
                using var values = prepared.GetItem(0);
                using var tangents = prepared.GetItem(1);
                using var expected = prepared.GetItem(2);
                if (tangents.Length == 0) continue;
                JointGraph joint;
                try { joint = JointGraph.Build(graph); }
                catch (NotSupportedException e)
                {
                    refused.Add(graph.Nodes.OfType<CallOp>().First().Op.Name);
                    if (!WithoutRule.Contains(graph.Nodes.OfType<CallOp>().First().Op.Name)) mismatches.Add($"{c}\n      refused: {e.Message}");
                    continue;
                }
                checkedCases++;
                Assert.Equal(tangents.Length, joint.Tangents.Count);
                foreach (var partition in new[] { Partitioners.MinCut(joint), Partitioners.SaveAll(joint) })
                {
                    var problem = Run(eager, partition, values, tangents, expected, compare, caseSeed);
                    if (problem is not null) mismatches.Add($"{c} [{partition.Partitioner}]\n      {problem}");
                }
            }
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} {family} gradients disagree with torch:\n  " + string.Join("\n  ", mismatches.Take(40)));
        Assert.True(refused.IsSubsetOf(WithoutRule), "refused: " + string.Join(", ", refused));
        if (family is not ("creation" or "inplace")) Assert.True(checkedCases >= 5, $"only {checkedCases} {family} cases were differentiated");
    }

    private static string? Run(GraphInterpreter eager, Partition partition, PyObject values, PyObject tangents, PyObject expected, PyObject compare, int seed)
    {
        try
        {
            Verifier.Check(partition.Forward);
            Verifier.Check(partition.Backward);
            var inputs = values.ToItems().ToList();
            Py.Exec($"import torch\ntorch.manual_seed({seed})\n").Dispose(); // the draws torch's run made
            using var forward = eager.Run(partition.Forward, inputs);
            foreach (var i in inputs) i.Dispose();
            using var saved = forward.GetItem(1);
            var backwardInputs = saved.ToItems().Concat(tangents.ToItems()).ToList();
            using var grads = eager.Run(partition.Backward, backwardInputs);
            foreach (var i in backwardInputs) i.Dispose();
            using var problem = compare.Call(grads, expected);
            return problem.IsNone ? null : problem.AsString();
        }
        catch (Exception e) when (e is PythonException or GraphExecutionException or NotSupportedException or GraphVerificationException or InvalidOperationException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }

    [Fact]
    public void EveryDifferentiableOpHasARuleOrIsNamed()
    {
        var missing = OpRegistry.All.Where(op => op.Derivative is null && op.Decompose is null && !Derivatives.IsNonDifferentiable(op)
            && !op.IsInPlace && op.Category is not (OpCategory.Opaque or OpCategory.Random) && !WithoutRule.Contains(op.Name)).Select(op => op.Name).ToList();
        Assert.True(missing.Count == 0, "ops without a derivative rule (add one, or name them in WithoutRule): " + string.Join(", ", missing));
    }
}
