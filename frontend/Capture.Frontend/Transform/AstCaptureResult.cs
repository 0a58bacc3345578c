using Capture.Graphs;
using Capture.Python;

namespace Capture.Frontend;


/// <summary>
/// Where a value the capture read comes from, relative to the call: a parameter (or closure
/// variable), a global of the function, or an attribute / item / key of another path. Prints as the
/// bytecode path's guard sources do: L['x'], G['W'], L['self'].fc1.weight, L['xs'][0].
/// </summary>
public abstract record InputPath
{
    public sealed record Local(string Name) : InputPath
    {
        public override string ToString() => $"L['{Name}']";
    }

    public sealed record Global(string Name) : InputPath
    {
        public override string ToString() => $"G['{Name}']";
    }

    public sealed record Attr(InputPath Base, string Name) : InputPath
    {
        public override string ToString() => $"{Base}.{Name}";
    }

    public sealed record Item(InputPath Base, long Index) : InputPath
    {
        public override string ToString() => $"{Base}[{Index}]";
    }

    public sealed record Key(InputPath Base, string Name) : InputPath
    {
        public override string ToString() => $"{Base}['{Name}']";
    }
}

/// <summary>What a capture assumed about one input; the runtime turns each into a guard.</summary>
public abstract record InputAssumption(InputPath Path)
{
    /// <summary>A tensor input (a graph placeholder) with these metadata.</summary>
    public sealed record Tensor(InputPath Path, TensorMeta Meta) : InputAssumption(Path);

    /// <summary>A Python constant equal to <see cref="Value"/>.</summary>
    public sealed record Constant(InputPath Path, PyObject Value) : InputAssumption(Path);

    /// <summary>This very object (a function, a class, an object used by identity).</summary>
    public sealed record Identity(InputPath Path, PyObject Value) : InputAssumption(Path);

    /// <summary>This nn.Module, in this training mode.</summary>
    public sealed record Module(InputPath Path, PyObject Value, bool Training) : InputAssumption(Path);

    /// <summary>The same object as the input at <see cref="Other"/> (one tensor passed twice: one graph input).</summary>
    public sealed record SameAs(InputPath Path, InputPath Other) : InputAssumption(Path);

    /// <summary>torch's global state read through a function of no arguments ("torch.is_autocast_enabled()") equals <see cref="Value"/>.</summary>
    public sealed record GlobalState(string Expression, PyObject Function, PyObject Value) : InputAssumption(new InputPath.Global(Expression));

    /// <summary>A tuple or list of this length.</summary>
    public sealed record Sequence(InputPath Path, PyObject Type, string TypeName, long Length) : InputAssumption(Path);
}

/// <summary>How the function's return value is rebuilt from the graph's outputs.</summary>
public abstract record ResultSpec
{
    public sealed record Output(int Index) : ResultSpec;

    public sealed record Constant(PyObject Value) : ResultSpec;

    /// <summary>A tuple; built as <see cref="NamedType"/>(*items) when set (torch.return_types.max).</summary>
    public sealed record Tuple(IReadOnlyList<ResultSpec> Items) : ResultSpec
    {
        public PyObject? NamedType { get; init; }
    }

    public sealed record List(IReadOnlyList<ResultSpec> Items) : ResultSpec;
}

/// <summary>
/// One AST capture: the whole function as one graph (control flow on tensors kept as cond and
/// while_loop nodes), its inputs in placeholder order, what it assumed about them, and how the
/// return value is rebuilt. Captured under <see cref="GradEnabled"/>.
/// </summary>
public sealed record AstCaptureResult(
    Graph Graph,
    IReadOnlyList<InputPath> Inputs,
    IReadOnlyList<InputAssumption> Assumptions,
    ResultSpec Result,
    bool GradEnabled)
{
    /// <summary>Where each assumption was first made (keyed by its path's text), for reports.</summary>
    public IReadOnlyDictionary<string, Span> AssumedAt { get; init; } = new Dictionary<string, Span>();

    /// <summary>The if/while tests on Python values decided at capture time, in the order met.</summary>
    public IReadOnlyList<CaptureDecision> Decisions { get; init; } = [];

    /// <summary>The source lines the transform went through (called functions' included).</summary>
    public IReadOnlySet<(string File, int Line)> Lines { get; init; } = new HashSet<(string, int)>();
}

/// <summary>A test on Python values the AST path decided at capture: the graph holds only the branch taken.</summary>
public sealed record CaptureDecision(Span At, string Kind, string? LineText, bool Taken);
