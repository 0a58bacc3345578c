namespace Capture.Graphs;

/// <summary>
/// A joint graph split in two: <see cref="Forward"/> takes the primals and returns
/// <c>((tensor outputs...), (saved...))</c>; <see cref="Backward"/> takes the saved values then the
/// tangents and returns one gradient per primal (None where it takes none).
/// </summary>
public sealed record Partition(string Partitioner, JointGraph Joint, Graph Forward, Graph Backward, IReadOnlyList<string> Saved)
{
    /// <summary>Bytes of the tensors kept from the forward for the backward.</summary>
    public long SavedBytes => Saved.Sum(name => Partitioners.Bytes(Forward[name].Meta));

    public override string ToString() =>
        $"{Partitioner}: {Saved.Count} saved tensor{(Saved.Count == 1 ? "" : "s")}, {Partitioners.FormatBytes(SavedBytes)}";
}

/// <summary>
/// The two partitioners, after functorch's: <see cref="SaveAll"/> computes in the forward what
/// the outputs need and saves every forward value the backward reads; <see cref="MinCut"/> finds
/// the cheapest set of values to save by a minimum cut, recomputing cheap pointwise and view ops
/// in the backward (never matmul, convolution, random ops, or reductions that shrink their input).
/// </summary>
public static class Partitioners
{
    /// <summary>Differentiates a graph and splits it both ways: min-cut (what runs) and save-all (for comparison).</summary>
    public static (JointGraph Joint, Partition MinCut, Partition SaveAll) Differentiate(Graph forward)
    {
        var joint = JointGraph.Build(forward);
        return (joint, MinCut(joint), SaveAll(joint));
    }

    public static Partition SaveAll(JointGraph joint)
    {
        var graph = joint.Graph;
        var forwardSet = ForwardNodes(joint, TangentClosure(joint));
        var saved = new List<string>();
        foreach (var node in graph.Nodes.Where(n => !forwardSet.Contains(n.Name)))
            foreach (var input in node is Output ? joint.InputGradients.References() : node.Inputs)
                if (forwardSet.Contains(input) && !saved.Contains(input)) saved.Add(input);
        return Split("save everything needed", joint, forwardSet, Ordered(graph, saved));
    }

    public static Partition MinCut(JointGraph joint)
    {
        var graph = joint.Graph;
        var nodes = graph.Nodes.Where(n => n is not Output).ToList();
        var index = nodes.Select((n, i) => (n.Name, i)).ToDictionary(p => p.Name, p => p.i);
        var backward = TangentClosure(joint);
        var required = ForwardNodes(joint, backward);
        // vertices: 2i = node i "in", 2i+1 = node i "out"; then source and sink
        int source = 2 * nodes.Count, sink = source + 1;
        var flow = new MaxFlow(sink + 1);
        var users = UsersOf(graph);
        for (var i = 0; i < nodes.Count; i++)
        {
            var node = nodes[i];
            if (backward.Contains(node.Name))
            {
                flow.AddEdge(2 * i, sink, MaxFlow.Infinite);
                continue;
            }
            if (node is Placeholder || required.Contains(node.Name) && !Recomputable(graph, node))
                flow.AddEdge(source, 2 * i, MaxFlow.Infinite);
            flow.AddEdge(2 * i, 2 * i + 1, node.Meta is TensorMeta ? Math.Max(1, Bytes(node.Meta)) : MaxFlow.Infinite);
            foreach (var user in users.GetValueOrDefault(node.Name, []))
                if (index.TryGetValue(user, out var u)) flow.AddEdge(2 * i + 1, 2 * u, MaxFlow.Infinite);
        }
        // a gradient that is a forward value itself (the gradient of x + x.detach() * 0...) must be saved
        foreach (var name in joint.InputGradients.References().Where(n => !backward.Contains(n)))
            flow.AddEdge(2 * index[name] + 1, sink, MaxFlow.Infinite);
        if (flow.Run(source, sink) >= MaxFlow.Infinite)
            throw new NotSupportedException("the backward needs a forward value that cannot be saved (not a tensor)");
        var side = flow.SourceSide(source);
        var saved = nodes.Where((n, i) => side[2 * i] && !side[2 * i + 1]).Select(n => n.Name).ToList();
        var forwardSet = required.ToHashSet();
        foreach (var name in saved) forwardSet.UnionWith(Ancestors(graph, name));
        return Split("min-cut rematerialization", joint, forwardSet, saved);
    }

    /// <summary>Whether the backward may compute a forward node again rather than have it saved.</summary>
    private static bool Recomputable(Graph graph, Node node) => node switch
    {
        CallOp { Op.Category: OpCategory.Pointwise or OpCategory.View or OpCategory.Creation } => true,
        CallOp { Op.Category: OpCategory.Reduction } c => Bytes(c.Meta) * 4 >= c.Inputs.Distinct().Sum(i => Bytes(graph[i].Meta)),
        Constant or GetAttr => true,
        _ => false,
    };

    /// <summary>The nodes that depend on a tangent: the backward proper.</summary>
    private static HashSet<string> TangentClosure(JointGraph joint)
    {
        var closure = joint.Tangents.ToHashSet();
        foreach (var node in joint.Graph.Nodes)
            if (node is not Output && node.Inputs.Any(closure.Contains)) closure.Add(node.Name);
        return closure;
    }

    /// <summary>
    /// What the forward must compute: the primals and the ancestors of its outputs, plus the items
    /// taken out of forward tuples (a tuple is never saved; its items are).
    /// </summary>
    private static HashSet<string> ForwardNodes(JointGraph joint, HashSet<string> backward)
    {
        var graph = joint.Graph;
        var set = joint.Primals.ToHashSet();
        foreach (var output in joint.Outputs.References()) set.UnionWith(Ancestors(graph, output));
        foreach (var node in graph.Nodes)
            if (node is CallOp c && c.Op == Ops.GetItem && c.Args[0] is RefArg r && set.Contains(r.Name) && graph[r.Name].Meta is TupleMeta && !backward.Contains(c.Name))
                set.Add(c.Name);
        return set;
    }

    private static HashSet<string> Ancestors(Graph graph, string name)
    {
        var seen = new HashSet<string>();
        var stack = new Stack<string>([name]);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (!seen.Add(n)) continue;
            foreach (var input in graph[n].Inputs) stack.Push(input);
        }
        return seen;
    }

    private static Dictionary<string, List<string>> UsersOf(Graph graph)
    {
        var users = new Dictionary<string, List<string>>();
        foreach (var node in graph.Nodes.Where(n => n is not Output))
            foreach (var input in node.Inputs.Distinct())
                (users.TryGetValue(input, out var list) ? list : users[input] = []).Add(node.Name);
        return users;
    }

    private static List<string> Ordered(Graph graph, IEnumerable<string> names)
    {
        var set = names.ToHashSet();
        return graph.Nodes.Where(n => set.Contains(n.Name)).Select(n => n.Name).ToList();
    }

    /// <summary>Builds the forward and backward graphs for a choice of saved values.</summary>
    private static Partition Split(string partitioner, JointGraph joint, HashSet<string> forwardSet, IReadOnlyList<string> saved)
    {
        var graph = joint.Graph;
        foreach (var name in saved)
            if (graph[name].Meta is not TensorMeta)
                throw new NotSupportedException($"the backward needs {name}, a {graph[name].Meta}, which cannot be saved");
        var forwardNeeded = new HashSet<string>();
        foreach (var output in joint.Outputs.References().Concat(saved)) forwardNeeded.UnionWith(Ancestors(graph, output));
        var fb = new GraphBuilder(gradEnabled: false);
        foreach (var node in graph.Nodes.Where(n => n is not Output && (n is Placeholder ? joint.Primals.Contains(n.Name) : forwardNeeded.Contains(n.Name))))
            fb.Add(node);
        var forward = fb.Output(new ListArg(new Arg[]
        {
            joint.Outputs,
            new ListArg(saved.Select(n => (Arg)new RefArg(n)).ToEquatableList(), IsTuple: true),
        }.ToEquatableList(), IsTuple: true));

        // the backward: what the gradients need, reading saved values and tangents as inputs
        var inputs = saved.Concat(joint.Tangents).ToHashSet();
        var needed = new HashSet<string>();
        var stack = new Stack<string>(joint.InputGradients.References());
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (!needed.Add(n) || inputs.Contains(n)) continue;
            if (graph[n] is Placeholder) throw new InvalidOperationException($"partition ({partitioner}): the backward reads the input {n}, which was not saved");
            foreach (var input in graph[n].Inputs) stack.Push(input);
        }
        var bb = new GraphBuilder(gradEnabled: false);
        foreach (var name in saved) bb.Add(new Placeholder(name, graph[name].Meta));
        foreach (var tangent in joint.Tangents) bb.Add(graph[tangent]);
        foreach (var node in graph.Nodes.Where(n => n is not (Output or Placeholder) && needed.Contains(n.Name) && !inputs.Contains(n.Name)))
            bb.Add(node);
        var backward = bb.Output(joint.InputGradients);
        return new Partition(partitioner, joint, forward, backward, saved);
    }

    public static long Bytes(ValueMeta meta) => meta is TensorMeta t && t.Shape.IsConcrete ? t.Shape.NumElements() * t.DType.ItemSize() : 0;

    public static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KiB",
        _ => $"{bytes / (1024.0 * 1024):0.##} MiB",
    };
}
