namespace Capture.Graphs;

/// <summary>
/// An immutable, topologically ordered list of nodes: placeholders first, one output last. Edits
/// go through <see cref="GraphBuilder"/>, which returns a new graph. Two graphs are equal when
/// their nodes are; <see cref="Canonical"/> renames nodes by position to compare up to renaming.
/// </summary>
public sealed class Graph : IEquatable<Graph>
{
    private readonly Dictionary<string, Node> _byName;

    public Graph(IEnumerable<Node> nodes)
    {
        Nodes = nodes.ToEquatableList();
        _byName = new Dictionary<string, Node>(Nodes.Count);
        foreach (var node in Nodes) _byName.TryAdd(node.Name, node); // duplicates are the verifier's to report
    }

    public EquatableList<Node> Nodes { get; }

    public IEnumerable<Placeholder> Placeholders => Nodes.OfType<Placeholder>();

    public Output Output => Nodes.Count > 0 && Nodes[^1] is Output o ? o : throw new InvalidOperationException("graph has no output node last");

    public Node this[string name] => _byName.TryGetValue(name, out var n) ? n : throw new KeyNotFoundException($"no node named '{name}' in the graph");

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Every node, those of cond branches and loop bodies included (each control-flow node before its subgraphs' nodes).</summary>
    public IEnumerable<Node> AllNodes() => Nodes.SelectMany(n => n switch
    {
        Cond c => c.TrueGraph.AllNodes().Concat(c.FalseGraph.AllNodes()).Prepend(n),
        WhileLoop w => w.CondGraph.AllNodes().Concat(w.BodyGraph.AllNodes()).Prepend(n),
        _ => [n],
    });

    /// <summary>
    /// The subgraphs of a control-flow node with their roles, in the order a cond's branches or a
    /// while_loop's parts are indexed at run time: ("true", "false") or ("condition", "body"); none for others.
    /// </summary>
    public static IReadOnlyList<(string Role, Graph Graph)> SubgraphsOf(Node node) => node switch
    {
        Cond c => [("true", c.TrueGraph), ("false", c.FalseGraph)],
        WhileLoop w => [("condition", w.CondGraph), ("body", w.BodyGraph)],
        _ => [],
    };

    /// <summary>The metadata of an argument's value; constants have none.</summary>
    public ValueMeta? MetaOf(Arg arg) => arg is RefArg r && _byName.TryGetValue(r.Name, out var n) ? n.Meta : null;

    /// <summary>The same graph with nodes named by position (p0.. for placeholders, n0.. otherwise).</summary>
    public Graph Canonical()
    {
        var names = new Dictionary<string, string>();
        int p = 0, n = 0;
        foreach (var node in Nodes)
            names[node.Name] = node switch { Placeholder => $"p{p++}", global::Capture.Graphs.Output => "output", _ => $"n{n++}" };
        return new Graph(Nodes.Select(node => CanonicalNode(node, names)));
    }

    private static Node CanonicalNode(Node node, Dictionary<string, string> names)
    {
        var renamed = node.Rename(name => names.TryGetValue(name, out var c) ? c : name);
        return renamed switch
        {
            Cond c => c with { TrueGraph = c.TrueGraph.Canonical(), FalseGraph = c.FalseGraph.Canonical() },
            WhileLoop w => w with { CondGraph = w.CondGraph.Canonical(), BodyGraph = w.BodyGraph.Canonical() },
            _ => renamed,
        };
    }

    /// <summary>
    /// The graph as grad mode off sees it: no value requires grad. What runs under no_grad computes
    /// the same values; passes that rebuild nodes then agree with the captured metadata.
    /// </summary>
    public Graph WithoutGrad() => new(Nodes.Select(node => node switch
    {
        Cond c => c with { Meta = JointGraph.NoGrad(c.Meta), TrueGraph = c.TrueGraph.WithoutGrad(), FalseGraph = c.FalseGraph.WithoutGrad() },
        WhileLoop w => w with { Meta = JointGraph.NoGrad(w.Meta), CondGraph = w.CondGraph.WithoutGrad(), BodyGraph = w.BodyGraph.WithoutGrad() },
        _ => node with { Meta = JointGraph.NoGrad(node.Meta) },
    }));

    /// <summary>Equal up to node names (and source locations, which renaming does not touch).</summary>
    public bool EquivalentTo(Graph other) => Canonical().Equals(other.Canonical());

    public bool Equals(Graph? other) => other is not null && Nodes.Equals(other.Nodes);
    public override bool Equals(object? obj) => obj is Graph g && Equals(g);
    public override int GetHashCode() => Nodes.GetHashCode();

    public override string ToString() => CodePrinter.Print(this);
}
