using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Capture.Graphs;

/// <summary>
/// The contents of a constant tensor (a value constant folding computed): its dtype and its
/// elements, contiguous, in the machine's byte order. Shape and strides live in the node's
/// metadata. Two values are equal when their bytes are, so graphs with constants still compare.
/// </summary>
public sealed class TensorData : IEquatable<TensorData>
{
    private readonly byte[] _bytes;
    private readonly int _hash;

    public TensorData(DType dtype, byte[] bytes)
    {
        if (bytes.Length % dtype.ItemSize() != 0)
            throw new ArgumentException($"{bytes.Length} bytes is not a whole number of {dtype.TorchName()} elements");
        DType = dtype;
        _bytes = bytes;
        var hash = new HashCode();
        hash.AddBytes(bytes);
        _hash = HashCode.Combine(dtype, hash.ToHashCode());
    }

    public DType DType { get; }

    public ReadOnlySpan<byte> Bytes => _bytes;

    public long Count => _bytes.Length / DType.ItemSize();

    /// <summary>Short fingerprint of the contents (printed for constants too big to list).</summary>
    public string Digest => Convert.ToHexStringLower(SHA256.HashData(_bytes))[..12];

    /// <summary>Element <paramref name="i"/> as Python prints it in a list (1.5, 3, True).</summary>
    public string Format(long i)
    {
        var at = (int)i * DType.ItemSize();
        return DType switch
        {
            DType.Float32 => FloatArg.FormatDouble(double.Parse(BitConverter.ToSingle(_bytes, at).ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)),
            DType.Float64 => FloatArg.FormatDouble(BitConverter.ToDouble(_bytes, at)),
            DType.Float16 => FloatArg.FormatDouble((double)BitConverter.ToHalf(_bytes, at)),
            DType.BFloat16 => FloatArg.FormatDouble(BitConverter.ToSingle([0, 0, _bytes[at], _bytes[at + 1]], 0)),
            DType.Int64 => BitConverter.ToInt64(_bytes, at).ToString(CultureInfo.InvariantCulture),
            DType.Int32 => BitConverter.ToInt32(_bytes, at).ToString(CultureInfo.InvariantCulture),
            DType.Bool => _bytes[at] != 0 ? "True" : "False",
            _ => throw new ArgumentOutOfRangeException(nameof(DType)),
        };
    }

    /// <summary>Elements from Python literals (ints, floats, True/False) converted as torch.tensor(values, dtype=...) would.</summary>
    public static TensorData FromValues(DType dtype, IReadOnlyList<Arg> values)
    {
        var bytes = new byte[values.Count * dtype.ItemSize()];
        var span = bytes.AsSpan();
        for (var i = 0; i < values.Count; i++)
        {
            var v = values[i] switch
            {
                IntArg n => n.Value,
                FloatArg f => f.Value,
                BoolArg b => b.Value ? 1.0 : 0.0,
                var other => throw new FormatException($"a constant's element must be a number, not {other}"),
            };
            var at = span[(i * dtype.ItemSize())..];
            switch (dtype)
            {
                case DType.Float32: MemoryMarshal.Write(at, (float)v); break;
                case DType.Float64: MemoryMarshal.Write(at, v); break;
                case DType.Float16: MemoryMarshal.Write(at, (Half)v); break;
                case DType.BFloat16: MemoryMarshal.Write(at, (ushort)(BitConverter.SingleToUInt32Bits((float)v) >> 16)); break;
                case DType.Int64: MemoryMarshal.Write(at, values[i] is IntArg l ? l.Value : (long)v); break;
                case DType.Int32: MemoryMarshal.Write(at, (int)v); break;
                case DType.Bool: at[0] = v != 0 ? (byte)1 : (byte)0; break;
            }
        }
        return new TensorData(dtype, bytes);
    }

    public bool Equals(TensorData? other) => other is not null && DType == other.DType && _bytes.AsSpan().SequenceEqual(other._bytes);
    public override bool Equals(object? obj) => obj is TensorData d && Equals(d);
    public override int GetHashCode() => _hash;
}
