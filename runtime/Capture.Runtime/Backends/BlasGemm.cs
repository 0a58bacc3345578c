using Capture.Codegen.Blas;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;

/// <summary>
/// Runs a <see cref="GemmCall"/> on torch tensors: reads both operands' layouts, allocates the
/// output, and calls BLAS with the GIL released, one gemm per batch (or one gemm for all of them when
/// a batched left operand is row-major with its batches back to back and the right one is shared).
/// </summary>
internal static class BlasGemm
{
    /// <summary>Computes the product into <paramref name="env"/>; false (nothing written) when an operand's layout is not one BLAS addresses.</summary>
    public static bool TryRun(TorchRuntime torch, GemmCall gemm, Dictionary<string, PyObject> env)
    {
        var a = env[gemm.A];
        var b = env[gemm.B];
        var ma = torch.ReadMeta(a);
        var mb = torch.ReadMeta(b);
        if (!Matches(ma, gemm, gemm.M, gemm.K) || !Matches(mb, gemm, gemm.K, gemm.N)) return false;
        var sa = ma.Strides!;
        var sb = mb.Strides!;
        if (GemmCall.Layout(gemm.M, gemm.K, sa[^2], sa[^1]) is not { } layoutA || GemmCall.Layout(gemm.K, gemm.N, sb[^2], sb[^1]) is not { } layoutB) return false;
        var (transA, lda) = layoutA;
        var (transB, ldb) = layoutB;
        long batchA = ma.Rank == 3 ? sa[0] : 0, batchB = mb.Rank == 3 ? sb[0] : 0;
        var item = gemm.Type.ItemSize();
        var shape = gemm.OutputSizes;
        var output = torch.EmptyStrided(shape, new Shape(shape).ContiguousStrides()!, gemm.Type);
        try
        {
            nint pa = torch.DataPtr(a), pb = torch.DataPtr(b), pc = torch.DataPtr(output);
            var isDouble = gemm.Type == DType.Float64;
            // x[B, M, K] @ w[K, N] with x's batches back to back: one [B*M, K] @ [K, N] product
            var flat = gemm.Batch > 1 && !transA && batchB == 0 && batchA == gemm.M * lda && gemm.Batch * gemm.M <= int.MaxValue;
            using (Interpreter.ReleaseGil())
            {
                if (flat) OpenBlas.Gemm(isDouble, (int)(gemm.Batch * gemm.M), (int)gemm.N, (int)gemm.K, pa, false, lda, pb, transB, ldb, pc, (int)gemm.N);
                else
                    for (long i = 0; i < gemm.Batch; i++)
                        OpenBlas.Gemm(isDouble, (int)gemm.M, (int)gemm.N, (int)gemm.K,
                            pa + (nint)(i * batchA * item), transA, lda, pb + (nint)(i * batchB * item), transB, ldb,
                            pc + (nint)(i * gemm.M * gemm.N * item), (int)gemm.N);
            }
            env[gemm.Node] = output;
            return true;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    /// <summary>The operand is what the call was planned for: its dtype, on the CPU, [rows, cols] or [batch, rows, cols].</summary>
    private static bool Matches(TensorMeta meta, GemmCall gemm, long rows, long cols)
    {
        if (meta.DType != gemm.Type || meta.Device != Device.Cpu || meta.Rank is < 2 or > 3) return false;
        var sizes = meta.Shape.Concrete();
        return sizes[^2] == rows && sizes[^1] == cols && (meta.Rank == 2 || sizes[0] == gemm.Batch);
    }
}
