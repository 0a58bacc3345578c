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
    private static FrameRunner? _runner;

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

    /// <summary>The process's frame runner, with the caches capture.reset() clears (GIL held).</summary>
    public static FrameRunner Runner
    {
        get
        {
            lock (Gate) return _runner ??= NewRunnerLocked();
        }
    }

    /// <summary>A runner with caches of its own (explain uses one, so it reports a fresh capture).</summary>
    public static FrameRunner NewRunner()
    {
        lock (Gate) return NewRunnerLocked();
    }

    private static FrameRunner NewRunnerLocked()
    {
        _torch ??= TorchRuntime.Import();
        _bridge ??= new TorchBridge(_torch);
        return new FrameRunner(_bridge, new EagerBackend(_torch));
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
                    _runner?.Reset();
                    _bridge?.Dispose();
                    _torch.Dispose();
                }
                _runner = null;
                _bridge = null;
                _torch = null;
            }
            return Interpreter.Stop();
        }
    }
}
