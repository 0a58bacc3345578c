using System.Globalization;
using System.Text;

namespace Capture.Codegen.Llvm;

/// <summary>
/// One LLVM IR function body being written: numbered SSA values, labels, and the block instructions
/// currently go into (phis name it as their predecessor).
/// </summary>
internal sealed class IrFunction(StringBuilder text)
{
    private int _next;

    public StringBuilder Text { get; } = text;

    /// <summary>The block instructions go into now.</summary>
    public string Block { get; private set; } = "entry";

    /// <summary>Appends <c>%vN = <paramref name="rhs"/></c> and returns %vN.</summary>
    public string Let(string rhs, string? comment = null)
    {
        var name = $"%v{_next++}";
        Text.Append($"  {name} = {rhs}{(comment is null ? "" : $" ; {comment}")}\n");
        return name;
    }

    /// <summary>A fresh name, for a value defined later (a phi's incoming value).</summary>
    public string Fresh(string stem) => $"%{stem}{_next++}";

    public string NewLabel(string stem) => $"{stem}{_next++}";

    public void Do(string instruction) => Text.Append($"  {instruction}\n");

    public void Comment(string comment) => Text.Append($"  ; {comment}\n");

    public void Label(string label)
    {
        Text.Append($"{label}:\n");
        Block = label;
    }

    // --- types and literals ---------------------------------------------------------------------

    public static string Type(DType t) => t switch
    {
        DType.Float32 => "float",
        DType.Float64 => "double",
        DType.Int64 => "i64",
        DType.Int32 => "i32",
        DType.Bool => "i1",
        _ => throw new NotSupportedException($"LLVM kernels on {t.TorchName()}"),
    };

    /// <summary>The element type in memory (torch stores bool as a byte).</summary>
    public static string Storage(DType t) => t == DType.Bool ? "i8" : Type(t);

    public static int Bytes(DType t) => t switch { DType.Float64 or DType.Int64 => 8, DType.Bool => 1, _ => 4 };

    /// <summary>A literal of type <paramref name="t"/>; floats in hexadecimal (exact, NaN and infinities included).</summary>
    public static string Literal(double v, DType t) => t switch
    {
        DType.Float32 => $"0x{BitConverter.DoubleToInt64Bits((float)v):X16}",
        DType.Float64 => $"0x{BitConverter.DoubleToInt64Bits(v):X16}",
        DType.Int64 => ((long)v).ToString(CultureInfo.InvariantCulture),
        DType.Int32 => ((int)v).ToString(CultureInfo.InvariantCulture),
        DType.Bool => v != 0 ? "true" : "false",
        _ => throw new NotSupportedException($"LLVM constants of {t.TorchName()}"),
    };

    /// <summary>An integer or bool constant, exactly (a double would round integers past 2^53).</summary>
    public static string Literal(long v, DType t) => t switch
    {
        DType.Int64 => v.ToString(CultureInfo.InvariantCulture),
        DType.Int32 => ((int)v).ToString(CultureInfo.InvariantCulture),
        DType.Bool => v != 0 ? "true" : "false",
        _ => Literal((double)v, t),
    };

    /// <summary>Loads element <paramref name="index"/> of <paramref name="pointer"/> as a register value (bool as i1).</summary>
    public string Load(DType t, string pointer, string index, string? comment = null)
    {
        var address = index == "0" ? pointer : Let($"getelementptr inbounds {Storage(t)}, ptr {pointer}, i64 {index}");
        var value = Let($"load {Storage(t)}, ptr {address}", comment);
        return t == DType.Bool ? Let($"icmp ne i8 {value}, 0") : value;
    }

    /// <summary>Stores a register value as element <paramref name="index"/> of <paramref name="pointer"/>.</summary>
    public void Store(DType t, string value, string pointer, string index)
    {
        var address = index == "0" ? pointer : Let($"getelementptr inbounds {Storage(t)}, ptr {pointer}, i64 {index}");
        if (t == DType.Bool) value = Let($"zext i1 {value} to i8");
        Do($"store {Storage(t)} {value}, ptr {address}");
    }

    /// <summary>index * stride, folded when the stride is a known 0 or 1.</summary>
    public string Scale(string index, string stride) => stride switch
    {
        "0" => "0",
        "1" => index,
        _ => Let($"mul i64 {index}, {stride}"),
    };
}

/// <summary>What a module collects besides its functions: declarations of what it calls, and loop metadata.</summary>
internal sealed class IrModule
{
    private readonly List<string> _metadata = [];
    private readonly Dictionary<string, string> _hints = [];

    public SortedSet<string> Declarations { get; } = new(StringComparer.Ordinal);

    public void Add(string declaration) => Declarations.Add(declaration);

    public IEnumerable<string> Metadata => _metadata;

    /// <summary>
    /// The suffix of a loop's back edge: never unrolled (a row of constant length would be unrolled
    /// whole, and the loop over rows eight times over, which multiplies the time LLVM spends for no
    /// gain: the inner loop is vectorized, and a row is worth far more than the loop's overhead). Its
    /// vectors are interleaved four at a time (four accumulators per reduction, so that the adds of
    /// one do not wait on one another, as the C# kernels unroll; unroll.disable alone would leave one),
    /// or one at a time when <paramref name="interleave"/> is false (a long body, exp or tanh, whose
    /// copies in flight would spill its constants out of the 16 vector registers); kept
    /// scalar when <paramref name="vectorize"/> is false (the copy for strides known only at run time,
    /// which would need gathers).
    /// </summary>
    public string Loop(bool vectorize = true, bool interleave = true)
    {
        var hints = new List<string> { Hint("llvm.loop.unroll.disable", null) };
        hints.Add(interleave && vectorize ? Hint("llvm.loop.interleave.count", 4) : Hint("llvm.loop.interleave.count", 1));
        if (!vectorize) hints.Add(Hint("llvm.loop.vectorize.width", 1));
        var id = _metadata.Count;
        _metadata.Add($"!{id} = distinct !{{!{id}, {string.Join(", ", hints)}}}");
        return $", !llvm.loop !{id}";
    }

    private string Hint(string name, int? value)
    {
        var text = $"!{{!\"{name}\"{(value is { } v ? $", i32 {v}" : "")}}}";
        if (_hints.TryGetValue(text, out var known)) return known;
        var id = $"!{_metadata.Count}";
        _metadata.Add($"{id} = {text}");
        return _hints[text] = id;
    }
}
