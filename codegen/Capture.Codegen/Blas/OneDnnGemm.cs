namespace Capture.Codegen.Blas;

/// <summary>
/// oneDNN's sgemm (dnnl_sgemm), from the libdnnl torch loaded, for float32 products. It runs on
/// OpenMP's team, the threads torch's own ops and Capture's kernels use; OpenBLAS runs on a pool of
/// its own, which competed with OpenMP's spinning workers for the cores: right after a torch op, a
/// [512 x 256] @ [256 x 768] product took 7.5 ms through OpenBLAS and 3.0 ms through oneDNN here (2.2x;
/// 4x for smaller ones), as fast as OpenBLAS alone. Float64 products stay with OpenBLAS (oneDNN has
/// no dgemm).
/// </summary>
public static unsafe class OneDnnGemm
{
    private static readonly LoadedLibrary Library = new("libdnnl.so.2");
    private static nint _sgemm;

    /// <summary>Whether torch's oneDNN is loaded (torch is imported and built with it).</summary>
    public static bool IsAvailable => Sgemm != 0;

    private static nint Sgemm => _sgemm != 0 ? _sgemm : _sgemm = Library.Export("dnnl_sgemm");

    /// <summary>
    /// C = A @ B for one m x k by k x n float32 product, all row-major (an operand transposed: column-major)
    /// with leading dimensions as given. Inside an OpenMP region (a batch split over the team) it runs on
    /// the calling thread alone.
    /// </summary>
    public static void Gemm(int m, int n, int k, nint a, bool transA, int lda, nint b, bool transB, int ldb, nint c, int ldc)
    {
        var sgemm = (delegate* unmanaged[Cdecl]<sbyte, sbyte, long, long, long, float, float*, long, float*, long, float, float*, long, int>)Sgemm;
        if (sgemm is null) throw new InvalidOperationException("oneDNN (libdnnl.so.2) is not loaded: import torch first");
        var status = sgemm((sbyte)(transA ? 'T' : 'N'), (sbyte)(transB ? 'T' : 'N'), m, n, k, 1.0f, (float*)a, lda, (float*)b, ldb, 0.0f, (float*)c, ldc);
        if (status != 0) throw new InvalidOperationException($"dnnl_sgemm failed with status {status} ({m} x {k} @ {k} x {n})");
    }
}
