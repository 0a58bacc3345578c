using System.Reflection;
using System.Runtime.InteropServices;

namespace Capture.Python.Native;

// Loads Debian's libpython3.11 once per process. It must be opened with RTLD_GLOBAL: C extension
// modules (torch, ctypes, numpy) are not linked against libpython and resolve its symbols from the
// global namespace, which .NET's own NativeLibrary.Load (RTLD_LOCAL) would not provide.
internal static partial class LibPython
{
    internal const string DefaultPath = "libpython3.11.so.1.0";
    internal const string DebianPackage = "libpython3.11";
    private const int RtldNow = 0x2;
    private const int RtldGlobal = 0x100;

    private static readonly object Gate = new();
    private static IntPtr _handle;

    internal static string LoadedPath { get; private set; } = DefaultPath;

    /// <summary>
    /// Binds the C API to the interpreter already running in this process (Capture loaded into
    /// python3.11 through .NET's hosting API): its symbols are in the global namespace, from the
    /// executable itself (Debian's python3.11 is linked statically) or the libpython it was linked
    /// against. Loading libpython3.11.so a second time would make a second, uninitialized CPython.
    /// </summary>
    internal static void UseRunningProcess()
    {
        lock (Gate)
        {
            if (_handle != IntPtr.Zero) return;
            var handle = DlOpen(null, RtldNow | RtldGlobal);
            if (handle == IntPtr.Zero || !NativeLibrary.TryGetExport(handle, "Py_IsInitialized", out _))
                throw new PythonNotFoundException("this process has no CPython symbols: Capture can attach only to a running python3.11");
            LoadedPath = Environment.ProcessPath ?? "(the running process)";
            _handle = handle;
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr DlOpen(string? file, int mode);

    [LibraryImport("libc.so.6", EntryPoint = "dlerror")]
    private static partial IntPtr DlError();

    internal static IntPtr Handle
    {
        get
        {
            lock (Gate)
            {
                if (_handle != IntPtr.Zero) return _handle;
                var path = Environment.GetEnvironmentVariable("CAPTURE_LIBPYTHON") is { Length: > 0 } p ? p : DefaultPath;
                var handle = DlOpen(path, RtldNow | RtldGlobal);
                if (handle == IntPtr.Zero)
                {
                    var reason = Marshal.PtrToStringUTF8(DlError()) ?? "unknown dlopen error";
                    throw new PythonNotFoundException(
                        $"cannot load {path}: {reason}. Install it with: apt-get install -y {DebianPackage} python3.11");
                }
                LoadedPath = path;
                _handle = handle;
                return handle;
            }
        }
    }

    internal static void InstallResolver(Assembly assembly) =>
        NativeLibrary.SetDllImportResolver(assembly, (name, _, _) => name == CApi.Lib ? Handle : IntPtr.Zero);

    // Address of an exported data symbol (a type object such as PyLong_Type, or _Py_NoneStruct).
    internal static IntPtr Symbol(string name) => NativeLibrary.GetExport(Handle, name);

    // Exception classes are exported as `PyObject *PyExc_X`: the symbol holds the pointer.
    internal static IntPtr ExceptionType(string name) => Marshal.ReadIntPtr(Symbol("PyExc_" + name));
}
