namespace Capture.Graphs;

/// <summary>
/// A graph with control flow cut into pieces that run one after another: each run of ops between
/// cond/while_loop nodes, and each control-flow node on its own with the getitems that take its
/// result apart. Every piece is a graph of its own: its placeholders are the values it reads from
/// before it, under their names (the graph's inputs, earlier pieces' results), and its output is a
/// tuple of the values later pieces read; the last piece returns the graph's output. Constants and
/// attributes are copied into each piece that reads them rather than passed along.
/// Where gradients are needed, each piece of ops compiles with its own forward/backward split and
/// torch's autograd chains the pieces, as it chains the compiled branches of the control flow.
/// </summary>
public static class ControlFlowPieces
{
    /// <summary>
    /// The pieces, in the order they run, or null where the graph cannot be cut: a value passed between
    /// pieces that is not a tensor (a number read from one, a tuple), or a control-flow result read whole.
    /// </summary>
    public static IReadOnlyList<Graph>? Cut(Graph graph)
    {
        var uses = UseAnalysis.Of(graph);
        var groups = new List<List<Node>>();
        var current = new List<Node>();
        var taken = new HashSet<string>();
        foreach (var node in graph.Nodes)
        {
            if (node is Placeholder or Output or Constant or GetAttr || taken.Contains(node.Name)) continue;
            if (node is not (Cond or WhileLoop))
            {
                current.Add(node);
                continue;
            }
            if (current.Count > 0) groups.Add(current);
            current = [];
            var piece = new List<Node> { node };
            if (node.Meta is TupleMeta)
            {
                // its results, taken apart by getitem, leave the piece one by one
                foreach (var user in uses.Users(node.Name).Select(u => graph[u]))
                {
                    if (user is not CallOp get || get.Op != Ops.GetItem || get.Args[0] != new RefArg(node.Name) || get.Inputs.Distinct().Count() != 1) return null;
                    piece.Add(user);
                    taken.Add(user.Name);
                }
            }
            groups.Add(piece);
        }
        if (current.Count > 0) groups.Add(current);

        var pieces = new List<Graph>();
        for (var i = 0; i < groups.Count; i++)
        {
            var defined = groups[i].Select(n => n.Name).ToHashSet();
            var last = i == groups.Count - 1;
            var reads = groups[i].Concat(last ? [graph.Output] : []).SelectMany(n => n.Inputs).Where(n => !defined.Contains(n)).Distinct().ToList();
            var copied = reads.Select(n => graph[n]).Where(n => n is Constant or GetAttr).ToList();
            var passedIn = reads.Select(n => graph[n]).Where(n => n is not (Constant or GetAttr))
                .Select(n => (Node)new Placeholder(n.Name, n.Meta) { Source = n.Source }).ToList();
            Output output;
            if (last) output = graph.Output;
            else
            {
                var later = groups.Skip(i + 1).SelectMany(g => g).Append(graph.Output).SelectMany(n => n.Inputs).ToHashSet();
                var results = groups[i].Where(n => later.Contains(n.Name)).ToList();
                if (results.Any(n => n.Meta is not TensorMeta)) return null;
                output = new Output("output", new ListArg(results.Select(n => (Arg)new RefArg(n.Name)).ToEquatableList(), IsTuple: true),
                    new TupleMeta(results.Select(n => n.Meta).ToEquatableList()));
            }
            pieces.Add(new Graph(passedIn.Concat(copied).Concat(groups[i]).Append(output)));
        }
        return pieces;
    }

    /// <summary>Whether the graph is one control-flow node (with the getitems of its result) between its inputs and output.</summary>
    public static bool IsControlFlowOnly(Graph graph)
    {
        var ops = graph.Nodes.Where(n => n is not (Placeholder or Output or Constant or GetAttr)).ToList();
        return ops.Count(n => n is Cond or WhileLoop) == 1 && ops.All(n => n is Cond or WhileLoop || n is CallOp c && c.Op == Ops.GetItem);
    }
}
