namespace Capture.Frontend;


/// <summary>
/// A graph being built: the function's own, or a subgraph (a cond branch, a loop's condition or
/// body) inside another scope. A subgraph reads tensors of enclosing scopes through placeholders
/// made on first use ("lifted"); the node that owns the subgraph passes those tensors as operands.
/// </summary>
internal sealed class GraphScope
{
    private readonly Dictionary<(GraphScope, string), string> _lifted = [];
    private readonly List<(TensorVal Outer, string Placeholder)> _liftedInOrder = [];

    public GraphScope(GraphScope? parent, bool gradEnabled)
    {
        Parent = parent;
        Builder = new GraphBuilder(gradEnabled);
    }

    public GraphScope? Parent { get; }

    public GraphBuilder Builder { get; }

    /// <summary>Outer tensors read here, with the placeholder each became, in first-use order.</summary>
    public IReadOnlyList<(TensorVal Outer, string Placeholder)> Lifted => _liftedInOrder;

    public bool Encloses(GraphScope other)
    {
        for (var s = other; s is not null; s = s.Parent)
            if (s == this) return true;
        return false;
    }

    /// <summary>The node that stands for <paramref name="tensor"/> in this scope, lifting it from its own scope through every scope between.</summary>
    public RefArg Use(TensorVal tensor)
    {
        if (tensor.Scope == this) return new RefArg(tensor.Node);
        if (Parent is null || !tensor.Scope.Encloses(this))
            throw new InvalidOperationException($"tensor {tensor.Node} is not visible from this scope");
        if (_lifted.TryGetValue((tensor.Scope, tensor.Node), out var known)) return new RefArg(known);
        Parent.Use(tensor);
        var placeholder = Builder.Placeholder(tensor.Node, tensor.Meta).Name;
        _lifted[(tensor.Scope, tensor.Node)] = placeholder;
        _liftedInOrder.Add((tensor, placeholder));
        return new RefArg(placeholder);
    }

    /// <summary>A placeholder that is not a lifted tensor (a loop's carried value), made before anything is lifted.</summary>
    public TensorVal Carried(string name, TensorMeta meta) => new(Builder.Placeholder(name, meta).Name, meta, this);

    /// <summary>
    /// The finished subgraph with its placeholders in operand order: its own carried placeholders
    /// first, then one per outer tensor any sibling subgraph read (<paramref name="operands"/>; one
    /// it did not read gets an unused placeholder), so that sibling subgraphs share one signature.
    /// <paramref name="output"/> makes the output from the operands' placeholders.
    /// </summary>
    public Graph Finish(Func<IReadOnlyList<RefArg>, Arg> output, IReadOnlyList<TensorVal> carried, IReadOnlyList<TensorVal> operands)
    {
        var nodes = Builder.Output(NoneArg.Instance).Nodes.Where(n => n is not Output).ToList();
        var placeholders = nodes.OfType<Placeholder>().ToList();
        var mine = _liftedInOrder.ToDictionary(l => (l.Outer.Scope, l.Outer.Node), l => l.Placeholder);
        var names = new HashSet<string>(nodes.Select(n => n.Name));
        var operandPlaceholders = new List<Placeholder>();
        foreach (var operand in operands)
        {
            if (mine.TryGetValue((operand.Scope, operand.Node), out var name))
            {
                operandPlaceholders.Add(placeholders.First(p => p.Name == name));
                continue;
            }
            var fresh = operand.Node;
            for (var i = 1; !names.Add(fresh); i++) fresh = $"{operand.Node}_{i}";
            operandPlaceholders.Add(new Placeholder(fresh, operand.Meta));
        }
        var result = output(operandPlaceholders.Select(p => new RefArg(p.Name)).ToList());
        var metas = nodes.ToDictionary(n => n.Name, n => n.Meta);
        foreach (var p in operandPlaceholders) metas[p.Name] = p.Meta;
        ValueMeta MetaOf(Arg arg) => arg switch
        {
            RefArg r => metas[r.Name],
            ListArg l => new TupleMeta(l.Items.Select(MetaOf).ToEquatableList()),
            _ => throw new InvalidOperationException($"a subgraph returns {arg}"),
        };
        return new Graph(placeholders.Take(carried.Count).Concat<Node>(operandPlaceholders).Concat(nodes.Where(n => n is not Placeholder))
            .Append(new Output("output", result, MetaOf(result)) { Source = Builder.Source }));
    }
}
