using System.Collections.Frozen;

namespace Capture.Codegen.Blas;


/// <summary>
/// A matrix product a backend runs through BLAS instead of torch: for each of <see cref="Batch"/>
/// batches, Output[b] (M x N, allocated contiguous) = A[b] (M x K) @ B[b] (K x N). A 2-D operand of a
/// batched product is shared by every batch; operands of rank 4 or more (attention's
/// [B, heads, T, d] @ [B, heads, d, T]) have the same batch dims, walked by their strides. Float32 or float64; operand layouts (row- or
/// column-major, leading dimension, batch stride) are read at run time, and a layout BLAS cannot
/// address leaves the product to torch.
/// </summary>
public sealed record GemmCall(string Node, string A, string B, DType Type, long Batch, long M, long K, long N, bool Batched)
{
    /// <summary>
    /// A product over dynamic sizes: Batch, M, K, N as sizes (<c>s0*s1</c>), evaluated per call (<see
    /// cref="At"/>); the long fields then hold 0 for each symbolic one. Null: they are constants.
    /// </summary>
    public (Dim Batch, Dim M, Dim K, Dim N)? SymbolicSizes { get; init; }

    /// <summary>The product for one call's sizes.</summary>
    public GemmCall At(IReadOnlyDictionary<string, long> sizes) => SymbolicSizes is not { } d ? this : this with
    {
        Batch = d.Batch.Evaluate(sizes), M = d.M.Evaluate(sizes), K = d.K.Evaluate(sizes), N = d.N.Evaluate(sizes), SymbolicSizes = null, _symbols = null,
    };

    /// <summary>The size symbols the product's sizes read.</summary>
    public IReadOnlyList<string> Symbols => _symbols ??= SymbolicSizes is { } d ? [.. new[] { d.Batch, d.M, d.K, d.N }.SelectMany(x => x.Expr?.Symbols ?? []).Distinct()] : [];
    private string[]? _symbols;

    /// <summary>The batch dims of operands of rank 4 or more ([1, 4] for [1, 4, 16, 8] @ [1, 4, 8, 16]); null for rank 3 (one batch dim, <see cref="Batch"/>) or 2.</summary>
    public IReadOnlyList<long>? BatchShape { get; init; }

    /// <summary>The output's sizes: [Batch, M, N] when an operand is batched ([..BatchShape, M, N] for rank 4 or more), else [M, N].</summary>
    public long[] OutputSizes => BatchShape is { } shape ? [.. shape, M, N] : Batched ? [Batch, M, N] : [M, N];

    /// <summary>The operand rank a batched operand has: 3, or the batch dims' count plus 2.</summary>
    public int BatchedRank => BatchShape is { } shape ? shape.Count + 2 : 3;

    /// <summary>
    /// Where each batch's matrix starts in a batched operand (elements from the first), the batches in
    /// row-major order of the batch dims.
    /// </summary>
    public static long[] BatchOffsets(IReadOnlyList<long> sizes, IReadOnlyList<long> strides, int batchDims)
    {
        var count = 1L;
        for (var d = 0; d < batchDims; d++) count *= sizes[d];
        var offsets = new long[count];
        for (long i = 0; i < count; i++)
        {
            long rest = i, offset = 0;
            for (var d = batchDims - 1; d >= 0; d--)
            {
                offset += rest % sizes[d] * strides[d];
                rest /= sizes[d];
            }
            offsets[i] = offset;
        }
        return offsets;
    }

    /// <summary>
    /// The one stride that walks a batched operand's batches in order (its batch dims' strides, size-1
    /// dims skipped, each the next one's times that one's size), or null when its strides do not.
    /// </summary>
    public static long? BatchStride(IReadOnlyList<long> sizes, IReadOnlyList<long> strides, int batchDims)
    {
        long? stride = null;
        long expected = 0;
        for (var d = batchDims - 1; d >= 0; d--)
        {
            if (sizes[d] == 1) continue;
            if (stride is null) (stride, expected) = (strides[d], strides[d] * sizes[d]);
            else if (strides[d] != expected) return null;
            else expected = strides[d] * sizes[d];
        }
        return stride ?? 0;
    }

    public override string ToString() => SymbolicSizes is { } d
        ? $"{Node}: {(d.Batch.Value == 1 ? "" : $"{d.Batch} x ")}[{d.M} x {d.K}] @ [{d.K} x {d.N}] {Type.ShortName()} through BLAS ({Library(Type)}), sizes at run time"
        : $"{Node}: {(Batch > 1 ? $"{Batch} x " : "")}[{M} x {K}] @ [{K} x {N}] {Type.ShortName()} through BLAS ({Library(Type)})";

    /// <summary>The function that computes a product of this dtype: oneDNN's sgemm for float32 where torch loaded oneDNN, else OpenBLAS's.</summary>
    public static string Library(DType type) =>
        type == DType.Float32 ? OneDnnGemm.IsAvailable ? "oneDNN dnnl_sgemm" : "cblas_sgemm" : "cblas_dgemm";

    private static readonly FrozenSet<OpDef> Products = FrozenSet.ToFrozenSet<OpDef>([Ops.Mm, Ops.Matmul, Ops.Bmm]);

    /// <summary>The BLAS call for an extern node, when it is a plain product (mm, bmm, matmul of 2-D or 3-D operands) BLAS computes; else null.</summary>
    public static GemmCall? Of(Graph graph, string node)
    {
        if (graph[node] is not CallOp { Meta: TensorMeta output } call || !Products.Contains(call.Op) || call.Kwargs.Count != 0 || call.Args.Count != 2) return null;
        if (call.Args[0] is not RefArg { Name: var a } || call.Args[1] is not RefArg { Name: var b }) return null;
        if (graph[a].Meta is not TensorMeta ma || graph[b].Meta is not TensorMeta mb) return null;
        if (output.DType is not (DType.Float32 or DType.Float64) || ma.DType != output.DType || mb.DType != output.DType) return null;
        if (output.Device != Device.Cpu) return null;
        if (!ma.Shape.IsConcrete || !mb.Shape.IsConcrete || !output.Shape.IsConcrete) return Symbolic(call, a, b, ma, mb, output);
        var sa = ma.Shape.Concrete();
        var sb = mb.Shape.Concrete();
        if (sa.Count > 3 || sb.Count > 3) return OfHigherRank(call, node, a, b, ma, mb, output);
        // 2-D @ 2-D, 3-D @ 3-D with equal batches, or one side 3-D and the other 2-D (shared)
        if (sa.Count is < 2 or > 3 || sb.Count is < 2 or > 3) return null;
        long batch = sa.Count == 3 ? sa[0] : sb.Count == 3 ? sb[0] : 1;
        if (sa.Count == 3 && sb.Count == 3 && sa[0] != sb[0]) return null;
        if (sa.Count == 3 && sb.Count == 2 || sa.Count == 2 && sb.Count == 3)
            if (call.Op != Ops.Matmul) return null;
        long m = sa[^2], k = sa[^1], n = sb[^1];
        if (sb[^2] != k || m == 0 || n == 0 || k == 0 || new[] { m, n, k, batch }.Any(d => d > int.MaxValue)) return null;
        // the layouts the graph's metadata gives the operands (checked again at run time)
        if (ma.Strides is not { } ta || mb.Strides is not { } tb || Layout(m, k, ta[^2], ta[^1]) is null || Layout(k, n, tb[^2], tb[^1]) is null) return null;
        var gemm = new GemmCall(node, a, b, output.DType, batch, m, k, n, Batched: sa.Count == 3 || sb.Count == 3);
        return output.Shape.Concrete().SequenceEqual(gemm.OutputSizes) && output.Strides is { } strides && strides.Equals(output.Shape.ContiguousStrides())
            ? gemm
            : null;
    }

    /// <summary>
    /// A product of operands of rank 4 or more with the same batch dims (or one of them 2-D, shared, for
    /// matmul), each batch's matrices laid out as BLAS addresses them (checked again at run time).
    /// </summary>
    private static GemmCall? OfHigherRank(CallOp call, string node, string a, string b, TensorMeta ma, TensorMeta mb, TensorMeta output)
    {
        if (call.Op != Ops.Matmul) return null;
        var (sa, sb) = (ma.Shape.Concrete(), mb.Shape.Concrete());
        var rank = Math.Max(sa.Count, sb.Count);
        if (sa.Count != rank && sa.Count != 2 || sb.Count != rank && sb.Count != 2) return null;
        var batchShape = (sa.Count == rank ? sa : sb).Take(rank - 2).ToArray();
        if (sa.Count == rank && sb.Count == rank && !sa.Take(rank - 2).SequenceEqual(sb.Take(rank - 2))) return null;
        long m = sa[^2], k = sa[^1], n = sb[^1];
        var batch = batchShape.Aggregate(1L, (x, y) => x * y);
        if (sb[^2] != k || m == 0 || n == 0 || k == 0 || batch == 0 || new[] { m, n, k, batch }.Any(d => d > int.MaxValue)) return null;
        if (ma.Strides is not { } ta || mb.Strides is not { } tb || Layout(m, k, ta[^2], ta[^1]) is null || Layout(k, n, tb[^2], tb[^1]) is null) return null;
        var gemm = new GemmCall(node, a, b, output.DType, batch, m, k, n, Batched: true) { BatchShape = batchShape };
        return output.Shape.Concrete().SequenceEqual(gemm.OutputSizes) && output.Strides is { } strides && strides.Equals(output.Shape.ContiguousStrides())
            ? gemm
            : null;
    }

    /// <summary>
    /// A product over dynamic sizes: the same cases as for constant ones, its sizes as expressions; the
    /// operands' layouts are checked at run time only (a layout BLAS cannot address goes to torch).
    /// </summary>
    private static GemmCall? Symbolic(CallOp call, string a, string b, TensorMeta ma, TensorMeta mb, TensorMeta output)
    {
        var (sa, sb) = (ma.Shape.Dims, mb.Shape.Dims);
        if (sa.Count is < 2 or > 3 || sb.Count is < 2 or > 3) return null;
        if (sa.Count == 3 && sb.Count == 3 && sa[0] != sb[0]) return null;
        if ((sa.Count == 3 && sb.Count == 2 || sa.Count == 2 && sb.Count == 3) && call.Op != Ops.Matmul) return null;
        var batch = sa.Count == 3 ? sa[0] : sb.Count == 3 ? sb[0] : Dim.Of(1);
        Dim m = sa[^2], k = sa[^1], n = sb[^1];
        if (sb[^2] != k || new[] { m, k, n }.Any(d => d.Value == 0)) return null;
        var batched = sa.Count == 3 || sb.Count == 3;
        var outputSizes = batched ? new[] { batch, m, n } : [m, n];
        if (!output.Shape.Dims.SequenceEqual(outputSizes) || output.StrideDims is not { } strides || !strides.Equals(output.Shape.ContiguousStrideDims())) return null;
        return new GemmCall(call.Name, a, b, output.DType, batch.Value ?? 0, m.Value ?? 0, k.Value ?? 0, n.Value ?? 0, batched) { SymbolicSizes = (batch, m, k, n) };
    }

    /// <summary>
    /// How BLAS addresses a rows x cols matrix with these strides: row-major (leading dimension the
    /// row stride) or column-major; null when neither (a stride along both, or overlapping rows).
    /// A dim of size 1 takes any stride.
    /// </summary>
    public static (bool Transposed, int Ld)? Layout(long rows, long cols, long rowStride, long colStride)
    {
        if (colStride == 1 || cols == 1)
        {
            var ld = rows == 1 ? Math.Max(cols, 1) : rowStride;
            if (ld >= Math.Max(cols, 1) && ld <= int.MaxValue) return (false, (int)ld);
        }
        if (rowStride == 1 || rows == 1)
        {
            var ld = cols == 1 ? Math.Max(rows, 1) : colStride;
            if (ld >= Math.Max(rows, 1) && ld <= int.MaxValue) return (true, (int)ld);
        }
        return null;
    }
}
