using System.Collections.Concurrent;

namespace Capture.Python.Native;

/// <summary>
/// An attribute or method name as a Python str, for the C API calls that take one. Names are
/// interned once and kept for the life of the process (the *String variants of those calls build a
/// new str from UTF-8 on every call); past <see cref="Limit"/> distinct names, a name is made for
/// the one call and released by <see cref="Dispose"/>. Requires the GIL.
/// </summary>
internal readonly ref struct InternedName : IDisposable
{
    private const int Limit = 4096;
    private static readonly ConcurrentDictionary<string, IntPtr> Names = new(StringComparer.Ordinal);

    private readonly bool _owned;

    public IntPtr Handle { get; }

    public InternedName(string name)
    {
        if (Names.TryGetValue(name, out var known))
        {
            Handle = known;
            return;
        }
        Handle = CApi.PyUnicode_InternFromString(name);
        if (Handle == IntPtr.Zero) throw PythonException.Fetch();
        _owned = Names.Count >= Limit || !Names.TryAdd(name, Handle);
    }

    public void Dispose()
    {
        if (_owned) CApi.Py_DecRef(Handle);
    }
}
