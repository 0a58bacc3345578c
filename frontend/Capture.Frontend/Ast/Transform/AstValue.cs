namespace Capture.Frontend;

/// <summary>
/// What a Python expression is while the AST path transforms a function: a tensor of the graph
/// being built, a Python value known at capture time, a sequence, or an object the transform
/// knows how to use (torch namespaces, functions, nn.Modules).
/// </summary>
internal abstract record AstValue;

/// <summary>A tensor: node <see cref="Node"/> of the graph in <see cref="Scope"/> (the function's graph or a branch/loop subgraph).</summary>
internal sealed record TensorVal(string Node, TensorMeta Meta, GraphScope Scope) : AstValue;

/// <summary>
/// A Python value known at capture time (int, float, bool, str, None, dtype, slice, range...).
/// <see cref="Origin"/> names the argument or global it came from, when it came from one.
/// </summary>
internal sealed record ConstVal(PyObject Value, string? Origin = null) : AstValue;

/// <summary>A tuple of values; a named tuple (torch.return_types.max) when <see cref="NamedType"/> is set.</summary>
internal sealed record TupleVal(IReadOnlyList<AstValue> Items) : AstValue
{
    public PyObject? NamedType { get; init; }
}

/// <summary>
/// A list. Lists can be appended to, so this one is shared by every name bound to it; it may change
/// only in the graph scope that made it (a branch cannot append to a list from outside it). Its
/// owner is null for a list from the caller (read-only here). Equality is the list's identity.
/// </summary>
internal sealed record ListVal(List<AstValue> Items, GraphScope? Owner) : AstValue;


/// <summary>A Python object used by name: a module, a function, an nn.Module, a class, or something else.</summary>
internal sealed record ObjVal(PyObject Object, ObjectKind Kind, string Name, Source? Path) : AstValue;

/// <summary>obj.name before it is called: a Tensor method, an nn.Module method, a list or constant's method.</summary>
internal sealed record MethodVal(AstValue Self, string Name) : AstValue;

/// <summary>
/// A dict with str keys known at capture time: a function's **kwargs parameter, or a dict argument
/// (its keys guarded, items read by key). It is read here (d["k"], len, in, iteration, keys/values/
/// items/get) and passed on with `f(**d)`, not changed.
/// </summary>
internal sealed record DictVal(IReadOnlyList<KeyValuePair<string, AstValue>> Items) : AstValue
{
    public AstValue? Find(string key) => Items.FirstOrDefault(i => i.Key == key).Value;
}

/// <summary>A name that has no value here: assigned in only one branch of a tensor if, or inside a tensor while loop.</summary>
internal sealed record UndefinedVal(string Why) : AstValue;
