namespace Capture.Graphs;

/// <summary>One broken rule: which rule, at which node, and why.</summary>
public sealed record VerifierIssue(VerifierRule Rule, string Node, string Message)
{
    public override string ToString() => $"{Rule} at '{Node}': {Message}";
}

public enum VerifierRule
{
    UniqueNames,
    PlaceholdersFirst,
    OneOutputLast,
    DefinedBeforeUse,
    MetadataPresent,
    MetadataMatchesRule,
    CallForm,
    SubgraphSignature,
}

public sealed class GraphVerificationException(IReadOnlyList<VerifierIssue> issues)
    : Exception("graph failed verification:\n  " + string.Join("\n  ", issues))
{
    public IReadOnlyList<VerifierIssue> Issues { get; } = issues;
}

/// <summary>
/// Checks the invariants every pass must keep: unique names, placeholders first, one output last,
/// definitions before uses, metadata present and equal to what the registry's rule computes,
/// call forms the op allows, and consistent cond / while_loop subgraph signatures (recursively).
/// </summary>
public static class Verifier
{
    public static void Check(Graph graph)
    {
        var issues = Verify(graph);
        if (issues.Count > 0) throw new GraphVerificationException(issues);
    }

    public static IReadOnlyList<VerifierIssue> Verify(Graph graph)
    {
        var issues = new List<VerifierIssue>();
        void Add(VerifierRule rule, Node node, string message) => issues.Add(new(rule, node.Name, message));
        var defined = new Dictionary<string, Node>();
        var seenNonPlaceholder = false;
        var gradEnabled = true;
        for (var i = 0; i < graph.Nodes.Count; i++)
        {
            var node = graph.Nodes[i];
            if (defined.ContainsKey(node.Name)) Add(VerifierRule.UniqueNames, node, $"the name '{node.Name}' is defined twice");
            if (node is Placeholder && seenNonPlaceholder) Add(VerifierRule.PlaceholdersFirst, node, "placeholder after a non-placeholder node");
            seenNonPlaceholder |= node is not Placeholder;
            if (node is Output && i != graph.Nodes.Count - 1) Add(VerifierRule.OneOutputLast, node, "output is not the last node");
            foreach (var input in node.Inputs.Distinct())
                if (!defined.ContainsKey(input)) Add(VerifierRule.DefinedBeforeUse, node, $"uses '{input}' before it is defined");
            CheckMeta(node, Add);
            if (issues.All(x => x.Node != node.Name || x.Rule != VerifierRule.DefinedBeforeUse))
                CheckNode(node, name => defined[name].Meta, gradEnabled, Add);
            if (node is CallOp call && GradModeRule.Sets(call.Op, call.Args) is { } mode) gradEnabled = mode;
            defined.TryAdd(node.Name, node);
        }
        if (graph.Nodes.Count == 0 || graph.Nodes[^1] is not Output)
            issues.Add(new(VerifierRule.OneOutputLast, graph.Nodes.Count == 0 ? "<empty>" : graph.Nodes[^1].Name, "the graph does not end with an output node"));
        return issues;
    }

    private static void CheckMeta(Node node, Action<VerifierRule, Node, string> add)
    {
        switch (node.Meta)
        {
            case null:
                add(VerifierRule.MetadataPresent, node, "no metadata");
                break;
            case TensorMeta t when t.Strides is null && t.Shape.IsConcrete:
                add(VerifierRule.MetadataPresent, node, "a tensor of concrete shape without strides");
                break;
            case TensorMeta t when t.Strides is { } s && s.Count != t.Rank:
                add(VerifierRule.MetadataPresent, node, $"{s.Count} strides for a rank-{t.Rank} tensor");
                break;
        }
    }

    private static void CheckNode(Node node, Func<string, ValueMeta> metaOf, bool gradEnabled, Action<VerifierRule, Node, string> add)
    {
        switch (node)
        {
            case CallOp c:
                if (c.IsMethod && c.Op.MethodName is null) add(VerifierRule.CallForm, node, $"{c.Op.Name} is not a Tensor method");
                if (!c.IsMethod && !c.Op.IsFunction) add(VerifierRule.CallForm, node, $"{c.Op.Name} can only be called as a method");
                if (c.Op.Category == OpCategory.Opaque) break;
                try
                {
                    var expected = GradModeRule.Apply(c.Op, OpCall.Bind(c.Op, c.Args, c.Kwargs, metaOf).Infer(), gradEnabled);
                    if (!expected.Equals(c.Meta))
                        add(VerifierRule.MetadataMatchesRule, node, $"metadata {MetaText.Format(c.Meta)} but {c.Op.Name}'s rule gives {MetaText.Format(expected)}");
                }
                catch (Exception e) when (e is ShapeError or NotSupportedException)
                {
                    add(VerifierRule.MetadataMatchesRule, node, e.Message);
                }
                break;
            case Cond c:
                CheckSignature(node, c.TrueGraph, "true branch", c.Operands, metaOf, add);
                CheckSignature(node, c.FalseGraph, "false branch", c.Operands, metaOf, add);
                if (c.TrueGraph.Nodes.LastOrDefault() is Output t && c.FalseGraph.Nodes.LastOrDefault() is Output f && !t.Meta.Equals(f.Meta))
                    add(VerifierRule.SubgraphSignature, node, $"branches return different metadata: {MetaText.Format(t.Meta)} and {MetaText.Format(f.Meta)}");
                if (c.TrueGraph.Nodes.LastOrDefault() is Output branchOut && !branchOut.Meta.Equals(c.Meta))
                    add(VerifierRule.SubgraphSignature, node, "the cond's metadata differs from its branches' outputs");
                if (c.Predicate is RefArg p && metaOf(p.Name) is not (TensorMeta { DType: DType.Bool } or ScalarMeta { Kind: ScalarKind.Bool }))
                    add(VerifierRule.SubgraphSignature, node, "the predicate must be a bool tensor or a bool");
                break;
            case WhileLoop w:
                CheckSignature(node, w.CondGraph, "condition", w.Operands, metaOf, add);
                CheckSignature(node, w.BodyGraph, "body", w.Operands, metaOf, add);
                if (w.CondGraph.Nodes.LastOrDefault() is Output { Meta: not (TensorMeta { DType: DType.Bool } or ScalarMeta { Kind: ScalarKind.Bool }) })
                    add(VerifierRule.SubgraphSignature, node, "the condition must return a bool");
                var carried = new TupleMeta(w.Operands.Select(a => MetaOfArg(a, metaOf)).ToEquatableList());
                if (w.BodyGraph.Nodes.LastOrDefault() is Output bo && !bo.Meta.Equals(carried))
                    add(VerifierRule.SubgraphSignature, node, $"the body returns {MetaText.Format(bo.Meta)} but carries {MetaText.Format(carried)}");
                if (!w.Meta.Equals(carried)) add(VerifierRule.SubgraphSignature, node, "the loop's metadata differs from its carried values");
                break;
            case Constant k:
                if (k.Meta is not TensorMeta { Shape.IsConcrete: true, RequiresGrad: false } km
                    || !km.Strides!.Equals(km.Shape.ContiguousStrides()) && !(km.Rank == 4 && km.Strides.Equals(Layout.ChannelsLastStrides(km.Shape.Concrete()))))
                    add(VerifierRule.MetadataPresent, node, "a constant must be a contiguous (or 4-d channels-last) tensor of known shape without grad");
                else if (km.DType != k.Value.DType || km.Shape.NumElements() != k.Value.Count)
                    add(VerifierRule.MetadataPresent, node, $"a constant of {k.Value.Count} {k.Value.DType.TorchName()} values with metadata {MetaText.Format(km)}");
                break;
            case Output o:
                if (!MetaOfArg(o.Value, metaOf).Equals(o.Meta))
                    add(VerifierRule.MetadataMatchesRule, node, "the output's metadata differs from its value's");
                break;
        }
    }

    private static void CheckSignature(Node node, Graph sub, string what, IReadOnlyList<Arg> operands, Func<string, ValueMeta> metaOf, Action<VerifierRule, Node, string> add)
    {
        foreach (var issue in Verify(sub)) add(issue.Rule, node, $"in the {what}: {issue}");
        var parameters = sub.Placeholders.ToList();
        if (parameters.Count != operands.Count)
        {
            add(VerifierRule.SubgraphSignature, node, $"the {what} takes {parameters.Count} values but is given {operands.Count}");
            return;
        }
        for (var i = 0; i < parameters.Count; i++)
            if (!parameters[i].Meta.Equals(MetaOfArg(operands[i], metaOf)))
                add(VerifierRule.SubgraphSignature, node, $"the {what}'s parameter '{parameters[i].Name}' is {MetaText.Format(parameters[i].Meta)} but operand {i} is {MetaText.Format(MetaOfArg(operands[i], metaOf))}");
    }

    private static ValueMeta MetaOfArg(Arg arg, Func<string, ValueMeta> metaOf) => arg switch
    {
        RefArg r => metaOf(r.Name),
        ListArg l => new TupleMeta(l.Items.Select(i => MetaOfArg(i, metaOf)).ToEquatableList()),
        IntArg => new ScalarMeta(ScalarKind.Int),
        FloatArg => new ScalarMeta(ScalarKind.Float),
        BoolArg => new ScalarMeta(ScalarKind.Bool),
        _ => NoneMeta.Instance,
    };
}
