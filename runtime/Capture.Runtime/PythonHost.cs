using System.Runtime.InteropServices;
using System.Text;

namespace Capture.Runtime;

/// <summary>
/// The entry point when Python hosts .NET: `import capture` in python3.11 (scripts, pytest, Jupyter)
/// loads the runtime through libhostfxr (runtime/python/capture/_host.py) and calls
/// <see cref="Attach"/>, which binds a session to the interpreter already running and registers
/// `_capture_native` in sys.modules. Everything past this point is shared with `./capture run`.
/// </summary>
public static unsafe class PythonHost
{
    private static readonly Lock Gate = new();
    private static CaptureSession? _session;

    /// <summary>
    /// Attaches once per process (later calls find the module registered). Returns 0, or 1 with a
    /// UTF-8 message (NUL-terminated, truncated to <paramref name="capacity"/>) in <paramref name="error"/>.
    /// </summary>
    [UnmanagedCallersOnly]
    public static int Attach(byte* error, int capacity)
    {
        try
        {
            lock (Gate) _session ??= CaptureSession.Attach();
            return 0;
        }
        catch (Exception e)
        {
            var message = e is PythonNotFoundException or InvalidOperationException
                ? e.Message
                : $"internal error: {e.GetType().Name}: {e.Message}";
            if (Environment.GetEnvironmentVariable("CAPTURE_DEBUG") is { Length: > 0 }) message += "\n" + e;
            var bytes = Encoding.UTF8.GetBytes(message);
            var length = Math.Max(0, Math.Min(bytes.Length, capacity - 1));
            if (capacity > 0)
            {
                Marshal.Copy(bytes, 0, (IntPtr)error, length);
                error[length] = 0;
            }
            return 1;
        }
    }
}
