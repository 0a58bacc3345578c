using Capture.Codegen;
using Capture.Codegen.Llvm;
using Capture.Python;
using Capture.Runtime.Backends;
using Capture.Runtime.Dispatch;
using Capture.Runtime.Torch;

namespace Capture.Runtime;

/// <summary>
/// Capture inside the embedded interpreter: starts it, registers the native module the `capture`
/// package talks to, and puts the package on sys.path. One per process, like the interpreter.
/// </summary>
public static class CaptureRuntime
{
    private static readonly object Gate = new();
    private static bool _started;
    private static TorchRuntime? _torch;
    private static TorchBridge? _bridge;
    private static readonly Dictionary<string, FrameRunner> _runners = [];
    private static readonly Dictionary<string, IGraphBackend> _backends = [];

    /// <summary>The backends `capture.compile(backend=...)` accepts; the first is the default.</summary>
    public static readonly IReadOnlyList<string> BackendNames = ["roslyn", "eager", "llvm"];

    public static string Version => typeof(CaptureRuntime).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Starts the interpreter with Capture available. Idempotent and thread-safe.</summary>
    public static void Start()
    {
        lock (Gate)
        {
            if (_started) return;
            Interpreter.Start();
            using (Interpreter.Gil())
            {
                NativeModule.Register();
                using var sys = Py.Import("sys");
                using var path = sys.GetAttr("path");
                using var index = Py.Int(0);
                using var parent = Py.Str(CapturePaths.PythonPackageParent);
                path.CallMethod("insert", index, parent).Dispose();
            }
            _started = true;
        }
    }

    /// <summary>Torch, imported on first use (GIL held).</summary>
    public static TorchRuntime Torch
    {
        get
        {
            lock (Gate) return _torch ??= TorchRuntime.Import();
        }
    }

    /// <summary>
    /// The process's frame runner for <paramref name="backend"/>, with the caches capture.reset()
    /// clears (GIL held). Each backend has its own: a graph compiled for one never runs on another.
    /// </summary>
    public static FrameRunner Runner(string backend = "roslyn", CaptureMode mode = CaptureMode.Bytecode)
    {
        lock (Gate)
        {
            var key = $"{mode}:{backend}";
            if (_runners.TryGetValue(key, out var runner)) return runner;
            return _runners[key] = NewRunnerLocked(backend, mode);
        }
    }

    /// <summary>Every runner made so far (reset clears them all).</summary>
    public static IReadOnlyList<FrameRunner> Runners
    {
        get
        {
            lock (Gate) return _runners.Values.ToList();
        }
    }

    /// <summary>A runner with caches of its own (explain uses one, so it reports a fresh capture).</summary>
    public static FrameRunner NewRunner(string backend = "roslyn", CaptureMode mode = CaptureMode.Bytecode)
    {
        lock (Gate) return NewRunnerLocked(backend, mode);
    }

    /// <summary>The backend named <paramref name="name"/>; one instance per process (GIL held).</summary>
    public static IGraphBackend Backend(string name)
    {
        lock (Gate) return BackendLocked(name);
    }

    private static IGraphBackend BackendLocked(string name)
    {
        if (_backends.TryGetValue(name, out var known)) return known;
        _torch ??= TorchRuntime.Import();
        IGraphBackend backend = name switch
        {
            "eager" => new AutogradBackend(new EagerBackend(_torch), _torch),
            "roslyn" => new AutogradBackend(new KernelBackend(_torch, RoslynKernelCompiler.Instance, KernelCache.FromEnvironment("roslyn")), _torch),
            "llvm" => Llvm(),
            _ => throw new ArgumentException($"unknown backend '{name}': one of {string.Join(", ", BackendNames)}"),
        };
        return _backends[name] = backend;
    }

    /// <summary>The LLVM backend, when libLLVM-16 loads (NotSupportedException naming Debian's package when not).</summary>
    private static IGraphBackend Llvm()
    {
        LlvmKernelCompiler.EnsureAvailable();
        return new AutogradBackend(new KernelBackend(_torch!, LlvmKernelCompiler.Instance, KernelCache.FromEnvironment("llvm")), _torch!);
    }

    private static FrameRunner NewRunnerLocked(string backend, CaptureMode mode)
    {
        _torch ??= TorchRuntime.Import();
        _bridge ??= new TorchBridge(_torch);
        return new FrameRunner(_bridge, BackendLocked(backend), mode);
    }

    /// <summary>Stops the interpreter (atexit handlers, flush, finalize). False when flushing failed.</summary>
    public static bool Stop()
    {
        lock (Gate)
        {
            if (_torch is not null)
            {
                using (Interpreter.Gil())
                {
                    foreach (var runner in _runners.Values) runner.Reset();
                    Reports.SessionLog.Clear();
                    _bridge?.Dispose();
                    _torch.Dispose();
                }
                _runners.Clear();
                _backends.Clear();
                _bridge = null;
                _torch = null;
            }
            return Interpreter.Stop();
        }
    }
}
