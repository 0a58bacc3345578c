using System.Runtime.InteropServices;
using Capture.Graph;
using Capture.Python;
using Capture.Runtime.Torch;

namespace Capture.Runtime;

/// <summary>
/// `_capture_native`: the builtin module through which runtime/python/capture reaches C#. Each
/// function here is a C# callback; the Python package wraps them in the public API.
/// </summary>
internal static class NativeModule
{
    internal const string Name = "_capture_native";

    internal static void Register()
    {
        using var module = Py.NewModule(Name);
        PyFunction.Define(module, "version", (_, _) => Py.Str(CaptureRuntime.Version),
            "version() -> str: the Capture runtime's version.");
        PyFunction.Define(module, "runtime_info", RuntimeInfo,
            "runtime_info() -> dict: versions and libraries of the running Capture runtime.");
        PyFunction.Define(module, "tensor_info", TensorInfoOf,
            "tensor_info(t) -> dict: a tensor's metadata as the C# runtime reads it (no data copied).");
    }

    private static PyObject RuntimeInfo(PyObject args, PyObject? kwargs)
    {
        ExpectArguments("runtime_info", args, kwargs, 0);
        using var capture = Py.Str(CaptureRuntime.Version);
        using var dotnet = Py.Str(RuntimeInformation.FrameworkDescription);
        using var libpython = Py.Str(Interpreter.LibraryPath);
        return Py.Dict([new("capture", capture), new("dotnet", dotnet), new("libpython", libpython)]);
    }

    private static PyObject TensorInfoOf(PyObject args, PyObject? kwargs)
    {
        ExpectArguments("tensor_info", args, kwargs, 1);
        using var tensor = args.GetItem(0);
        var info = CaptureRuntime.Torch.Read(tensor);
        using var dtype = Py.Str(info.DType.TorchName());
        using var device = Py.Str(info.Device.ToString());
        using var sizes = Py.IntTuple(info.Sizes);
        using var strides = Py.IntTuple(info.Strides);
        using var offset = Py.Int(info.StorageOffset);
        using var dataPtr = Py.Int(info.DataPtr);
        using var requiresGrad = Py.Bool(info.RequiresGrad);
        using var contiguous = Py.Bool(info.IsContiguous);
        return Py.Dict([
            new("dtype", dtype), new("device", device), new("sizes", sizes), new("strides", strides),
            new("storage_offset", offset), new("data_ptr", dataPtr), new("requires_grad", requiresGrad),
            new("is_contiguous", contiguous),
        ]);
    }

    private static void ExpectArguments(string function, PyObject args, PyObject? kwargs, int count)
    {
        if (kwargs is not null && kwargs.Length > 0)
            throw new InvalidCastException($"{function}() takes no keyword arguments");
        if (args.Length != count)
            throw new InvalidCastException($"{function}() takes {count} positional argument{(count == 1 ? "" : "s")} ({args.Length} given)");
    }
}
