namespace Capture.Graphs;

/// <summary>The tensor element types Capture handles; names follow torch.</summary>
public enum DType
{
    Float32,
    Float64,
    Float16,
    BFloat16,
    Int64,
    Int32,
    Bool,
}

public static class DTypeInfo
{
    public static int ItemSize(this DType dtype) => dtype switch
    {
        DType.Float64 or DType.Int64 => 8,
        DType.Float32 or DType.Int32 => 4,
        DType.Float16 or DType.BFloat16 => 2,
        DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static bool IsFloatingPoint(this DType dtype) =>
        dtype is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16;

    /// <summary>The name torch prints after "torch.": float32, int64, bool...</summary>
    public static string TorchName(this DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Float64 => "float64",
        DType.Float16 => "float16",
        DType.BFloat16 => "bfloat16",
        DType.Int64 => "int64",
        DType.Int32 => "int32",
        DType.Bool => "bool",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static IReadOnlyList<DType> All { get; } = Enum.GetValues<DType>();
}

public static class DTypeNames
{
    /// <summary>The short form used in printed metadata: f32, f64, f16, bf16, i64, i32, b8.</summary>
    public static string ShortName(this DType dtype) => dtype switch
    {
        DType.Float32 => "f32",
        DType.Float64 => "f64",
        DType.Float16 => "f16",
        DType.BFloat16 => "bf16",
        DType.Int64 => "i64",
        DType.Int32 => "i32",
        DType.Bool => "b8",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static DType? FromShortName(string name) =>
        DTypeInfo.All.Cast<DType?>().FirstOrDefault(d => d!.Value.ShortName() == name);

    public static DType? FromTorchName(string name) =>
        DTypeInfo.All.Cast<DType?>().FirstOrDefault(d => d!.Value.TorchName() == name);
}
