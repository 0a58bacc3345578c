namespace Capture.Graphs;

/// <summary>A keyword argument of a call.</summary>
public sealed record Kwarg(string Name, Arg Value)
{
    public override string ToString() => $"{Name}={Value}";
}

/// <summary>
/// One node of a graph: the FX kinds (placeholder, get_attr, call_function, call_method,
/// call_module, output) plus structured control flow (cond, while_loop) whose branches are
/// subgraphs. Nodes are immutable; each carries the metadata of the value it produces and the
/// user's source location it came from.
/// </summary>
public abstract record Node(string Name, ValueMeta Meta)
{
    public SourceLocation? Source { get; init; }

    /// <summary>FX's opcode name.</summary>
    public abstract string OpCode { get; }

    /// <summary>Every argument, positional then keyword.</summary>
    public abstract IEnumerable<Arg> Arguments { get; }

    /// <summary>Names of the nodes this node reads, in argument order (with repeats).</summary>
    public IEnumerable<string> Inputs => Arguments.SelectMany(a => a.References());

    /// <summary>The node with its own name and every reference renamed (subgraphs keep their own names).</summary>
    public abstract Node Rename(Func<string, string> rename);
}

public sealed record Placeholder(string Name, ValueMeta Meta) : Node(Name, Meta)
{
    public override string OpCode => "placeholder";
    public override IEnumerable<Arg> Arguments => [];
    public override Node Rename(Func<string, string> rename) => this with { Name = rename(Name) };
}

/// <summary>Reads a parameter or buffer of the root module by dotted path ("fc1.weight").</summary>
public sealed record GetAttr(string Name, string Target, ValueMeta Meta) : Node(Name, Meta)
{
    public override string OpCode => "get_attr";
    public override IEnumerable<Arg> Arguments => [];
    public override Node Rename(Func<string, string> rename) => this with { Name = rename(Name) };
}

/// <summary>Calls a registry op: as a function (torch.add(x, y)) or, when <see cref="IsMethod"/>, as a
/// method of its first argument (x.view(4, 8)).</summary>
public sealed record CallOp(string Name, OpDef Op, EquatableList<Arg> Args, EquatableList<Kwarg> Kwargs, ValueMeta Meta, bool IsMethod = false)
    : Node(Name, Meta)
{
    public override string OpCode => IsMethod ? "call_method" : "call_function";
    public override IEnumerable<Arg> Arguments => Args.Concat(Kwargs.Select(k => k.Value));
    public override Node Rename(Func<string, string> rename) => this with
    {
        Name = rename(Name),
        Args = Args.Select(a => a.Rename(rename)).ToEquatableList(),
        Kwargs = Kwargs.Select(k => k with { Value = k.Value.Rename(rename) }).ToEquatableList(),
    };
}

/// <summary>
/// A tensor whose value is known when the graph is compiled (constant folding made it). Its data
/// is contiguous; <see cref="ValueMeta"/> is a contiguous <see cref="TensorMeta"/> without grad.
/// Backends may share one copy between calls: constant folding never folds into a graph that writes.
/// </summary>
public sealed record Constant(string Name, TensorData Value, ValueMeta Meta) : Node(Name, Meta)
{
    /// <summary>Constants with at most this many elements print their values (and parse back).</summary>
    public const int PrintedElements = 64;

    public override string OpCode => "constant";
    public override IEnumerable<Arg> Arguments => [];
    public override Node Rename(Func<string, string> rename) => this with { Name = rename(Name) };
}

/// <summary>Calls a submodule of the root module by dotted path ("encoder.layers.0").</summary>
public sealed record CallModule(string Name, string Target, EquatableList<Arg> Args, EquatableList<Kwarg> Kwargs, ValueMeta Meta)
    : Node(Name, Meta)
{
    public override string OpCode => "call_module";
    public override IEnumerable<Arg> Arguments => Args.Concat(Kwargs.Select(k => k.Value));
    public override Node Rename(Func<string, string> rename) => this with
    {
        Name = rename(Name),
        Args = Args.Select(a => a.Rename(rename)).ToEquatableList(),
        Kwargs = Kwargs.Select(k => k with { Value = k.Value.Rename(rename) }).ToEquatableList(),
    };
}

/// <summary>
/// if/else on a tensor: runs <see cref="TrueGraph"/> or <see cref="FalseGraph"/> on the operands.
/// Both branches take the operands as placeholders and return values of the same metadata.
/// </summary>
public sealed record Cond(string Name, Arg Predicate, Graph TrueGraph, Graph FalseGraph, EquatableList<Arg> Operands, ValueMeta Meta)
    : Node(Name, Meta)
{
    public override string OpCode => "cond";
    public override IEnumerable<Arg> Arguments => Operands.Prepend(Predicate);
    public override Node Rename(Func<string, string> rename) => this with
    {
        Name = rename(Name),
        Predicate = Predicate.Rename(rename),
        Operands = Operands.Select(a => a.Rename(rename)).ToEquatableList(),
    };
}

/// <summary>
/// while cond(carried): carried = body(carried). Both subgraphs take the carried values as
/// placeholders; the condition returns a one-element bool tensor, the body new carried values.
/// </summary>
public sealed record WhileLoop(string Name, Graph CondGraph, Graph BodyGraph, EquatableList<Arg> Operands, ValueMeta Meta)
    : Node(Name, Meta)
{
    public override string OpCode => "while_loop";
    public override IEnumerable<Arg> Arguments => Operands;
    public override Node Rename(Func<string, string> rename) => this with
    {
        Name = rename(Name),
        Operands = Operands.Select(a => a.Rename(rename)).ToEquatableList(),
    };
}

/// <summary>The graph's result: one value (often a tuple of values).</summary>
public sealed record Output(string Name, Arg Value, ValueMeta Meta) : Node(Name, Meta)
{
    public override string OpCode => "output";
    public override IEnumerable<Arg> Arguments => [Value];
    public override Node Rename(Func<string, string> rename) => this with { Name = rename(Name), Value = Value.Rename(rename) };
}
