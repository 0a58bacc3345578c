namespace Capture.Graph;

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
