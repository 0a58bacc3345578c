using Capture.Python;

namespace Capture.Runtime.Tests;

// The Python package as users see it, inside the runtime: it reaches C# through _capture_native.
[Collection("Python")]
public sealed class CapturePackageTests
{
    private static PyObject Run(string source) => Py.Exec("import capture, torch\n" + source);

    [Fact]
    public void TensorInfoThroughTheNativeModuleMatchesTorch()
    {
        using var gil = Interpreter.Gil();
        using var ns = Run("""
            t = torch.arange(24, dtype=torch.float64).reshape(4, 6).t()[1:]
            info = capture._native.tensor_info(t)
            torch_view = dict(dtype="float64", device="cpu", sizes=tuple(t.size()), strides=t.stride(),
                              storage_offset=t.storage_offset(), data_ptr=t.data_ptr(),
                              requires_grad=False, is_contiguous=t.is_contiguous())
            same = info == torch_view
            """);
        using var same = ns.GetItem("same");
        using var info = ns.GetItem("info");
        Assert.True(same.ToBoolean(), info.Repr());
    }

    [Fact]
    public void PastTheRecompileLimitNewSizesRunEagerlyWithOneWarningAndCompiledOnesStayCompiled()
    {
        using var gil = Interpreter.Gil();
        using var ns = Run("""
            import warnings
            compiled_runs = []
            def counting(gm, examples):
                size = tuple(examples[0].shape)
                def run(*args):
                    compiled_runs.append(size)
                    return gm.forward(*args)
                return run
            def f(x):
                return (x * 2).sin() + 1
            cf = capture.compile(f, backend=counting)
            same = []
            capture.config.cache_size_limit = 3
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    for n in (2, 3, 4, 5, 6, 7, 3, 7):
                        x = torch.randn(n)
                        same.append(torch.allclose(cf(x), f(x)))
            finally:
                capture.config.cache_size_limit = 8
            messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
            """);
        using var same = ns.GetItem("same");
        Assert.All(same.ToItems(), s => { using (s) Assert.True(s.ToBoolean()); });
        using var runs = ns.GetItem("compiled_runs");
        // sizes 2, 3, 4 compiled (the limit); 5, 6, 7 as plain Python; 3 again through its compiled graph
        Assert.Equal("[(2,), (3,), (4,), (3,)]", runs.Repr());
        using var messages = ns.GetItem("messages");
        var warning = Assert.Single(messages.ToItems().Select(m => { using (m) return m.AsString(); }));
        Assert.StartsWith("capture: f (", warning);
        Assert.Contains("was compiled 3 times (capture.config.cache_size_limit); the last recompiles were because ", warning);
        Assert.Contains("runs as plain Python", warning);
    }

    [Fact]
    public void NativeModuleArgumentErrorsArePythonTypeErrors()
    {
        using var gil = Interpreter.Gil();
        using var ns = Run("""
            errors = []
            for call in (lambda: capture._native.tensor_info(), lambda: capture._native.tensor_info([1.0])):
                try:
                    call()
                except TypeError as e:
                    errors.append(str(e))
            """);
        using var errors = ns.GetItem("errors");
        Assert.Equal("['tensor_info() takes 1 positional argument (0 given) [C# InvalidCastException]', " +
                     "'expected a torch.Tensor, got list [C# InvalidCastException]']", errors.Repr());
    }

    [Fact]
    public void VersionAndRuntimeInfo()
    {
        using var gil = Interpreter.Gil();
        using var ns = Run("version = capture.__version__\ninfo = capture.runtime_info()\n");
        using var version = ns.GetItem("version");
        Assert.Equal(CaptureSession.Version, version.AsString());
        using var info = ns.GetItem("info");
        using var dotnet = info.GetItem("dotnet");
        Assert.StartsWith(".NET ", dotnet.AsString());
    }

    [Fact]
    public void BadArgumentsAreClearErrors()
    {
        using var gil = Interpreter.Gil();
        using var ns = Run("""
            outcomes = []
            for call in (lambda: capture.compile(backend="cuda"), lambda: capture.explain(abs, 1),
                         lambda: capture.compile(lambda x: x, dynamic="yes"), lambda: capture.mark_dynamic([1, 2], 0)):
                try:
                    call()
                except capture.NotSupported as e:
                    outcomes.append("NotSupported: " + str(e))
                except (ValueError, TypeError) as e:
                    outcomes.append(type(e).__name__ + ": " + str(e))
            """);
        using var outcomes = ns.GetItem("outcomes");
        var texts = outcomes.ToItems().Select(o => { using (o) return o.AsString(); }).ToArray();
        Assert.Equal("ValueError: capture.compile: backend must be one of ('roslyn', 'llvm', 'eager'), torch's ('inductor', 'aot_eager'), "
            + "or a callable (gm, example_inputs) -> callable; got 'cuda'", texts[0]);
        Assert.Equal("TypeError: capture.explain expects a Python function or an nn.Module, got builtin_function_or_method", texts[1]);
        Assert.Equal("TypeError: capture.compile: dynamic must be None, True or False, got 'yes'", texts[2]);
        Assert.Equal("TypeError: capture.mark_dynamic expects a tensor, got list", texts[3]);
    }

    // Compiled calls borrow the frame's handles for guards and graph inputs: every reference they take
    // they drop, and none they do not take (a count one too low would free a tensor still in use).
    [Theory]
    [InlineData("eager")]
    [InlineData("roslyn")]
    [InlineData("llvm")]
    public void CompiledCallsLeaveReferenceCountsAsTheyWere(string backend)
    {
        using var gil = Interpreter.Gil();
        using var ns = Run($$"""
            import sys
            W = torch.randn(3, 4)
            def f(x, y):
                return (x * 2.0 + y).relu() * W
            compiled = capture.compile(f, backend="{{backend}}")
            x, y = torch.randn(3, 4), torch.randn(4)
            expected = f(x, y)
            for _ in range(10):
                compiled(x, y)
            before = [sys.getrefcount(v) for v in (x, y, W)]
            for _ in range(2000):
                result = compiled(x, y)
            after = [sys.getrefcount(v) for v in (x, y, W)]
            same = torch.allclose(result, expected)
            """);
        using var before = ns.GetItem("before");
        using var after = ns.GetItem("after");
        Assert.Equal(before.Repr(), after.Repr());
        using var same = ns.GetItem("same");
        Assert.True(same.ToBoolean());
    }

    // Functions made from one code object with different globals share a code cache; each call must
    // read its own function's globals (the binder keeps the first function's between calls).
    [Theory]
    [InlineData("roslyn")]
    [InlineData("llvm")]
    public void FunctionsSharingCodeReadTheirOwnGlobals(string backend)
    {
        using var gil = Interpreter.Gil();
        using var ns = Run($$"""
            import types
            SCALE = 2.0
            def f(x):
                return x * SCALE + 1.0
            g = types.FunctionType(f.__code__, {"SCALE": 3.0, "__builtins__": __builtins__})
            cf, cg = capture.compile(f, backend="{{backend}}"), capture.compile(g, backend="{{backend}}")
            x = torch.randn(5)
            results = []
            for _ in range(3):
                results.append(torch.equal(cf(x), f(x)))
                results.append(torch.equal(cg(x), g(x)))
            """);
        using var results = ns.GetItem("results");
        Assert.Equal("[True, True, True, True, True, True]", results.Repr());
    }

    // A kernel's inputs' strides come from the guards that just passed: a transposed input and a
    // contiguous one of the same shape are two captures, each run with its own strides.
    [Theory]
    [InlineData("roslyn")]
    [InlineData("llvm")]
    public void KernelsRunWithTheStridesTheirGuardsChecked(string backend)
    {
        using var gil = Interpreter.Gil();
        using var ns = Run($$"""
            def f(x, y):
                return torch.sigmoid(x) * y - x
            compiled = capture.compile(f, backend="{{backend}}")
            base = torch.randn(6, 5)
            y = torch.randn(5, 6)
            results = []
            for x in (base.t(), base.t().contiguous(), base.t(), base[:, :5].t().contiguous()):
                results.append(torch.allclose(compiled(x, y), f(x, y)))
            """);
        using var results = ns.GetItem("results");
        Assert.Equal("[True, True, True, True]", results.Repr());
    }
}
