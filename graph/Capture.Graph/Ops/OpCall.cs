namespace Capture.Graphs;

/// <summary>
/// An op applied to arguments, bound to its schema (defaults filled), with the metadata of every
/// referenced value at hand. Shape rules read their parameters through the typed accessors, which
/// raise ShapeError naming the op and parameter on a wrong kind of argument.
/// </summary>
public sealed class OpCall
{
    private readonly Dictionary<string, Arg> _bound;
    private readonly Func<string, ValueMeta> _metaOf;

    private readonly HashSet<string> _supplied;

    private OpCall(OpDef op, Dictionary<string, Arg> bound, HashSet<string> supplied, Func<string, ValueMeta> metaOf)
    {
        Op = op;
        _bound = bound;
        _supplied = supplied;
        _metaOf = metaOf;
    }

    /// <summary>Whether the caller passed this parameter (rather than it taking its default).</summary>
    public bool Supplied(string name) => _supplied.Contains(name);

    /// <summary>Another op on this call's values (a rule that builds on another op's rule).</summary>
    public OpCall Bind(OpDef op, IReadOnlyList<Arg> args) => Bind(op, args, [], _metaOf);

    /// <summary>The functional op this call computes: add for add_, else the op itself.</summary>
    public OpDef BaseOp => Op.FunctionalName is { } functional ? OpRegistry.Get(functional) : Op;

    public OpDef Op { get; }
    public IReadOnlyDictionary<string, Arg> Bound => _bound;

    public static OpCall Bind(OpDef op, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Func<string, ValueMeta> metaOf)
    {
        var bound = new Dictionary<string, Arg>();
        var positional = op.Schema.Params.Where(p => !p.KeywordOnly).ToList();
        var next = 0;
        foreach (var p in positional)
        {
            if (next >= args.Count) break;
            if (p.Variadic)
            {
                var rest = args.Skip(next).ToList();
                bound[p.Name] = rest.Count == 1 && rest[0] is ListArg ? rest[0] : new ListArg(rest.ToEquatableList());
                next = args.Count;
                break;
            }
            bound[p.Name] = args[next++];
        }
        if (next < args.Count)
            throw new ShapeError(op.Name, $"takes {positional.Count} positional arguments but {args.Count} were given");
        foreach (var kw in kwargs)
        {
            if (op.Schema.Params.All(p => p.Name != kw.Name))
                throw new ShapeError(op.Name, $"got an unexpected keyword argument '{kw.Name}'");
            if (!bound.TryAdd(kw.Name, kw.Value))
                throw new ShapeError(op.Name, $"got multiple values for argument '{kw.Name}'");
        }
        var supplied = bound.Keys.ToHashSet();
        foreach (var p in op.Schema.Params)
            if (bound.TryGetValue(p.Name, out var given)) CheckType(op, p, given, metaOf);
        foreach (var p in op.Schema.Params)
        {
            if (bound.ContainsKey(p.Name)) continue;
            if (p.Variadic) bound[p.Name] = new ListArg(EquatableList<Arg>.Empty);
            else if (p.Default is not null) bound[p.Name] = p.Default;
            else throw new ShapeError(op.Name, $"missing required argument '{p.Name}'");
        }
        return new OpCall(op, bound, supplied, metaOf);
    }

    // The schema's argument kinds, as torch's argument parser enforces them: a Tensor parameter
    // takes a tensor (not a Python number), a Number parameter takes a number.
    private static void CheckType(OpDef op, Param p, Arg arg, Func<string, ValueMeta> metaOf)
    {
        if (p.Optional && arg is NoneArg) return;
        var meta = arg is RefArg r ? metaOf(r.Name) : null;
        var ok = p.Type switch
        {
            "Tensor" => meta is TensorMeta,
            "Number" => arg is IntArg or FloatArg or BoolArg or SizeArg || meta is ScalarMeta,
            "Number|Tensor" => arg is IntArg or FloatArg or BoolArg or SizeArg || meta is ScalarMeta or TensorMeta,
            _ => true,
        };
        if (ok) return;
        var position = op.Schema.Params.ToList().IndexOf(p) + 1;
        var kind = meta switch { TensorMeta => "Tensor", ScalarMeta s => s.ToString(), TupleMeta => "tuple", _ => arg switch
        {
            IntArg => "int", FloatArg => "float", BoolArg => "bool", StrArg => "str", NoneArg => "NoneType", ListArg l => l.IsTuple ? "tuple" : "list", _ => arg.GetType().Name,
        } };
        throw new ShapeError(op.Name, $"argument '{p.Name}' (position {position}) must be {p.Type.Replace("Number|Tensor", "Tensor or Number")}, not {kind}");
    }

    /// <summary>Runs the op's shape rule. Opaque ops have none: their metadata comes from torch.</summary>
    public ValueMeta Infer() => Op.Rule is { } rule
        ? rule(this)
        : throw new NotSupportedException($"{Op.Name} has no shape rule: its metadata must come from running it on torch's meta device");

    public Arg Raw(string name) => _bound[name];

    public bool IsNone(string name) => _bound[name] is NoneArg;

    public ValueMeta? MetaOf(Arg arg) => arg is RefArg r ? _metaOf(r.Name) : null;

    public bool IsTensor(string name) => MetaOf(_bound[name]) is TensorMeta;

    public TensorMeta Tensor(string name) =>
        MetaOf(_bound[name]) as TensorMeta ?? throw Error($"argument '{name}' must be a Tensor, not {Describe(_bound[name])}");

    public TensorMeta? OptTensor(string name) => IsNone(name) ? null : Tensor(name);

    public IReadOnlyList<TensorMeta> Tensors(string name) => _bound[name] switch
    {
        ListArg l => l.Items.Select(i => MetaOf(i) as TensorMeta ?? throw Error($"argument '{name}' must be a sequence of Tensors")).ToArray(),
        var a => MetaOf(a) is TupleMeta t && t.Items.All(i => i is TensorMeta)
            ? t.Items.Cast<TensorMeta>().ToArray()
            : throw Error($"argument '{name}' must be a sequence of Tensors, not {Describe(a)}"),
    };

    public long Int(string name) => IntOf(_bound[name], name);

    public long? OptInt(string name) => IsNone(name) ? null : Int(name);

    /// <summary>An int list; a single int counts as a list of one, as torch allows for dims.</summary>
    public IReadOnlyList<long> Ints(string name) => _bound[name] switch
    {
        ListArg l => l.Items.Select(i => IntOf(i, name)).ToArray(),
        var a => [IntOf(a, name)],
    };

    public IReadOnlyList<long>? OptInts(string name) => IsNone(name) ? null : Ints(name);

    /// <summary>An int that may be a symbolic size.</summary>
    public Dim Size(string name) => SizeOf(_bound[name], name);

    /// <summary>An int list whose items may be symbolic sizes; a single int counts as a list of one. Negative ints (view's -1) are returned as they are.</summary>
    public IReadOnlyList<SizeOrInt> SizesOrInts(string name) => _bound[name] switch
    {
        ListArg l => l.Items.Select(i => i is SizeArg s ? new SizeOrInt(Dim.Of(s.Value), null) : new SizeOrInt(null, IntOf(i, name))).ToArray(),
        SizeArg s => [new SizeOrInt(Dim.Of(s.Value), null)],
        var a => [new SizeOrInt(null, IntOf(a, name))],
    };

    private Dim SizeOf(Arg arg, string name) => arg switch
    {
        SizeArg s => Dim.Of(s.Value),
        _ => IntOf(arg, name) is var v && v >= 0 ? Dim.Of(v) : throw Error($"argument '{name}' must be a size (non-negative), not {IntOf(arg, name)}"),
    };

    public double Float(string name) => _bound[name] switch
    {
        FloatArg f => f.Value,
        IntArg i => i.Value,
        BoolArg b => b.Value ? 1 : 0,
        var a => throw Error($"argument '{name}' must be a number, not {Describe(a)}"),
    };

    public bool Bool(string name) => _bound[name] switch
    {
        BoolArg b => b.Value,
        var a => throw Error($"argument '{name}' must be a bool, not {Describe(a)}"),
    };

    public string? Str(string name) => _bound[name] switch
    {
        StrArg s => s.Value,
        NoneArg => null,
        var a => throw Error($"argument '{name}' must be a str, not {Describe(a)}"),
    };

    public DType? DType(string name) => _bound[name] switch
    {
        DTypeArg d => d.Value,
        NoneArg => null,
        var a => throw Error($"argument '{name}' must be a torch.dtype, not {Describe(a)}"),
    };

    /// <summary>A tensor or Python-number argument, as type promotion sees it.</summary>
    public Operand Operand(string name) => OperandOf(_bound[name], name);

    public Operand OperandOf(Arg arg, string name) => arg switch
    {
        BoolArg => new Operand.Number(ScalarKind.Bool),
        IntArg or SizeArg => new Operand.Number(ScalarKind.Int),
        FloatArg => new Operand.Number(ScalarKind.Float),
        _ => MetaOf(arg) switch
        {
            TensorMeta t => new Operand.Tensor(t),
            ScalarMeta s => new Operand.Number(s.Kind),
            _ => throw Error($"argument '{name}' must be a Tensor or a number, not {Describe(arg)}"),
        },
    };

    private long IntOf(Arg arg, string name) => arg switch
    {
        IntArg i => i.Value,
        BoolArg b => b.Value ? 1 : 0,
        SizeArg s => throw new NotSupportedException($"{Op.Name}: argument '{name}' is a symbolic size ({s.Value}); this rule needs its value"),
        RefArg r when _metaOf(r.Name) is ScalarMeta { Kind: ScalarKind.Int } =>
            throw new NotSupportedException($"{Op.Name}: argument '{name}' is a symbolic int ({r.Name}); this rule needs its value"),
        _ => throw Error($"argument '{name}' must be an int, not {Describe(arg)}"),
    };

    private string Describe(Arg arg) => arg switch
    {
        RefArg r => _metaOf(r.Name) switch
        {
            TensorMeta => "Tensor",
            ScalarMeta s => s.ToString(),
            TupleMeta => "tuple",
            _ => "None",
        },
        IntArg or SizeArg => "int",
        FloatArg => "float",
        BoolArg => "bool",
        StrArg => "str",
        NoneArg => "None",
        ListArg l => l.IsTuple ? "tuple" : "list",
        DTypeArg => "torch.dtype",
        _ => arg.GetType().Name,
    };

    public ShapeError Error(string message) => new(Op.Name, message);
}

/// <summary>An item of an int list that may hold symbolic sizes: the size, or the plain int (which may be negative, as view's -1).</summary>
public readonly record struct SizeOrInt(Dim? Size, long? Int)
{
    public Dim AsDim => Size ?? Dim.Of(Int!.Value);

    /// <summary>As text: the size, or the int (negative ones too).</summary>
    public string AsDimOrNegative() => Size?.ToString() ?? Int!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

public static class OpCallResults
{
    /// <summary>Whether any tensor argument requires grad (so a floating result does too).</summary>
    public static bool InputsRequireGrad(this OpCall call) =>
        call.Bound.Values.SelectMany(a => a.References()).Any(r => call.MetaOf(new RefArg(r)) is TensorMeta { RequiresGrad: true }
            || call.MetaOf(new RefArg(r)) is TupleMeta t && t.Items.Any(i => i is TensorMeta { RequiresGrad: true }));

    /// <summary>A new contiguous tensor computed by the op.</summary>
    public static TensorMeta Result(this OpCall call, Shape shape, DType dtype) =>
        TensorMeta.Contiguous(shape, dtype, call.InputsRequireGrad() && dtype.IsFloatingPoint());

    /// <summary>A TensorIterator result: its strides follow the tensor arguments' layout (see <see cref="Layout"/>).</summary>
    public static TensorMeta PointwiseResult(this OpCall call, Shape shape, DType dtype) =>
        call.Result(shape, dtype) with { StrideDims = Layout.Pointwise(shape, call.TensorArguments()) };

    /// <summary>The tensor arguments in schema order (what TensorIterator sees as inputs).</summary>
    public static IReadOnlyList<TensorMeta> TensorArguments(this OpCall call) =>
        call.Op.Schema.Params.Select(p => call.MetaOf(call.Raw(p.Name))).OfType<TensorMeta>().ToList();

    /// <summary>A view of <paramref name="source"/>: same storage, the given strides (null when unknown).</summary>
    public static TensorMeta View(this OpCall call, TensorMeta source, Shape shape, IReadOnlyList<Dim>? strides) =>
        new TensorMeta(shape, source.DType, source.Device, null, source.RequiresGrad) { StrideDims = strides?.ToEquatableList() };

    public static TensorMeta View(this OpCall call, TensorMeta source, Shape shape, IReadOnlyList<long>? strides) =>
        call.View(source, shape, strides?.Select(Graphs.Dim.Of).ToList());

    /// <summary>Normalizes a dim of <paramref name="t"/> (negative counts from the end).</summary>
    public static int Dim(this OpCall call, TensorMeta t, long dim) => t.Shape.WrapDim(dim, call.Op.Name);

    public static void RequireFloat(this OpCall call, TensorMeta t, string what)
    {
        if (!t.DType.IsFloatingPoint())
            throw call.Error($"{what} is not implemented for {t.DType.TorchName()} tensors (floating point only)");
    }
}
