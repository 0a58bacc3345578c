namespace Capture.Graphs;

// Constant folding: a pure tensor computation that reads only constants (literals, creation ops,
// earlier folded constants, and get_attr values when the context freezes them) is computed once,
// at compile time, by the context's evaluator (torch), and replaced by a constant node. Only the
// values a non-constant node or the output reads are materialized; the rest of the constant
// subgraph goes.
//   before: r = torch.arange(4); s = torch.mul(r, 0.5); y = torch.add(x, s)
//   after:  s = capture.constant([0.0, 0.5, 1.0, 1.5]); y = torch.add(x, s)
//
// Not folded:
// - a creation op alone (torch.ones(n) costs less to make than to store and read);
// - a value much bigger than the constants it comes from (an expand or broadcast of a small one:
//   it would store the big value instead of computing it);
// - values that need grad, or whose layout is not contiguous (a constant is a contiguous tensor);
// - anything in a graph that writes (an in-place op could write into a constant that backends share
//   between calls).
public sealed class FoldConstantsPass : IGraphPass
{
    /// <summary>Values up to this many elements fold even when bigger than their sources.</summary>
    public const long SmallElements = 4096;

    public string Name => "fold constants";

    public PassResult Run(Graph graph, PassContext context)
    {
        if (context.Constants is not { } evaluator || graph.Nodes.OfType<CallOp>().Any(c => !OpEffects.IsPure(c.Op) && c.Op.Category != OpCategory.Random && c.Op.Category != OpCategory.GlobalState))
            return new PassResult(graph);

        var constant = new HashSet<string>();
        foreach (var node in graph.Nodes)
        {
            var isConstant = node switch
            {
                Constant => true,
                GetAttr { Meta: TensorMeta } => context.FreezeAttributes,
                CallOp c => OpEffects.IsPure(c.Op) && c.Meta is TensorMeta { RequiresGrad: false, Shape.IsConcrete: true } && c.Inputs.All(constant.Contains),
                _ => false,
            };
            if (isConstant) constant.Add(node.Name);
        }

        // The constants a non-constant node reads: the values worth materializing.
        var frontier = graph.Nodes.Where(n => !constant.Contains(n.Name)).SelectMany(n => n.Inputs).Where(constant.Contains).ToHashSet();
        var folded = graph.Nodes.OfType<CallOp>().Where(c => frontier.Contains(c.Name) && Worth(c, graph, constant)).ToList();
        if (folded.Count == 0) return new PassResult(graph);

        var values = evaluator.Evaluate(ConstantSubgraph(graph, folded));
        var replaced = folded.Select((c, i) => (c.Name, Node: (Node)new Constant(c.Name, values[i], c.Meta) { Source = c.Source })).ToDictionary(p => p.Name, p => p.Node);
        var nodes = graph.Nodes.Select(n => replaced.GetValueOrDefault(n.Name, n)).ToList();

        // What the constants no longer need goes (constant nodes only: the rest is dead code's to judge).
        var used = new HashSet<string>();
        var kept = new List<Node>();
        var removed = 0;
        for (var i = nodes.Count - 1; i >= 0; i--)
        {
            var node = nodes[i];
            if (constant.Contains(node.Name) && node is not Constant && !used.Contains(node.Name)) { removed++; continue; }
            used.UnionWith(node.Inputs);
            kept.Add(node);
        }
        kept.Reverse();
        return new PassResult(new Graph(kept), Removed: removed, Rewritten: folded.Count);
    }

    private static bool Worth(CallOp call, Graph graph, HashSet<string> constant)
    {
        if (!call.Inputs.Any()) return false;
        var meta = (TensorMeta)call.Meta;
        if (!meta.Equals(TensorMeta.Contiguous(meta.Shape, meta.DType, device: meta.Device))) return false;
        var size = meta.Shape.NumElements();
        return size <= SmallElements || size <= LargestSource(call, graph, constant);
    }

    /// <summary>The most elements of any constant the value is computed from (views count as the value they view).</summary>
    private static long LargestSource(Node node, Graph graph, HashSet<string> constant)
    {
        var largest = 0L;
        var seen = new HashSet<string>();
        var stack = new Stack<string>(node.Inputs);
        while (stack.TryPop(out var name))
        {
            if (!seen.Add(name) || !constant.Contains(name)) continue;
            var source = graph[name];
            if (source is not CallOp { Op.Category: OpCategory.View } && source.Meta is TensorMeta { Shape.IsConcrete: true } t) largest = Math.Max(largest, t.Shape.NumElements());
            foreach (var input in source.Inputs) stack.Push(input);
        }
        return largest;
    }

    /// <summary>The constant nodes the folded values need, returning them as a tuple.</summary>
    private static Graph ConstantSubgraph(Graph graph, IReadOnlyList<CallOp> folded)
    {
        var needed = new HashSet<string>();
        var stack = new Stack<string>(folded.Select(f => f.Name));
        while (stack.TryPop(out var name))
            if (needed.Add(name)) foreach (var input in graph[name].Inputs) stack.Push(input);
        var builder = new GraphBuilder();
        foreach (var node in graph.Nodes.Where(n => needed.Contains(n.Name))) builder.Add(node);
        return builder.Output(new ListArg(folded.Select(f => (Arg)new RefArg(f.Name)).ToEquatableList(), IsTuple: true));
    }
}
