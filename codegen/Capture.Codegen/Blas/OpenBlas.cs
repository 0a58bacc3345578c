using System.Reflection;
using System.Runtime.InteropServices;

namespace Capture.Codegen.Blas;

/// <summary>
/// cblas_sgemm / cblas_dgemm from the BLAS torch itself is linked against (Debian's libblas.so.3,
/// which libopenblas0-pthread provides), else libopenblas.so.0; $CAPTURE_BLAS_LIBRARY overrides both.
/// Only the two functions Capture calls. When no library has them, <see cref="IsAvailable"/> is
/// false and matrix products run through torch (<see cref="Unavailable"/> says why).
/// </summary>
public static unsafe class OpenBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly delegate* unmanaged[Cdecl]<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;
    private static readonly delegate* unmanaged[Cdecl]<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void> Dgemm;

    /// <summary>The library the functions come from, when found.</summary>
    public static string? LibraryPath { get; }

    /// <summary>Why there is no BLAS, when there is none.</summary>
    public static string? Unavailable { get; }

    public static bool IsAvailable => Unavailable is null;

    static OpenBlas()
    {
        var candidates = Environment.GetEnvironmentVariable("CAPTURE_BLAS_LIBRARY") is { Length: > 0 } custom
            ? [custom]
            : new[] { "libblas.so.3", "libopenblas.so.0" };
        foreach (var name in candidates)
        {
            if (!NativeLibrary.TryLoad(name, Assembly.GetExecutingAssembly(), DllImportSearchPath.SafeDirectories | DllImportSearchPath.System32, out var handle)
                && !NativeLibrary.TryLoad(name, out handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var s) || !NativeLibrary.TryGetExport(handle, "cblas_dgemm", out var d)) continue;
            Sgemm = (delegate* unmanaged[Cdecl]<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)s;
            Dgemm = (delegate* unmanaged[Cdecl]<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void>)d;
            LibraryPath = name;
            return;
        }
        Unavailable = $"no BLAS with cblas_sgemm found ({string.Join(", ", candidates)}): apt-get install -y libopenblas0-pthread";
    }

    /// <summary>
    /// C = A @ B for one m x k by k x n product, C row-major with row stride <paramref name="ldc"/>;
    /// A and B each row-major (transposed: false) or column-major (true) with leading dimension ld.
    /// </summary>
    public static void Gemm(bool isDouble, int m, int n, int k, nint a, bool transA, int lda, nint b, bool transB, int ldb, nint c, int ldc)
    {
        if (!IsAvailable) throw new InvalidOperationException(Unavailable);
        int ta = transA ? Trans : NoTrans, tb = transB ? Trans : NoTrans;
        if (isDouble) Dgemm(RowMajor, ta, tb, m, n, k, 1.0, (double*)a, lda, (double*)b, ldb, 0.0, (double*)c, ldc);
        else Sgemm(RowMajor, ta, tb, m, n, k, 1.0f, (float*)a, lda, (float*)b, ldb, 0.0f, (float*)c, ldc);
    }
}
