using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Capture.Codegen;

/// <summary>
/// A shared library that Capture uses only when something else already loaded it into the process
/// (torch loads libgomp and oneDNN): dlopen with RTLD_NOLOAD, looked up again at most once a second
/// until it is there, then kept.
/// </summary>
public sealed partial class LoadedLibrary(string soname)
{
    private readonly Dictionary<string, nint> _exports = [];
    private nint _handle;
    private long _lookedUp; // when it last looked (0: never)

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)] private static partial nint dlopen(string file, int mode);

    /// <summary>The library's handle, or 0 while it is not loaded.</summary>
    public nint Handle
    {
        get
        {
            if (_handle != 0 || !OperatingSystem.IsLinux()) return _handle;
            var now = Stopwatch.GetTimestamp();
            if (Volatile.Read(ref _lookedUp) is not 0 and var last && now - last < Stopwatch.Frequency) return 0;
            Volatile.Write(ref _lookedUp, now);
            const int Lazy = 1, NoLoad = 4; // RTLD_LAZY | RTLD_NOLOAD: only a library already loaded
            return _handle = dlopen(soname, Lazy | NoLoad);
        }
    }

    /// <summary>A function's address, or 0 while the library is not loaded or has no such symbol.</summary>
    public nint Export(string symbol)
    {
        lock (_exports)
        {
            if (_exports.TryGetValue(symbol, out var known)) return known;
            var handle = Handle;
            if (handle == 0) return 0;
            var address = NativeLibrary.TryGetExport(handle, symbol, out var found) ? found : 0;
            _exports[symbol] = address;
            return address;
        }
    }
}
