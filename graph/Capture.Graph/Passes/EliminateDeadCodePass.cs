namespace Capture.Graphs;

// Dead code elimination: walks the graph backwards, keeping a node when something kept reads it,
// when it is the output, or when it is not pure (see OpEffects.IsPure). Placeholders stay: they
// are the graph's signature.
//   before: a = exp(x); b = mul(x, 2); return b      after: b = mul(x, 2); return b
public sealed class EliminateDeadCodePass : IGraphPass
{
    public string Name => "eliminate dead code";

    public PassResult Run(Graph graph, PassContext context)
    {
        var live = new HashSet<string>();
        var kept = new List<Node>();
        for (var i = graph.Nodes.Count - 1; i >= 0; i--)
        {
            var node = graph.Nodes[i];
            var keep = node switch
            {
                Placeholder or Output => true,
                CallOp c => live.Contains(c.Name) || !OpEffects.IsPure(c.Op),
                _ => live.Contains(node.Name), // get_attr, call_module, cond, while_loop: used or gone
            };
            if (!keep) continue;
            kept.Add(node);
            live.UnionWith(node.Inputs);
        }
        kept.Reverse();
        return new PassResult(new Graph(kept), Removed: graph.Nodes.Count - kept.Count);
    }
}
