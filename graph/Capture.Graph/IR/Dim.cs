namespace Capture.Graphs;

/// <summary>
/// One size of a tensor: a constant, or a named symbol (a size that varies between calls, as in
/// dynamic shapes). Rules that need arithmetic on a symbolic size say so with NotSupportedException.
/// </summary>
public readonly record struct Dim
{
    private Dim(long? value, string? symbol)
    {
        Value = value;
        Symbol = symbol;
    }

    public long? Value { get; }
    public string? Symbol { get; }

    public static Dim Of(long value) =>
        value >= 0 ? new(value, null) : throw new ArgumentOutOfRangeException(nameof(value), value, "a size cannot be negative");

    public static Dim Sym(string symbol) => new(null, symbol);

    public static implicit operator Dim(long value) => Of(value);

    public bool IsConcrete => Value.HasValue;

    /// <summary>The constant value; a symbolic size here is a clear NotSupportedException.</summary>
    public long Concrete(string what = "this operation") =>
        Value ?? throw new NotSupportedException($"{what} needs a concrete size, but the size is symbolic ({Symbol})");

    public override string ToString() => Value?.ToString() ?? Symbol!;
}
