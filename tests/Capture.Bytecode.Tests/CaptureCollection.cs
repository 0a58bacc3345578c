using Capture.Python;
using Capture.Runtime;

namespace Capture.Bytecode.Tests;

/// <summary>Starts Capture's runtime once and loads the Python helpers every test uses.</summary>
public sealed class CaptureFixture
{
    public const string Helpers = """
        import copy, torch, capture

        def same(a, b):
            if isinstance(a, torch.Tensor):
                return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
            if isinstance(a, (tuple, list)):
                return type(a) == type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
            if isinstance(a, dict):
                return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
            return type(a) == type(b) and a == b

        def run_both(fn, *args, **kwargs):
            # each side gets its own copies: in-place ops must not leak from one run into the other
            expected_args, actual_args = copy.deepcopy((args, kwargs)), copy.deepcopy((args, kwargs))
            expected = fn(*expected_args[0], **expected_args[1])
            compiled = capture.compile(fn, backend="eager")
            actual = compiled(*actual_args[0], **actual_args[1])
            return same(actual, expected) and same(actual_args, expected_args)
        """;

    public CaptureFixture()
    {
        CaptureRuntime.Start();
    }

    public static PyObject Load(string source)
    {
        using var gil = Interpreter.Gil();
        var ns = Py.Exec(Helpers);
        using (var _ = Py.Exec(source, ns, "user_model.py")) { }
        return ns;
    }
}

[CollectionDefinition("Python", DisableParallelization = true)]
public sealed class PythonCollection : ICollectionFixture<CaptureFixture>;
