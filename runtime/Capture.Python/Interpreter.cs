using System.Collections.Concurrent;
using Capture.Python.Native;

namespace Capture.Python;

/// <summary>
/// The one embedded CPython interpreter of this process: started once, stopped at most once, by the
/// same thread. Between start and stop no thread holds the GIL by default; code that touches Python
/// takes it with <see cref="Gil"/> (PyGILState, so any C# thread may call in, nested or not) and gives
/// it back around long native work with <see cref="ReleaseGil"/>.
/// </summary>
public static class Interpreter
{
    /// <summary>Debian's interpreter: its path decides sys.prefix, hence the stdlib and dist-packages.</summary>
    public const string DefaultProgram = "/usr/bin/python3.11";

    private static readonly object Gate = new();
    private static readonly ConcurrentQueue<IntPtr> PendingDecRefs = new();
    private static IntPtr _startThreadState;
    private static int _startThreadId;
    private static volatile bool _running;
    private static bool _stopped;

    public static bool IsRunning => _running;

    /// <summary>
    /// True when Python hosts .NET (`import capture` in python3.11): the interpreter is the process's
    /// own, started and finalized by python3.11, which also owns the signal handlers.
    /// </summary>
    public static bool IsHosted { get; private set; }

    /// <summary>The running interpreter's version ("3.11.2 (main, ...)"), null before it starts.</summary>
    public static string? Version => _running ? System.Runtime.InteropServices.Marshal.PtrToStringUTF8(CApi.Py_GetVersion()) : null;

    /// <summary>The libpython file that was loaded (CAPTURE_LIBPYTHON overrides the default).</summary>
    public static string LibraryPath => LibPython.LoadedPath;

    /// <summary>Starts the interpreter if it is not running. Idempotent and thread-safe.</summary>
    public static void Start()
    {
        lock (Gate)
        {
            if (_running) return;
            if (_stopped) throw new InvalidOperationException("the embedded Python interpreter was stopped and cannot be started again in this process");
            var program = Environment.GetEnvironmentVariable("CAPTURE_PYTHON") is { Length: > 0 } p ? p : DefaultProgram;
            // Py_SetProgramName keeps the pointer: the decoded string must live as long as the process.
            CApi.Py_SetProgramName(CApi.Py_DecodeLocale(program, IntPtr.Zero));
            // initsigs=0: .NET owns the process's signal handlers.
            CApi.Py_InitializeEx(0);
            if (CApi.Py_IsInitialized() == 0) throw new InvalidOperationException("Py_InitializeEx did not initialize the interpreter");
            _startThreadId = Environment.CurrentManagedThreadId;
            _startThreadState = CApi.PyEval_SaveThread();
            _running = true;
        }
    }

    /// <summary>
    /// Uses the interpreter that is already running in this process (Python loaded .NET): no second
    /// Py_Initialize. Idempotent; the caller may hold the GIL or not.
    /// </summary>
    public static void Attach()
    {
        lock (Gate)
        {
            if (_running) return;
            if (_stopped) throw new InvalidOperationException("the Python interpreter was detached and cannot be attached again in this process");
            LibPython.UseRunningProcess();
            if (CApi.Py_IsInitialized() == 0) throw new InvalidOperationException("no initialized Python interpreter in this process to attach to");
            IsHosted = true;
            _running = true;
        }
    }

    /// <summary>
    /// Stops every use of the hosting interpreter (Python is exiting: its atexit): object handles
    /// released later by .NET's finalizers leave it alone. GIL held.
    /// </summary>
    public static void Detach()
    {
        lock (Gate)
        {
            if (!_running || !IsHosted) return;
            DrainPendingDecRefs();
            _running = false;
            _stopped = true;
        }
    }

    /// <summary>
    /// Runs atexit handlers, flushes, and finalizes the interpreter. Must run on the thread that
    /// started it, with no GIL held by that thread. Returns false when flushing buffered output failed.
    /// </summary>
    public static bool Stop()
    {
        lock (Gate)
        {
            if (!_running) return true;
            if (IsHosted) throw new InvalidOperationException("the interpreter belongs to the python3.11 process that hosts Capture: it stops when that process exits");
            if (Environment.CurrentManagedThreadId != _startThreadId)
                throw new InvalidOperationException("the interpreter must be stopped by the thread that started it");
            CApi.PyEval_RestoreThread(_startThreadState);
            DrainPendingDecRefs();
            _running = false;
            _stopped = true;
            return CApi.Py_FinalizeEx() == 0;
        }
    }

    /// <summary>
    /// Makes Ctrl-C raise KeyboardInterrupt in the embedded interpreter as in python3.11 (it started
    /// with initsigs=0, so SIGINT killed the process). Call once, from the thread that started it.
    /// </summary>
    public static void RouteInterruptsToPython()
    {
        using var gil = Gil();
        Signals.RouteInterruptsToPython();
    }

    /// <summary>
    /// Runs Python's pending signal handlers now (GIL held, main thread; elsewhere nothing happens):
    /// compiled code calls this between kernels so that Ctrl-C raises KeyboardInterrupt in a long call.
    /// Throws what a handler raised.
    /// </summary>
    public static void ThrowIfInterrupted()
    {
        if (CApi.PyErr_CheckSignals() != 0) throw PythonException.Fetch();
    }

    /// <summary>Takes the GIL for the current thread until the returned lock is disposed.</summary>
    public static GilLock Gil()
    {
        if (!_running) throw new InvalidOperationException("the embedded Python interpreter is not running: call Interpreter.Start() first");
        var state = CApi.PyGILState_Ensure();
        if (!PendingDecRefs.IsEmpty) DrainPendingDecRefs();
        return new GilLock(state);
    }

    /// <summary>Releases the GIL this thread holds until disposed, so Python threads run meanwhile.</summary>
    public static GilRelease ReleaseGil() => new(CApi.PyEval_SaveThread());

    public static bool HoldsGil => _running && CApi.PyGILState_Check() == 1;

    internal static void DeferDecRef(IntPtr handle)
    {
        if (_running) PendingDecRefs.Enqueue(handle);
    }

    private static void DrainPendingDecRefs()
    {
        while (PendingDecRefs.TryDequeue(out var handle)) CApi.Py_DecRef(handle);
    }
}

/// <summary>A held GIL (PyGILState_Ensure); dispose exactly once to release it.</summary>
public readonly struct GilLock(int state) : IDisposable
{
    public void Dispose() => CApi.PyGILState_Release(state);
}

/// <summary>A released GIL (PyEval_SaveThread); dispose exactly once to take it back.</summary>
public readonly struct GilRelease(IntPtr threadState) : IDisposable
{
    public void Dispose() => CApi.PyEval_RestoreThread(threadState);
}
