using Capture.Codegen;
using Capture.Codegen.Llvm;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;
using Capture.Runtime.Dispatch;
using Capture.Runtime.Reports;
using Capture.Runtime.Torch;

namespace Capture.Runtime;

/// <summary>
/// Capture in one process: the embedded interpreter with the `_capture_native` module bound to this
/// session, torch, the backends and their kernel compilers, the frame runners with their code
/// caches, and the event log reports read. The host (the CLI, a test fixture) starts it and passes
/// it to what needs it; the native module's functions are closures over it.
/// </summary>
public sealed class CaptureSession
{
    /// <summary>The backends `capture.compile(backend=...)` accepts; the first is the default.</summary>
    public static readonly IReadOnlyList<string> BackendNames = ["roslyn", "eager", "llvm"];

    public static string Version => typeof(CaptureSession).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private readonly Lock _gate = new();
    private TorchRuntime? _torch;
    private TorchBridge? _bridge;
    private readonly Dictionary<(CaptureMode, string, bool), FrameRunner> _runners = [];
    private int _cacheSizeLimit = FrameRunner.DefaultCacheSizeLimit;
    // backend=callable: a runner per (backend function, path), the function held by its backend
    private readonly List<(CallableBackend Backend, CaptureMode Mode, FrameRunner Runner)> _callableRunners = [];
    private readonly Dictionary<string, GraphBackend> _backends = [];
    private readonly Dictionary<string, IKernelCompiler> _compilers = [];
    private int _lastRunnerId;

    private CaptureSession() { }

    /// <summary>Every capture event of this session (capture.report, CAPTURE_LOGS).</summary>
    public EventLog Log { get; } = new();

    /// <summary>Starts the interpreter with Capture available: the native module bound to a new session, the package on sys.path.</summary>
    public static CaptureSession Start()
    {
        Interpreter.Start();
        // Ctrl-C: KeyboardInterrupt in Python (compiled code checks between kernels)
        Interpreter.RouteInterruptsToPython();
        var session = new CaptureSession();
        using (Interpreter.Gil())
        {
            NativeModule.Register(session);
            using var sys = Py.Import("sys");
            using var path = sys.GetAttr("path");
            using var index = Py.Int(0);
            using var parent = Py.Str(CapturePaths.PythonPackageParent);
            path.CallMethod("insert", index, parent).Dispose();
        }
        return session;
    }

    /// <summary>
    /// A session inside the python3.11 process that loaded .NET (`import capture` in plain Python):
    /// the running interpreter is used as it is, its signal handlers stay Python's, and the native
    /// module is registered for the package being imported to pick up.
    /// </summary>
    public static CaptureSession Attach()
    {
        Interpreter.Attach();
        var session = new CaptureSession();
        using (Interpreter.Gil()) NativeModule.Register(session);
        return session;
    }

    /// <summary>Torch, imported on first use (GIL held).</summary>
    public TorchRuntime Torch
    {
        get { lock (_gate) return _torch ??= TorchRuntime.Import(); }
    }

    /// <summary>What capture reads of torch (GIL held).</summary>
    public TorchBridge Bridge
    {
        get { lock (_gate) return _bridge ??= new TorchBridge(_torch ??= TorchRuntime.Import()); }
    }

    /// <summary>
    /// The session's frame runner for a backend and capture path, with the caches capture.reset()
    /// clears (GIL held). Each backend has its own: a graph compiled for one never runs on another.
    /// </summary>
    public FrameRunner Runner(string backend = "roslyn", CaptureMode mode = CaptureMode.Bytecode, bool freeze = true)
    {
        lock (_gate)
        {
            if (_runners.TryGetValue((mode, backend, freeze), out var runner)) return runner;
            return _runners[(mode, backend, freeze)] = Configured(NewRunnerLocked(backend, mode, Log, "compiled", freeze));
        }
    }

    /// <summary>The recompile limit of every runner, now and later (capture.config.cache_size_limit).</summary>
    public int CacheSizeLimit
    {
        get { lock (_gate) return _cacheSizeLimit; }
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            lock (_gate)
            {
                _cacheSizeLimit = value;
                foreach (var runner in _runners.Values.Concat(_callableRunners.Select(r => r.Runner))) runner.CacheSizeLimit = value;
            }
        }
    }

    private FrameRunner Configured(FrameRunner runner)
    {
        runner.CacheSizeLimit = _cacheSizeLimit;
        return runner;
    }

    /// <summary>
    /// The runner for `capture.compile(backend=fn)` with a callable (GIL held): graphs go to fn as
    /// torch.fx.GraphModules. One per function and path, so compiling twice with one backend shares its cache.
    /// </summary>
    public FrameRunner CallableRunner(PyObject compiler, CaptureMode mode)
    {
        lock (_gate)
        {
            foreach (var (known, m, runner) in _callableRunners)
                if (m == mode && known.Compiler.Is(compiler)) return runner;
            var torch = _torch ??= TorchRuntime.Import();
            _bridge ??= new TorchBridge(torch);
            var backend = new CallableBackend(compiler.NewReference(), torch);
            var made = Configured(new FrameRunner(_bridge, backend, mode, Log, ++_lastRunnerId, "compiled"));
            _callableRunners.Add((backend, mode, made));
            return made;
        }
    }

    /// <summary>Every shared runner made so far (reset clears them all).</summary>
    public IReadOnlyList<FrameRunner> Runners
    {
        get { lock (_gate) return [.. _runners.Values, .. _callableRunners.Select(r => r.Runner)]; }
    }

    /// <summary>A runner with caches of its own, telling <paramref name="events"/> as well as the log (explain reports a fresh capture).</summary>
    public FrameRunner NewRunner(string backend, CaptureMode mode, ICaptureEventSink events, string purpose = "explain")
    {
        lock (_gate) return NewRunnerLocked(backend, mode, new CaptureEventSinks(events, Log), purpose);
    }

    private FrameRunner NewRunnerLocked(string backend, CaptureMode mode, ICaptureEventSink events, string purpose, bool freeze = true)
    {
        var graphs = BackendLocked(backend);
        _bridge ??= new TorchBridge(_torch ??= TorchRuntime.Import());
        return new FrameRunner(_bridge, graphs, mode, events, ++_lastRunnerId, purpose) { Freeze = freeze };
    }

    /// <summary>The backend named <paramref name="name"/>; one per session (GIL held).</summary>
    public GraphBackend Backend(string name)
    {
        lock (_gate) return BackendLocked(name);
    }

    /// <summary>The kernel compiler of a kernel backend ("roslyn", "llvm"), one per session: the LLVM one owns the process's JIT.</summary>
    public IKernelCompiler KernelCompiler(string name)
    {
        lock (_gate) return KernelCompilerLocked(name);
    }

    private IKernelCompiler KernelCompilerLocked(string name)
    {
        if (_compilers.TryGetValue(name, out var known)) return known;
        IKernelCompiler compiler = name switch
        {
            "roslyn" => new RoslynKernelCompiler(),
            // loads libLLVM now: NotSupportedException naming Debian's package when it is missing
            "llvm" => new LlvmKernelCompiler(),
            _ => throw new ArgumentException($"no kernel compiler '{name}': roslyn or llvm"),
        };
        return _compilers[name] = compiler;
    }

    private GraphBackend BackendLocked(string name)
    {
        if (_backends.TryGetValue(name, out var known)) return known;
        var torch = _torch ??= TorchRuntime.Import();
        var pipeline = name switch
        {
            "eager" => new CompilePipeline("eager", torch),
            "roslyn" or "llvm" => new CompilePipeline(name, torch, KernelCompilerLocked(name), KernelCache.FromEnvironment(name)),
            _ => throw new ArgumentException($"unknown backend '{name}': one of {string.Join(", ", BackendNames)}"),
        };
        return _backends[name] = new GraphBackend(pipeline, torch);
    }

    /// <summary>How many LLVM objects the session's JIT has linked now (0 before the LLVM backend is used).</summary>
    public int LoadedLlvmObjects
    {
        get { lock (_gate) return _compilers.GetValueOrDefault("llvm") is LlvmKernelCompiler llvm ? llvm.Jit.LinkedCount : 0; }
    }

    /// <summary>
    /// Forgets every cached capture and the events of the log (capture.reset()), then collects, so
    /// that compiled code nothing holds any more is unloaded (Roslyn's load contexts, LLVM's linked
    /// objects) and a reset-and-recompile loop stays flat.
    /// </summary>
    public void Reset()
    {
        foreach (var runner in Runners) runner.Reset();
        Log.Clear();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>Stops the interpreter (atexit handlers, flush, finalize). False when flushing failed.</summary>
    public bool Stop()
    {
        lock (_gate)
        {
            // the script's atexit handlers first, while the session still holds what it captured
            // (CAPTURE_TRACE writes its report from there); Python clears them once they ran
            if (_torch is not null)
                using (Interpreter.Gil())
                {
                    try
                    {
                        using var atexit = Py.Import("atexit");
                        atexit.CallMethod("_run_exitfuncs").Dispose();
                    }
                    catch (PythonException e)
                    {
                        Console.Error.WriteLine($"capture: an atexit handler raised {e.PythonType}: {e.Message}");
                    }
                }
            ReleasePythonObjectsLocked();
            return Interpreter.Stop();
        }
    }

    /// <summary>
    /// The hosting python3.11 is exiting (its atexit, GIL held): drops every Python object the
    /// session holds while the interpreter can still take them, then leaves the interpreter alone.
    /// </summary>
    public void Detach()
    {
        lock (_gate)
        {
            ReleasePythonObjectsLocked();
            Interpreter.Detach();
        }
    }

    private void ReleasePythonObjectsLocked()
    {
        if (_torch is null) return;
        using (Interpreter.Gil())
        {
            foreach (var runner in _runners.Values) runner.Reset();
            foreach (var (backend, _, runner) in _callableRunners)
            {
                runner.Reset();
                backend.Compiler.Dispose();
            }
            Log.Clear();
            _bridge?.Dispose();
            _torch.Dispose();
        }
        _runners.Clear();
        _callableRunners.Clear();
        _backends.Clear();
        _bridge = null;
        _torch = null;
    }
}
