using System.Security.Cryptography;
using System.Text;
using Capture.Python;
using Capture.Runtime;

namespace Capture.Frontend.Tests;

/// <summary>
/// Starts Capture's runtime once per test process, and loads test sources from real files: the AST
/// path reads a function's source with inspect, which needs a file (one per distinct source, so
/// that linecache never serves an older text under the same name).
/// </summary>
public sealed class FrontendFixture
{
    public const string Helpers = """
        import copy, torch, capture

        BACKEND = "eager"  # the backend the test runs on (Load sets it)

        def same(a, b):
            if isinstance(a, torch.Tensor):
                if not (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad):
                    return False
                if BACKEND != "eager" and a.is_floating_point():
                    return torch.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True)
                if a.is_floating_point():
                    return torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)
                return torch.equal(a, b)
            if isinstance(a, (tuple, list)):
                return type(a) == type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
            if isinstance(a, dict):
                return type(a) == type(b) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
            return type(a) == type(b) and a == b

        def run_both(fn, *args, **kwargs):
            # each side gets its own copies: in-place ops must not leak from one run into the other
            expected_args, actual_args = copy.deepcopy((args, kwargs)), copy.deepcopy((args, kwargs))
            expected = fn(*expected_args[0], **expected_args[1])
            compiled = capture.compile(fn, mode="ast", backend=BACKEND)
            actual = compiled(*actual_args[0], **actual_args[1])
            return same(actual, expected) and same(actual_args, expected_args)

        def refusal(fn, *args):
            # the AST path's error for fn, as its text
            try:
                capture.compile(fn, mode="ast", backend=BACKEND)(*args)
            except capture.NotSupported as e:
                return str(e)
            return "no error"
        """;

    private static readonly Lazy<CaptureSession> Session = new(CaptureSession.Start);

    /// <summary>This test process's Capture session, started on first use.</summary>
    public static CaptureSession Current => Session.Value;

    public FrontendFixture() => _ = Current;

    /// <summary>The backends every end-to-end test runs on.</summary>
    public static readonly string[] Backends = ["eager", "roslyn", "llvm"];

    public static IEnumerable<object[]> PerBackend(IEnumerable<object[]> rows) =>
        rows.SelectMany(row => Backends.Select(b => row.Append(b).ToArray()));

    public static IEnumerable<object[]> PerBackend() => Backends.Select(b => new object[] { b });

    /// <summary>Runs <paramref name="source"/> (after the helpers) from a file; returns its namespace and the file's path.</summary>
    public static (PyObject Namespace, string File) Load(string source, string backend = "eager")
    {
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(source)))[..12].ToLowerInvariant();
        var directory = Path.Combine(Path.GetTempPath(), "capture-frontend-tests");
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, $"model_{hash}.py");
        if (!File.Exists(file) || File.ReadAllText(file) != source) File.WriteAllText(file, source);
        using var gil = Interpreter.Gil();
        var ns = Py.Exec(Helpers);
        using (var name = Py.Str(backend)) ns.SetItem("BACKEND", name);
        using (var _ = Py.Exec(source, ns, file)) { }
        return (ns, file);
    }
}

[CollectionDefinition("Python", DisableParallelization = true)]
public sealed class PythonCollection : ICollectionFixture<FrontendFixture>;
