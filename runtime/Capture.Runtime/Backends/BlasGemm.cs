using Capture.Codegen;
using Capture.Codegen.Blas;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;

/// <summary>
/// Runs a <see cref="GemmCall"/> on torch tensors: reads both operands' layouts, allocates the
/// output, and calls BLAS (oneDNN's sgemm for float32 where torch loaded oneDNN, else OpenBLAS) with the GIL released, one gemm per batch (or one gemm for all of them when
/// a batched left operand is row-major with its batches back to back and the right one is shared).
/// </summary>
internal static class BlasGemm
{
    /// <summary>Computes the product into <paramref name="env"/>; false (nothing written) when an operand's layout is not one BLAS addresses.</summary>
    public static bool TryRun(TorchRuntime torch, GemmCall gemm, Dictionary<string, PyObject> env, Dictionary<string, KnownTensor> known, IReadOnlyDictionary<string, long>? bound = null,
        IReadOnlyDictionary<string, KeptBuffer>? kept = null)
    {
        // over dynamic sizes: this call's product
        if (gemm.SymbolicSizes is not null) gemm = gemm.At(SizeSymbols.Values(bound, env, gemm.Symbols, gemm.Node));
        var a = env[gemm.A];
        var b = env[gemm.B];
        // what is known of the operands (a frozen weight, a kernel's or product's output) is not read again
        var (ma, knownA) = known.TryGetValue(gemm.A, out var ka) ? (ka.Meta, ka.DataPtr) : (torch.ReadMeta(a), 0);
        var (mb, knownB) = known.TryGetValue(gemm.B, out var kb) ? (kb.Meta, kb.DataPtr) : (torch.ReadMeta(b), 0);
        if (!Matches(ma, gemm, gemm.M, gemm.K) || !Matches(mb, gemm, gemm.K, gemm.N)) return false;
        var sa = ma.Strides!;
        var sb = mb.Strides!;
        if (GemmCall.Layout(gemm.M, gemm.K, sa[^2], sa[^1]) is not { } layoutA || GemmCall.Layout(gemm.K, gemm.N, sb[^2], sb[^1]) is not { } layoutB) return false;
        var (transA, lda) = layoutA;
        var (transB, ldb) = layoutB;
        // each operand's batch stride (0: a 2-D operand every batch shares), or where each batch starts
        // when no one stride walks them (attention's [B, heads, T, d] views of a [B, T, 3 * heads * d] product)
        long? batchA = ma.Rank == 2 ? 0 : GemmCall.BatchStride(ma.Shape.Concrete(), sa, ma.Rank - 2), batchB = mb.Rank == 2 ? 0 : GemmCall.BatchStride(mb.Shape.Concrete(), sb, mb.Rank - 2);
        var offsetsA = batchA is null ? GemmCall.BatchOffsets(ma.Shape.Concrete(), sa, ma.Rank - 2) : null;
        var offsetsB = batchB is null ? GemmCall.BatchOffsets(mb.Shape.Concrete(), sb, mb.Rank - 2) : null;
        var item = gemm.Type.ItemSize();
        var shape = gemm.OutputSizes;
        // memory kept across calls where only kernels and BLAS read the product (RunnablePart.PlanKept)
        var keptOutput = kept is not null && gemm.SymbolicSizes is null && kept.TryGetValue(gemm.Node, out var buffer) ? buffer : null;
        var output = keptOutput?.Tensor.NewReference() ?? torch.EmptyStrided(shape, new Shape(shape).ContiguousStrides()!, gemm.Type);
        try
        {
            nint pa = knownA != 0 ? knownA : torch.DataPtr(a), pb = knownB != 0 ? knownB : torch.DataPtr(b), pc = keptOutput?.Address ?? torch.DataPtr(output);
            var isDouble = gemm.Type == DType.Float64;
            // x[B, M, K] @ w[K, N] with x's batches back to back: one [B*M, K] @ [K, N] product
            var flat = gemm.Batch > 1 && !transA && batchB == 0 && batchA == gemm.M * lda && gemm.Batch * gemm.M <= int.MaxValue;
            // float32 through oneDNN where torch loaded it (it runs on torch's OpenMP threads), else OpenBLAS
            var oneDnn = !isDouble && OneDnnGemm.IsAvailable;
            void One(long i) => Gemm(oneDnn, isDouble, (int)gemm.M, (int)gemm.N, (int)gemm.K,
                pa + (nint)((offsetsA?[i] ?? i * batchA!.Value) * item), transA, lda, pb + (nint)((offsetsB?[i] ?? i * batchB!.Value) * item), transB, ldb,
                pc + (nint)(i * gemm.M * gemm.N * item), (int)gemm.N);
            using (Interpreter.ReleaseGil())
            {
                if (flat) Gemm(oneDnn, isDouble, (int)(gemm.Batch * gemm.M), (int)gemm.N, (int)gemm.K, pa, false, lda, pb, transB, ldb, pc, (int)gemm.N);
                else if (oneDnn && SplitBatches(gemm))
                {
                    // many small products: one thread of the team each (oneDNN runs single-threaded inside a region)
                    var batches = gemm.Batch;
                    var parts = (int)Math.Min(batches, Environment.ProcessorCount * 4L);
                    KernelThreads.For(parts, p =>
                    {
                        for (var i = batches * p / parts; i < batches * (p + 1) / parts; i++) One(i);
                    });
                }
                else
                    for (long i = 0; i < gemm.Batch; i++) One(i);
            }
            env[gemm.Node] = output;
            // allocated here, contiguous: the kernels that read it need not read it back
            known[gemm.Node] = new KnownTensor(TensorMeta.Contiguous(new Shape(shape), gemm.Type), pc);
            return true;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    private static void Gemm(bool oneDnn, bool isDouble, int m, int n, int k, nint a, bool transA, int lda, nint b, bool transB, int ldb, nint c, int ldc)
    {
        if (oneDnn) OneDnnGemm.Gemm(m, n, k, a, transA, lda, b, transB, ldb, c, ldc);
        else OpenBlas.Gemm(isDouble, m, n, k, a, transA, lda, b, transB, ldb, c, ldc);
    }

    /// <summary>
    /// A batch of products is split over the team (each product on one thread) when there are enough
    /// of them to keep every thread busy, or each is too small to split well (under 2M multiply-adds);
    /// else each product in turn uses the whole team.
    /// </summary>
    private static bool SplitBatches(GemmCall gemm) =>
        KernelThreads.OnOpenMp && gemm.Batch > 1 && (gemm.Batch >= 2L * Environment.ProcessorCount || gemm.M * gemm.N * gemm.K < 1L << 21);

    /// <summary>The operand is what the call was planned for: its dtype, on the CPU, [rows, cols] or [batch, rows, cols] ([..batch dims, rows, cols]).</summary>
    private static bool Matches(TensorMeta meta, GemmCall gemm, long rows, long cols)
    {
        if (meta.DType != gemm.Type || meta.Device != Device.Cpu || meta.Rank != 2 && meta.Rank != gemm.BatchedRank) return false;
        var sizes = meta.Shape.Concrete();
        if (sizes[^2] != rows || sizes[^1] != cols) return false;
        if (meta.Rank == 2) return true;
        return gemm.BatchShape is { } shape ? sizes.Take(shape.Count).SequenceEqual(shape) : sizes[0] == gemm.Batch;
    }
}
