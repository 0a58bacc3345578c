using System.Globalization;

namespace Capture.Graphs;

/// <summary>An argument of a node: a reference to another node's value, or a constant.</summary>
public abstract record Arg
{
    public static Arg From(long value) => new IntArg(value);
    public static Arg From(double value) => new FloatArg(value);
    public static Arg From(bool value) => new BoolArg(value);
    public static Arg Ints(params IEnumerable<long> values) => new ListArg(values.Select(v => (Arg)new IntArg(v)).ToEquatableList());

    /// <summary>A size as an argument: an int when constant, else a <see cref="SizeArg"/>.</summary>
    public static Arg Size(Dim d) => d.Value is { } v ? new IntArg(v) : new SizeArg(d.Expr!);

    /// <summary>Sizes as a list argument (ints where constant).</summary>
    public static Arg Sizes(IEnumerable<Dim> dims) => new ListArg(dims.Select(Size).ToEquatableList());

    public static implicit operator Arg(long value) => new IntArg(value);
    public static implicit operator Arg(double value) => new FloatArg(value);
    public static implicit operator Arg(bool value) => new BoolArg(value);

    /// <summary>Names of the nodes this argument refers to, in order.</summary>
    public IEnumerable<string> References() => this switch
    {
        RefArg r => [r.Name],
        ListArg l => l.Items.SelectMany(i => i.References()),
        SliceArg s => s.Start.References().Concat(s.Stop.References()).Concat(s.Step.References()),
        _ => [],
    };

    /// <summary>Whether the argument holds a symbolic size (its value then depends on the call's sizes).</summary>
    public bool ReadsSizes() => this switch
    {
        SizeArg => true,
        ListArg l => l.Items.Any(i => i.ReadsSizes()),
        SliceArg s => s.Start.ReadsSizes() || s.Stop.ReadsSizes() || s.Step.ReadsSizes(),
        _ => false,
    };

    /// <summary>The same argument with references renamed.</summary>
    public Arg Rename(Func<string, string> rename) => this switch
    {
        RefArg r => new RefArg(rename(r.Name)),
        ListArg l => l with { Items = l.Items.Select(i => i.Rename(rename)).ToEquatableList() },
        SliceArg s => new SliceArg(s.Start.Rename(rename), s.Stop.Rename(rename), s.Step.Rename(rename)),
        _ => this,
    };
}

public sealed record RefArg(string Name) : Arg
{
    public override string ToString() => Name;
}

public sealed record IntArg(long Value) : Arg
{
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A symbolic int: a size expression over the graph's size symbols (<c>s0*4</c>), which the backend
/// evaluates from the sizes of the call's inputs. Printed as <c>capture.size('s0*4')</c>.
/// </summary>
public sealed record SizeArg(SizeExpr Value) : Arg
{
    public override string ToString() => $"capture.size('{Value}')";
}

public sealed record FloatArg(double Value) : Arg
{
    public override string ToString() => FormatDouble(Value);

    /// <summary>Python's spelling: shortest round-trip digits, always with a point or exponent.</summary>
    public static string FormatDouble(double v)
    {
        if (double.IsNaN(v)) return "float('nan')";
        if (double.IsInfinity(v)) return v > 0 ? "float('inf')" : "float('-inf')";
        var s = v.ToString("R", CultureInfo.InvariantCulture);
        return s.Contains('.') || s.Contains('E') ? s.Replace("E", "e") : s + ".0";
    }
}

public sealed record BoolArg(bool Value) : Arg
{
    public override string ToString() => Value ? "True" : "False";
}

public sealed record StrArg(string Value) : Arg
{
    public override string ToString() => "'" + Value.Replace("\\", "\\\\").Replace("'", "\\'") + "'";
}

public sealed record NoneArg : Arg
{
    public static NoneArg Instance { get; } = new();

    public override string ToString() => "None";
}

public sealed record EllipsisArg : Arg
{
    public static EllipsisArg Instance { get; } = new();

    public override string ToString() => "...";
}

public sealed record DTypeArg(DType Value) : Arg
{
    public override string ToString() => "torch." + Value.TorchName();
}

/// <summary>A Python list or tuple of arguments (sizes, dims, indices, tensors for cat).</summary>
public sealed record ListArg(EquatableList<Arg> Items, bool IsTuple = false) : Arg
{
    public override string ToString() =>
        IsTuple ? "(" + string.Join(", ", Items) + (Items.Count == 1 ? ",)" : ")") : "[" + string.Join(", ", Items) + "]";
}

public sealed record SliceArg(Arg Start, Arg Stop, Arg Step) : Arg
{
    public override string ToString() => $"slice({Start}, {Stop}, {Step})";
}
