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
        Assert.Equal(CaptureRuntime.Version, version.AsString());
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
                         lambda: capture.compile(lambda x: x, dynamic=True)):
                try:
                    call()
                except capture.NotSupported as e:
                    outcomes.append("NotSupported: " + str(e))
                except (ValueError, TypeError) as e:
                    outcomes.append(type(e).__name__ + ": " + str(e))
            """);
        using var outcomes = ns.GetItem("outcomes");
        var texts = outcomes.ToItems().Select(o => { using (o) return o.AsString(); }).ToArray();
        Assert.Equal("ValueError: capture.compile: backend must be one of ('roslyn', 'llvm', 'eager'), got 'cuda'", texts[0]);
        Assert.Equal("TypeError: capture.explain expects a Python function or an nn.Module, got builtin_function_or_method", texts[1]);
        Assert.Equal("NotSupported: capture.compile(dynamic=True): captures specialize on sizes for now", texts[2]);
    }
}
