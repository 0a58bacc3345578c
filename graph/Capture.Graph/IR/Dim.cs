namespace Capture.Graphs;

/// <summary>
/// One size of a tensor: a constant, or a symbolic size (<see cref="SizeExpr"/>: <c>s0</c>,
/// <c>s0*s1</c>, <c>(s1//2)</c>) that varies between calls, as in dynamic shapes. Arithmetic keeps a
/// constant constant; comparisons that need a symbol's value go through <see cref="Sizes"/> (and
/// the capture's <see cref="ShapeEnv"/>, which guards what it decided).
/// </summary>
public readonly record struct Dim
{
    private Dim(long? value, SizeExpr? expr)
    {
        Value = value;
        Expr = expr;
    }

    /// <summary>The constant size; null when symbolic.</summary>
    public long? Value { get; }

    /// <summary>The symbolic size; null when constant.</summary>
    public SizeExpr? Expr { get; }

    /// <summary>The symbolic size's text (<c>s0</c>, <c>2*s1</c>); null when constant.</summary>
    public string? Symbol => Expr?.ToString();

    public static Dim Of(long value) =>
        value >= 0 ? new(value, null) : throw new ArgumentOutOfRangeException(nameof(value), value, "a size cannot be negative");

    /// <summary>A size of the expression: a constant one when it has no symbol.</summary>
    public static Dim Of(SizeExpr expr) => expr.ConstantValue is { } c ? Of(c) : new(null, expr);

    /// <summary>A symbolic size, from its text (a symbol name, or an expression of symbols).</summary>
    public static Dim Sym(string symbol) => Of(SizeExpr.Parse(symbol));

    public static implicit operator Dim(long value) => Of(value);

    public bool IsConcrete => Value.HasValue;

    /// <summary>The symbol's name when the size is exactly one symbol (a dynamic input size), else null.</summary>
    public string? SymbolName() => Expr?.SymbolName;

    /// <summary>The size as an expression (a constant one when concrete).</summary>
    public SizeExpr AsExpr => Expr ?? SizeExpr.Constant(Value!.Value);

    /// <summary>The constant value; a symbolic size here is a clear NotSupportedException.</summary>
    public long Concrete(string what = "this operation") =>
        Value ?? throw new NotSupportedException($"{what} needs a concrete size, but the size is symbolic ({Symbol})");

    public static Dim operator +(Dim a, Dim b) => a.Value is { } x && b.Value is { } y ? Of(x + y) : Of(a.AsExpr + b.AsExpr);
    public static Dim operator -(Dim a, Dim b) => a.Value is { } x && b.Value is { } y ? Of(x - y) : Of(a.AsExpr - b.AsExpr);
    public static Dim operator *(Dim a, Dim b) => a.Value is { } x && b.Value is { } y ? Of(x * y) : Of(a.AsExpr * b.AsExpr);

    /// <summary>Python's a // b (by a symbol only where it divides exactly).</summary>
    public static Dim FloorDiv(Dim a, Dim b) => a.Value is { } x && b.Value is { } y ? Of(SizeExpr.FloorDivide(x, y)) : Of(SizeExpr.FloorDiv(a.AsExpr, b.AsExpr));

    /// <summary>a / b when b divides a exactly (known without values), else null.</summary>
    public static Dim? ExactDivide(Dim a, Dim b) => SizeExpr.ExactDivide(a.AsExpr, b.AsExpr) is { } q && (q.ConstantValue ?? 0) >= 0 ? Of(q) : null;

    /// <summary>The product of sizes.</summary>
    public static Dim Product(IEnumerable<Dim> dims) => dims.Aggregate(Of(1), (p, d) => p * d);

    /// <summary>The size with the symbols' values (every symbol it reads must have one).</summary>
    public long Evaluate(IReadOnlyDictionary<string, long> values) => Value ?? Expr!.Evaluate(values);

    public override string ToString() => Value?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? Symbol!;
}
