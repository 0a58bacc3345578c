namespace Capture.Python.Native;

/// <summary>
/// Ctrl-C in the embedded interpreter. It starts with initsigs=0, so SIGINT had its default action
/// (the process died: no KeyboardInterrupt, no finally, no atexit). Now Python's own SIGINT handler is
/// installed, as python3.11 installs it at start-up: the signal trips Python's flag and interrupts a
/// blocking call (time.sleep, input), the main thread raises KeyboardInterrupt at its next bytecode,
/// and compiled code raises it between kernels (<see cref="Interpreter.ThrowIfInterrupted"/>). When
/// Python hosts .NET (`import capture` in python3.11) the handler is Python's already.
/// </summary>
internal static class Signals
{
    /// <summary>Installs signal.default_int_handler for SIGINT (GIL held), unless SIGINT is ignored.</summary>
    public static void RouteInterruptsToPython()
    {
        using var signal = Py.Import("signal");
        using var number = signal.GetAttr("SIGINT");
        using var current = signal.CallMethod("getsignal", number);
        using var ignored = signal.GetAttr("SIG_IGN");
        // a process started with SIGINT ignored, as a background job is, keeps ignoring it, as python3 does
        if (current.Is(ignored)) return;
        using var handler = signal.GetAttr("default_int_handler");
        signal.CallMethod("signal", number, handler).Dispose();
    }
}
