using Capture.Graphs;
using Capture.Codegen.Blas;
using Capture.Python;

namespace Capture.Runtime.Tests;

// Matrix products through BLAS (oneDNN's dnnl_sgemm for float32 once torch is imported, OpenBLAS's
// cblas_dgemm for float64) instead of torch: every layout BLAS addresses (row- and column-major
// operands, batched, shared right operands, sliced rows; batches split over the threads or each
// product on all of them) against torch, per kernel backend, and the layouts it does not left to torch.
[Collection("Python")]
public sealed class BlasGemmTests
{
    [Fact]
    public void LayoutReadsRowAndColumnMajorStrides()
    {
        // a 3 x 4 matrix: contiguous, rows of a wider matrix, and the transpose of a 4 x 3 one
        Assert.Equal((false, 4), GemmCall.Layout(3, 4, 4, 1));
        Assert.Equal((false, 8), GemmCall.Layout(3, 4, 8, 1));
        Assert.Equal((true, 3), GemmCall.Layout(3, 4, 1, 3));
        Assert.Equal((true, 5), GemmCall.Layout(3, 4, 1, 5));
    }

    [Fact]
    public void LayoutsBlasCannotAddressAreRefused()
    {
        Assert.Null(GemmCall.Layout(3, 4, 8, 2));  // a stride along both dims
        Assert.Null(GemmCall.Layout(3, 4, 2, 1));  // rows overlap
        Assert.Equal((false, 4), GemmCall.Layout(1, 4, 999, 1)); // one row: its stride does not matter
        Assert.Equal((false, 1), GemmCall.Layout(3, 1, 1, 77));  // one column: row-major with unit rows
    }

    [Fact]
    public void BatchesOfHigherRankOperandsAreWalkedByTheirStrides()
    {
        // q of attention: [B=2, heads=3, T, d] as a view of a [2, T, 3 * 3 * d] product (d = 4, T = 5)
        // with strides {5 * 36, 4, 36, 1}: no one stride walks its batches, each starts where its indices say
        Assert.Null(GemmCall.BatchStride([2, 3, 5, 4], [180, 4, 36, 1], 2));
        Assert.Equal([0L, 4, 8, 180, 184, 188], GemmCall.BatchOffsets([2, 3, 5, 4], [180, 4, 36, 1], 2));
        // batch 1: one stride (size-1 dims take any)
        Assert.Equal(4L, GemmCall.BatchStride([1, 3, 5, 4], [999, 4, 36, 1], 2));
        Assert.Equal(20L, GemmCall.BatchStride([2, 3, 5, 4], [60, 20, 4, 1], 2));
    }

    [Theory]
    [InlineData("roslyn")]
    [InlineData("llvm")]
    public void ProductsThroughBlasMatchTorch(string backend)
    {
        Assert.True(OpenBlas.IsAvailable, OpenBlas.Unavailable);
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec($$"""
            import torch, capture
            import torch.nn.functional as F
            g = torch.Generator().manual_seed(3)
            def r(*shape, dtype=torch.float32):
                return torch.randn(*shape, generator=g, dtype=dtype)
            cases = {
                "mm": (lambda a, b: torch.mm(a, b), (r(5, 7), r(7, 3))),
                "mm transposed operands": (lambda a, b: a.t() @ b.t(), (r(7, 5), r(3, 7))),
                "linear": (lambda x, w, b: F.gelu(F.linear(x, w, b)), (r(6, 16), r(32, 16), r(32))),
                "bmm": (lambda a, b: torch.bmm(a, b), (r(4, 5, 6), r(4, 6, 2))),
                "bmm of many": (lambda a, b: torch.bmm(a, b.transpose(1, 2)), (r(24, 17, 9), r(24, 13, 9))),
                "bmm of big ones": (lambda a, b: torch.bmm(a, b), (r(3, 130, 140), r(3, 140, 150))),
                "batched @ shared": (lambda x, w: x @ w, (r(3, 5, 8), r(8, 4))),
                "batched transposed": (lambda a, b: a @ b.transpose(-2, -1), (r(2, 5, 6), r(2, 3, 6))),
                "sliced rows": (lambda a, b: a[:, 2:] @ b, (r(6, 9), r(7, 4))),
                "float64": (lambda a, b: a @ b, (r(5, 7, dtype=torch.float64), r(7, 3, dtype=torch.float64))),
                "one row": (lambda a, b: a @ b, (r(1, 7), r(7, 3))),
                "strided both ways": (lambda a, b: a[::2, ::2] @ b, (r(10, 14), r(7, 3))),
                "int64": (lambda a, b: a @ b, (torch.randint(-9, 9, (4, 5), generator=g), torch.randint(-9, 9, (5, 2), generator=g))),
            }
            failures, notes = [], {}
            for name, (fn, args) in cases.items():
                expected = fn(*args)
                report = capture.explain(fn, *args, backend="{{backend}}")
                got = capture.compile(fn, backend="{{backend}}")(*args)
                if got.dtype != expected.dtype or got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-5, atol=1e-5):
                    failures.append(name)
                notes[name] = " ".join(note or "" for graph in report.compile_phases for _, _, note in graph)
            """);
        using var failures = ns.GetItem("failures");
        Assert.Equal("[]", failures.Repr());
        using var notes = ns.GetItem("notes");
        foreach (var name in new[] { "mm", "mm transposed operands", "linear", "bmm", "bmm of many", "bmm of big ones", "batched @ shared", "batched transposed", "sliced rows", "float64", "one row" })
        {
            using var note = notes.GetItem(name);
            Assert.Contains("1 matrix product through BLAS", note.AsString());
        }
        using var torchOnly = notes.GetItem("int64"); // BLAS multiplies floats only
        Assert.DoesNotContain("through BLAS", torchOnly.AsString());
        Assert.Equal("oneDNN dnnl_sgemm", GemmCall.Library(DType.Float32)); // torch is imported: its oneDNN is loaded
        Assert.Equal("cblas_dgemm", GemmCall.Library(DType.Float64));
    }
}
