namespace Capture.Graphs;

/// <summary>
/// Appends nodes and returns an immutable <see cref="Graph"/> at <see cref="Output"/>. Every call
/// node's metadata comes from its op's shape rule, so a builder never makes a graph whose metadata
/// disagrees with the registry (opaque ops bring their metadata from torch's meta device).
/// Names follow FX: the op's short name, then _1, _2... on repeats.
/// </summary>
public sealed class GraphBuilder
{
    private readonly List<Node> _nodes = [];
    private readonly Dictionary<string, Node> _byName = [];
    private readonly Dictionary<string, int> _nameCounts = [];
    private readonly HashSet<string> _reserved = [];

    public GraphBuilder() { }

    /// <summary>A builder for a graph that starts under the given grad mode (a capture made inside torch.no_grad()).</summary>
    public GraphBuilder(bool gradEnabled) => GradEnabled = _entryGradEnabled = gradEnabled;

    private readonly bool _entryGradEnabled = true;

    /// <summary>Starts from a graph's nodes without its output (to append to, or re-output).</summary>
    public GraphBuilder(Graph graph)
    {
        foreach (var node in graph.Nodes.Where(n => n is not global::Capture.Graphs.Output)) Add(node);
    }

    public SourceLocation? Source { get; set; }

    /// <summary>Grad mode at the end of the graph so far (set by torch._C._set_grad_enabled nodes).</summary>
    public bool GradEnabled { get; private set; } = true;

    /// <summary>A node added so far.</summary>
    public Node this[string name] => _byName.TryGetValue(name, out var n) ? n : throw new KeyNotFoundException($"no node named '{name}'");

    public ValueMeta MetaOf(string name) =>
        _byName.TryGetValue(name, out var n) ? n.Meta : throw new KeyNotFoundException($"no node named '{name}'");

    /// <summary>The metadata of any argument: a node's, or that of a constant.</summary>
    public ValueMeta MetaOf(Arg arg) => arg switch
    {
        RefArg r => MetaOf(r.Name),
        ListArg l => new TupleMeta(l.Items.Select(MetaOf).ToEquatableList()),
        IntArg or SizeArg => new ScalarMeta(ScalarKind.Int),
        FloatArg => new ScalarMeta(ScalarKind.Float),
        BoolArg => new ScalarMeta(ScalarKind.Bool),
        NoneArg => NoneMeta.Instance,
        _ => throw new NotSupportedException($"a {arg} cannot be a graph value"),
    };

    public RefArg Placeholder(string name, ValueMeta meta) => Add(new Placeholder(Unique(name), meta));

    public RefArg GetAttr(string target, ValueMeta meta) =>
        Add(new GetAttr(Unique(target.Replace('.', '_')), target, meta) { Source = Source });

    /// <summary>Calls an op (<see cref="Ops"/>) with positional arguments.</summary>
    public RefArg Call(OpDef op, params Arg[] args) => Call(op, (IReadOnlyList<Arg>)args);

    public RefArg Call(OpDef op, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg>? kwargs = null, bool method = false, ValueMeta? opaqueMeta = null)
    {
        kwargs ??= [];
        if (_retired.Count > 0 && args.Concat(kwargs.Select(k => k.Value)).SelectMany(a => a.References()).FirstOrDefault(_retired.Contains) is { } stale)
            throw new NotSupportedException($"{stale} was read before the buffer it came from was written in place (batch norm's running statistics): an op on the old value would not see the new contents");
        (args, kwargs) = Positional(op, args, kwargs);
        if (method && op.MethodName is null) throw new ArgumentException($"{op.Name} is not a Tensor method");
        if (!method && !op.IsFunction) throw new ArgumentException($"{op.Name} can only be called as a method");
        var meta = op.Category == OpCategory.Opaque
            ? opaqueMeta ?? throw new ArgumentException($"opaque op {op.Name} needs its metadata from torch's meta device")
            : OpCall.Bind(op, args, kwargs, MetaOf).Infer();
        meta = GradModeRule.Apply(op, meta, GradEnabled);
        var hint = op.MethodName ?? op.Name[(op.Name.LastIndexOf('.') + 1)..];
        return Add(new CallOp(Unique(hint), op, args.ToEquatableList(), kwargs.ToEquatableList(), meta, method) { Source = Source });
    }

    /// <summary>
    /// A registry call with its keyword arguments for positional parameters moved into place
    /// (`torch.cat(tensors=[a, b], dim=0)` becomes `torch.cat([a, b], 0)`), gaps filled with the
    /// parameters' defaults: passes, lowering and backends read arguments by position. Keyword-only
    /// parameters stay keywords; a call that cannot be placed so (an unknown name, a gap without a
    /// default) is left as written, for the shape rule to judge.
    /// </summary>
    private static (IReadOnlyList<Arg> Args, IReadOnlyList<Kwarg> Kwargs) Positional(OpDef op, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs)
    {
        if (kwargs.Count == 0 || op.Category == OpCategory.Opaque) return (args, kwargs);
        var parameters = op.Schema.Params;
        var positional = parameters.TakeWhile(p => !p.KeywordOnly && !p.Variadic).ToList();
        var byName = kwargs.ToDictionary(k => k.Name, k => k.Value);
        var last = -1;
        for (var i = args.Count; i < positional.Count; i++)
            if (byName.ContainsKey(positional[i].Name)) last = i;
        if (last < 0) return (args, kwargs);
        var placed = args.ToList();
        for (var i = args.Count; i <= last; i++)
        {
            if (byName.Remove(positional[i].Name, out var value)) placed.Add(value);
            else if (positional[i].Default is { } fallback) placed.Add(fallback);
            else return (args, kwargs);
        }
        return (placed, kwargs.Where(k => byName.ContainsKey(k.Name)).ToList());
    }

    public RefArg CallModule(string target, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, ValueMeta meta) =>
        Add(new CallModule(Unique(target.Replace('.', '_')), target, args.ToEquatableList(), kwargs.ToEquatableList(), meta) { Source = Source });

    public RefArg Cond(Arg predicate, Graph trueGraph, Graph falseGraph, IReadOnlyList<Arg> operands) =>
        Add(new Cond(Unique("cond"), predicate, trueGraph, falseGraph, operands.ToEquatableList(), trueGraph.Output.Meta) { Source = Source });

    public RefArg WhileLoop(Graph condGraph, Graph bodyGraph, IReadOnlyList<Arg> operands) =>
        Add(new WhileLoop(Unique("while_loop"), condGraph, bodyGraph, operands.ToEquatableList(),
            new TupleMeta(operands.Select(MetaOf).ToEquatableList())) { Source = Source });

    /// <summary>Appends a node built elsewhere (a pass copying nodes); its name must be new.</summary>
    public RefArg Add(Node node)
    {
        if (!_byName.TryAdd(node.Name, node)) throw new ArgumentException($"a node named '{node.Name}' already exists");
        _nameCounts.TryAdd(node.Name, 0);
        _nodes.Add(node);
        if (node is CallOp c && GradModeRule.Sets(c.Op, c.Args) is { } mode) GradEnabled = mode;
        return new RefArg(node.Name);
    }

    /// <summary>Names new nodes must not take (a pass rebuilding a graph keeps the names of nodes it has yet to copy).</summary>
    public void Reserve(IEnumerable<string> names) => _reserved.UnionWith(names);

    /// <summary>A point to roll back to: the number of nodes so far.</summary>
    public int Mark() => _nodes.Count;

    private readonly HashSet<string> _retired = [];

    /// <summary>
    /// Marks a value stale: the tensor it was read from has since been written in place outside the
    /// graph's dataflow (a module buffer copied back after the graph), so an op reading it would see
    /// the old contents where eager sees the new ones. Calls that read it are refused.
    /// </summary>
    public void Retire(string name) => _retired.Add(name);

    public void Unretire(string name) => _retired.Remove(name);

    /// <summary>The nodes added so far, in order.</summary>
    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>
    /// Drops the call nodes added since <paramref name="mark"/> (an instruction that turned out to be
    /// a graph break must leave no ops behind: they would run, and the instruction runs again for
    /// real). Placeholders stay: their inputs are already registered.
    /// </summary>
    public void Truncate(int mark)
    {
        GradEnabled = _nodes.Take(mark).OfType<CallOp>().Select(c => GradModeRule.Sets(c.Op, c.Args)).LastOrDefault(m => m is not null) ?? _entryGradEnabled;
        for (var i = _nodes.Count - 1; i >= mark; i--)
        {
            if (_nodes[i] is Placeholder) continue;
            _byName.Remove(_nodes[i].Name);
            _nodes.RemoveAt(i);
        }
    }

    public Graph Output(Arg value)
    {
        var output = new Output("output", value, MetaOf(value)) { Source = Source };
        return new Graph(_nodes.Append(output));
    }

    private string Unique(string hint)
    {
        var name = new string(hint.Select(c => char.IsLetterOrDigit(c) || c == '_' ? c : '_').ToArray());
        if (name.Length == 0 || char.IsDigit(name[0])) name = "_" + name;
        if (!_byName.ContainsKey(name) && !_reserved.Contains(name) && name != "output") return name;
        var count = _nameCounts.GetValueOrDefault(name);
        string candidate;
        do candidate = $"{name}_{++count}"; while (_byName.ContainsKey(candidate) || _reserved.Contains(candidate));
        _nameCounts[name] = count;
        return candidate;
    }
}
