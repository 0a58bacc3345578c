using Capture.Python;
using Capture.Runtime;

namespace Capture.Bytecode.Tests;

/// <summary>Starts Capture's runtime once and loads the Python helpers every test uses.</summary>
public sealed class CaptureFixture
{
    public const string Helpers = """
        import copy, torch, capture

        BACKEND = "eager"  # the backend the test runs on (Load sets it)

        def same(a, b):
            if isinstance(a, torch.Tensor):
                if not (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad):
                    return False
                if BACKEND != "eager" and a.is_floating_point():
                    # generated kernels round differently from torch's: pointwise to 1e-5, reductions and gemms to 1e-4
                    return torch.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True)
                if a.is_floating_point():
                    return torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)  # exactly, NaN where eager's are
                return torch.equal(a, b)
            if isinstance(a, (tuple, list)):
                return type(a) == type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
            if isinstance(a, dict):
                return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
            return type(a) == type(b) and a == b

        def run_both(fn, *args, **kwargs):
            # each side gets its own copies: in-place ops must not leak from one run into the other
            expected_args, actual_args = copy.deepcopy((args, kwargs)), copy.deepcopy((args, kwargs))
            expected = fn(*expected_args[0], **expected_args[1])
            compiled = capture.compile(fn, backend=BACKEND)
            actual = compiled(*actual_args[0], **actual_args[1])
            return same(actual, expected) and same(actual_args, expected_args)
        """;

    private static readonly Lazy<CaptureSession> Session = new(CaptureSession.Start);

    /// <summary>This test process's Capture session, started on first use.</summary>
    public static CaptureSession Current => Session.Value;

    public CaptureFixture() => _ = Current;

    /// <summary>The backends every end-to-end test runs on.</summary>
    public static readonly string[] Backends = ["eager", "roslyn", "llvm"];

    /// <summary>Each row of <paramref name="rows"/> once per backend, the backend as its last value.</summary>
    public static IEnumerable<object[]> PerBackend(IEnumerable<object[]> rows) =>
        rows.SelectMany(row => Backends.Select(b => row.Append(b).ToArray()));

    public static IEnumerable<object[]> PerBackend() => Backends.Select(b => new object[] { b });

    public static PyObject Load(string source, string backend = "eager")
    {
        using var gil = Interpreter.Gil();
        var ns = Py.Exec(Helpers);
        using (var name = Py.Str(backend)) ns.SetItem("BACKEND", name);
        using (var _ = Py.Exec(source, ns, "user_model.py")) { }
        // as notebooks do: the source in linecache, so reports can quote its lines
        using var linecache = Py.Import("linecache");
        using var cache = linecache.GetAttr("cache");
        using var text = Py.Str(source);
        using var keepEnds = Py.Bool(true);
        using var lines = text.CallMethod("splitlines", keepEnds);
        using var size = Py.Int(source.Length);
        using var none = Py.None;
        using var file = Py.Str("user_model.py");
        using var entry = Py.Tuple([size, none, lines, file]);
        cache.SetItem("user_model.py", entry);
        return ns;
    }
}

[CollectionDefinition("Python", DisableParallelization = true)]
public sealed class PythonCollection : ICollectionFixture<CaptureFixture>;
