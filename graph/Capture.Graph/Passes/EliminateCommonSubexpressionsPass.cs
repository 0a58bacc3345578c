namespace Capture.Graphs;

// Common subexpression elimination: a pure call identical to an earlier one (same op, arguments,
// keywords, call form and metadata) is replaced by the earlier one. Only pure ops take part (random
// ops never merge). A node that writes (an in-place op, setitem) or changes global state is a
// barrier: nothing computed before it is reused after it, since what it wrote may be an input.
//   before: a = exp(x); b = exp(x); c = add(a, b)    after: a = exp(x); c = add(a, a)
public sealed class EliminateCommonSubexpressionsPass : IGraphPass
{
    public string Name => "eliminate common subexpressions";

    private sealed record Key(OpDef Op, EquatableList<Arg> Args, EquatableList<Kwarg> Kwargs, bool IsMethod, ValueMeta Meta);

    public PassResult Run(Graph graph, PassContext context)
    {
        var seen = new Dictionary<Key, string>();
        var renames = new Dictionary<string, string>();
        var nodes = new List<Node>();
        foreach (var original in graph.Nodes)
        {
            var node = original.Rename(n => renames.GetValueOrDefault(n, n));
            if (node is CallOp c)
            {
                if (!OpEffects.IsPure(c.Op))
                {
                    if (c.Op.Category != OpCategory.Random) seen.Clear(); // writes and state changes are barriers
                }
                else
                {
                    var key = new Key(c.Op, c.Args, c.Kwargs, c.IsMethod, c.Meta);
                    if (seen.TryGetValue(key, out var earlier))
                    {
                        renames[c.Name] = earlier;
                        continue;
                    }
                    seen[key] = c.Name;
                }
            }
            nodes.Add(node);
        }
        return new PassResult(new Graph(nodes), Removed: renames.Count);
    }
}
