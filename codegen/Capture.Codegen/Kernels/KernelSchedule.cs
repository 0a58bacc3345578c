using System.Globalization;
using System.Runtime.Intrinsics;

namespace Capture.Codegen;

/// <summary>
/// How kernels are laid out on the machine: the SIMD width of the innermost loop (0: none), how
/// many elements a domain needs before it is split over threads, the block of the innermost dim one
/// work item covers (so that a long 1-d domain splits too), and how many bytes a kernel writes before
/// its vector stores stream past the caches (non-temporal stores: an output far bigger than the
/// caches is not read back from them, and a cached store first reads the line it writes).
/// </summary>
public sealed record KernelSchedule(int VectorBits, long ParallelElements, long BlockElements, long StreamingBytes = KernelSchedule.DefaultStreamingBytes)
{
    /// <summary>8 MiB: a quarter of this machine's last-level cache, what a kernel's reads leave of it.</summary>
    public const long DefaultStreamingBytes = 8L << 20;

    /// <summary>
    /// The widest vectors the hardware accelerates (CAPTURE_VECTOR_BITS=0/128/256/512 overrides, for
    /// tests); CAPTURE_PARALLEL_ELEMENTS overrides where kernels start to run on several threads.
    /// </summary>
    public static KernelSchedule Host { get; } = new(
        Environment.GetEnvironmentVariable("CAPTURE_VECTOR_BITS") is { Length: > 0 } bits ? int.Parse(bits, CultureInfo.InvariantCulture)
            : Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0,
        ParallelElements: Environment.GetEnvironmentVariable("CAPTURE_PARALLEL_ELEMENTS") is { Length: > 0 } from ? long.Parse(from, CultureInfo.InvariantCulture) : 1 << 16,
        BlockElements: 1 << 13,
        StreamingBytes: Environment.GetEnvironmentVariable("CAPTURE_STREAMING_BYTES") is { Length: > 0 } streaming ? long.Parse(streaming, CultureInfo.InvariantCulture) : DefaultStreamingBytes);

    /// <summary>Whether kernel <paramref name="k"/>'s element outputs (the ones written per element) add up to <see cref="StreamingBytes"/> or more.</summary>
    public bool Streams(Kernel k) =>
        VectorBits > 0 && k.SymbolicDomain is null && k.Operands.Any(o => o.IsOutput && !o.Row)
        && k.Operands.Where(o => o.IsOutput && !o.Row).Sum(o => k.Elements * o.Type.ItemSize()) >= StreamingBytes;

    /// <summary>
    /// How a pointwise kernel's domain splits into work items: rows (the outer dims) times blocks of
    /// at most <see cref="BlockElements"/> of the innermost dim.
    /// </summary>
    public (long Rows, long Inner, long Block, long Blocks, long Items) WorkItems(Kernel k)
    {
        var rank = k.Domain.Count;
        var inner = rank == 0 ? 1 : k.Domain[^1];
        var rows = rank <= 1 ? 1 : k.Domain.Take(rank - 1).Aggregate(1L, (a, b) => a * b);
        var block = Math.Max(1, Math.Min(inner, BlockElements));
        var blocks = (inner + block - 1) / block;
        return (rows, inner, block, blocks, rows * blocks);
    }

    /// <summary>
    /// The values a kernel over dynamic sizes reads after its domain (at <see cref="Kernel.SizesAt"/> +
    /// rank): blocks per row, the block, the innermost size, the work items, the elements; as
    /// <see cref="WorkItems"/> splits a domain of these sizes. A reduction kernel's: 1, its row length
    /// twice, its rows, its elements.
    /// </summary>
    public const int RuntimeWorkItemCount = 5;

    public void RuntimeWorkItems(Kernel k, IReadOnlyList<long> domain, Span<long> into)
    {
        if (k.Reduced is not null)
        {
            // a reduction kernel's items are its rows; a row is one block
            var outer = 1L;
            for (var d = 0; d < k.OuterRank; d++) outer *= domain[d];
            var length = 1L;
            for (var d = k.OuterRank; d < domain.Count; d++) length *= domain[d];
            (into[0], into[1], into[2], into[3], into[4]) = (1, length, length, outer, outer * length);
            return;
        }
        RuntimeWorkItems(domain, into);
    }

    public void RuntimeWorkItems(IReadOnlyList<long> domain, Span<long> into)
    {
        var rank = domain.Count;
        var inner = rank == 0 ? 1 : domain[^1];
        var rows = 1L;
        for (var d = 0; d < rank - 1; d++) rows *= domain[d];
        var block = Math.Max(1, Math.Min(inner, BlockElements));
        var blocks = (inner + block - 1) / block;
        into[0] = blocks;
        into[1] = block;
        into[2] = inner;
        into[3] = rows * blocks;
        into[4] = rows * inner;
    }

    public override string ToString() =>
        $"{(VectorBits == 0 ? "scalar" : $"Vector{VectorBits}")}, parallel from {ParallelElements} elements, blocks of {BlockElements}, streaming stores from {StreamingBytes} bytes written";
}
