using System.Runtime.InteropServices;
using Capture.Codegen;
using Capture.Runtime.Dispatch;
using Capture.Runtime.Torch;

namespace Capture.Runtime;

/// <summary>
/// `_capture_native`: the builtin module through which runtime/python/capture reaches C#. Each
/// function here is a C# callback; the Python package wraps them in the public API.
/// </summary>
internal static class NativeModule
{
    internal const string Name = "_capture_native";

    /// <summary>Registers the module with its functions bound to <paramref name="session"/> (GIL held).</summary>
    internal static void Register(CaptureSession session)
    {
        using var module = Py.NewModule(Name);
        PyFunction.Define(module, "version", (_, _) => Py.Str(CaptureSession.Version),
            "version() -> str: the Capture runtime's version.");
        PyFunction.Define(module, "runtime_info", (args, kwargs) => RuntimeInfo(session, args, kwargs),
            "runtime_info() -> dict: versions and libraries of the running Capture runtime.");
        PyFunction.Define(module, "tensor_info", (args, kwargs) => TensorInfoOf(session, args, kwargs),
            "tensor_info(t) -> dict: a tensor's metadata as the C# runtime reads it (no data copied).");
        PyFunction.Define(module, "register_not_supported", (args, _) =>
        {
            using var type = args.GetItem(0);
            CallbackErrors.Register<NotSupportedException>(type);
            return Py.None;
        }, "register_not_supported(cls): raise cls where Capture refuses something (capture.NotSupported).");
        PyFunction.Define(module, "runner", (args, kwargs) => Runner(session, args, kwargs),
            "runner(backend, mode, fullgraph, freezing, dynamic) -> run(fn, args, kwargs): a function that calls fn(*args, **kwargs) through Capture, captured by mode ('bytecode' or 'ast') and run through the backend (a name, or a callable taking (torch.fx.GraphModule, example_inputs)).");
        PyFunction.Define(module, "explain", (args, kwargs) => Explain(session, args, kwargs),
            "explain(fn, args, kwargs, backend, mode) -> dict: runs fn once under a fresh capture (mode 'bytecode' or 'ast') for the backend and reports what happened, with the result.");
        PyFunction.Define(module, "reset", (_, _) => { session.Reset(); return Py.None; },
            "reset(): forget every cached capture.");
        PyFunction.Define(module, "report", (args, kwargs) => Report(session, args, kwargs),
            "report(path, title, comparisons) -> str: writes the HTML report of every capture in this process so far to path and returns the full path, or returns the HTML when path is None; comparisons: [(function, [(label, ast, bytecode)], details)].");
        PyFunction.Define(module, "report_text", (_, _) => Py.Str(Reports.TextReport.Plain(Reports.FrameReport.Build(session.Log.Events))),
            "report_text() -> str: the terminal report of every capture in this process so far.");
        PyFunction.Define(module, "cache_size_limit", (args, kwargs) =>
        {
            if (args.Length == 1)
            {
                using var limit = args.TupleItem(0);
                session.CacheSizeLimit = checked((int)limit.ToInt64());
            }
            else ExpectArguments("cache_size_limit", args, kwargs, 0);
            return Py.Int(session.CacheSizeLimit);
        }, "cache_size_limit([n]) -> int: the recompile limit (captures per frame before it runs eagerly), set when n is given.");
        PyFunction.Define(module, "cache_dir", (args, kwargs) =>
        {
            ExpectArguments("cache_dir", args, kwargs, 0);
            return KernelCache.RootFromEnvironment() is { } root ? Py.Str(root) : Py.None;
        }, "cache_dir() -> str | None: the compiled-kernel cache folder the runtime uses (None with CAPTURE_CACHE=0).");
        PyFunction.Define(module, "set_logs", (args, kwargs) =>
        {
            ExpectArguments("set_logs", args, kwargs, 1);
            using var kinds = args.GetItem(0);
            session.Log.SetLive(Reports.LiveLog.FromEnvironment(kinds.AsString(), PythonStderr.Instance));
            return Py.None;
        }, "set_logs(kinds): what to log as it happens, as CAPTURE_LOGS (a comma list of graph, guards, breaks, recompiles, code, perf, or all; '' for none).");
        if (Interpreter.IsHosted)
            PyFunction.Define(module, "detach", (_, _) => { session.Detach(); return Py.None; },
                "detach(): python3.11 is exiting (atexit): Capture drops its Python objects and stops touching the interpreter.");
        PyFunction.Define(module, "recompile_reasons", (_, _) => Py.ListOf(session.Runners.SelectMany(r => r.RecompileReasons).Select(Py.Str)),
            "recompile_reasons() -> list[str]: the failed guard behind each recompile since the last reset.");
    }

    private static PyObject RuntimeInfo(CaptureSession session, PyObject args, PyObject? kwargs)
    {
        ExpectArguments("runtime_info", args, kwargs, 0);
        using var capture = Py.Str(CaptureSession.Version);
        using var dotnet = Py.Str(RuntimeInformation.FrameworkDescription);
        using var libpython = Py.Str(Interpreter.LibraryPath);
        // compiled kernel modules still loaded: after capture.reset() only those something still holds
        using var roslyn = Py.Int(RoslynCompiler.LoadedAssemblies);
        using var llvm = Py.Int(session.LoadedLlvmObjects);
        return Py.Dict([new("capture", capture), new("dotnet", dotnet), new("libpython", libpython),
            new("roslyn_assemblies", roslyn), new("llvm_objects", llvm)]);
    }

    private static PyObject TensorInfoOf(CaptureSession session, PyObject args, PyObject? kwargs)
    {
        ExpectArguments("tensor_info", args, kwargs, 1);
        using var tensor = args.GetItem(0);
        var info = session.Torch.Read(tensor);
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

    /// <summary>A function that calls fn(*args, **kwargs) through the runner for a backend and path, its options bound once: a compiled function's calls pass only what changes per call.</summary>
    private static PyObject Runner(CaptureSession session, PyObject args, PyObject? kwargs)
    {
        ExpectArguments("runner", args, kwargs, 5);
        using var backend = args.GetItem(0);
        using var mode = args.GetItem(1);
        using var fullgraph = args.GetItem(2);
        using var freezing = args.GetItem(3);
        using var dynamic = args.GetItem(4);
        var runner = backend.IsStr
            ? session.Runner(backend.AsString(), ModeOf(mode.AsString()), freezing.IsTrue())
            : session.CallableRunner(backend, ModeOf(mode.AsString()));
        var backendName = runner.Backend.Name;
        var full = fullgraph.IsTrue();
        // a callable backend gets graphs of the sizes it is called with (its FX graphs hold no symbolic sizes yet)
        var options = new CallOptions(full, !backend.IsStr || !dynamic.IsNone && !dynamic.IsTrue() ? DynamicMode.Never : dynamic.IsTrue() ? DynamicMode.Always : DynamicMode.Automatic);
        return PyFunction.Create("run", (callArgs, callKwargs) =>
        {
            ExpectArguments("run", callArgs, callKwargs, 3);
            using var fn = callArgs.TupleItem(0);
            using var positional = callArgs.TupleItem(1);
            using var keywords = callArgs.TupleItem(2);
            return runner.Call(fn, positional, keywords, options);
        }, $"run(fn, args, kwargs): fn(*args, **kwargs) through Capture ({backendName}, {mode.AsString()}{(full ? ", fullgraph" : "")}).", Name);
    }

    private static PyObject Explain(CaptureSession session, PyObject args, PyObject? kwargs)
    {
        ExpectArguments("explain", args, kwargs, 5);
        using var fn = args.GetItem(0);
        using var callArgs = args.GetItem(1);
        using var callKwargs = args.GetItem(2);
        using var backend = args.GetItem(3);
        using var mode = args.GetItem(4);
        var report = new ExplainReport(backend.AsString(), mode.AsString());
        var runner = session.NewRunner(backend.AsString(), ModeOf(mode.AsString()), report);
        PyObject? result = null;
        try
        {
            result = runner.Call(fn, callArgs, callKwargs);
        }
        catch (Capture.Frontend.AstCaptureException)
        {
            // the diagnostics are in the report (an AstRefused event): what explain is for
        }
        finally
        {
            runner.Reset();
        }
        using (result) return report.ToPython(result);
    }

    private static PyObject Report(CaptureSession session, PyObject args, PyObject? kwargs)
    {
        ExpectArguments("report", args, kwargs, 3);
        using var path = args.GetItem(0);
        using var title = args.GetItem(1);
        using var comparisons = args.GetItem(2);
        var html = ReportHtml(session, title, comparisons);
        // no path: the HTML itself (capture.report() in Jupyter shows it inline)
        if (path.IsNone) return Py.Str(html);
        var full = Path.GetFullPath(path.AsString());
        File.WriteAllText(full, html);
        return Py.Str(full);
    }

    private static string ReportHtml(CaptureSession session, PyObject title, PyObject comparisons)
    {
        var compared = comparisons.ToItems().Select(item =>
        {
            using (item)
            {
                using var function = item.GetItem(0);
                using var rows = item.GetItem(1);
                using var details = item.GetItem(2);
                return new Reports.HtmlReport.Comparison(function.AsString(), rows.ToItems().Select(row =>
                {
                    using (row)
                    {
                        using var label = row.GetItem(0);
                        using var ast = row.GetItem(1);
                        using var bytecode = row.GetItem(2);
                        using var script = row.GetItem(3);
                        return (label.AsString(), ast.AsString(), bytecode.AsString(), script.AsString());
                    }
                }).ToList(), details.AsString());
            }
        }).ToList();
        return Reports.HtmlReport.Render(title.AsString(), Reports.FrameReport.Build(session.Log.Events), compared);
    }

    private static CaptureMode ModeOf(string mode) => mode switch
    {
        "bytecode" => CaptureMode.Bytecode,
        "ast" => CaptureMode.Ast,
        _ => throw new ArgumentException($"mode must be 'bytecode' or 'ast', got '{mode}'"),
    };

    private static void ExpectArguments(string function, PyObject args, PyObject? kwargs, int count)
    {
        if (kwargs is not null && kwargs.Length > 0)
            throw new InvalidCastException($"{function}() takes no keyword arguments");
        if (args.Length != count)
            throw new InvalidCastException($"{function}() takes {count} positional argument{(count == 1 ? "" : "s")} ({args.Length} given)");
    }
}

