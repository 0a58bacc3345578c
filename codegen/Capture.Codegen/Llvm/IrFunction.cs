using System.Globalization;
using System.Text;
using Capture.Graph;

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
