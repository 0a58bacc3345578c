using System.Runtime.InteropServices;

namespace Capture.Python.Native;

/// <summary>
/// Ctrl-C in the embedded interpreter. The process's signal handlers are .NET's (the interpreter
/// starts with initsigs=0), so SIGINT killed the process: no KeyboardInterrupt, no finally, no atexit.
/// Now .NET catches it, cancels the termination, tells compiled code to stop (kernels check between
/// parts) and hands it to Python (PyErr_SetInterrupt), whose SIGINT handler is set to
/// default_int_handler without taking the signal from .NET: the main thread raises
/// KeyboardInterrupt at its next bytecode, as in plain python3.
/// </summary>
internal static partial class Signals
{
    private const int Sigint = 2;

    // the one registration, kept for the life of the process (a registration collected is undone)
    private static PosixSignalRegistration? _registration;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sigaction(int signal, IntPtr action, IntPtr oldAction);

    /// <summary>Routes SIGINT to Python as above (main thread, GIL held, once); <paramref name="onInterrupt"/> runs first (no GIL).</summary>
    public static void RouteInterruptsToPython(Action onInterrupt)
    {
        if (_registration is not null || !OperatingSystem.IsLinux()) return;
        _registration = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            onInterrupt();
            CApi.PyErr_SetInterrupt();
        });
        // Python's signal.signal installs Python's C handler too: keep .NET's (an opaque struct
        // sigaction, saved and put back), so that the table says "default_int_handler" and .NET delivers
        var saved = Marshal.AllocHGlobal(512);
        try
        {
            if (sigaction(Sigint, IntPtr.Zero, saved) != 0) return;
            using var signal = Py.Import("signal");
            using var handler = signal.GetAttr("default_int_handler");
            using var number = Py.Int(Sigint);
            signal.CallMethod("signal", number, handler).Dispose();
            // (a process started with SIGINT ignored, as a background job is, keeps ignoring it, as python3 does)
            sigaction(Sigint, saved, IntPtr.Zero);
        }
        finally { Marshal.FreeHGlobal(saved); }
    }
}
