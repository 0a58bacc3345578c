namespace Capture.Python.Native;

/// <summary>
/// Where CPython 3.11 keeps a dict's version tag: PyDictObject is PyObject_HEAD, Py_ssize_t ma_used,
/// uint64_t ma_version_tag (Include/cpython/dictobject.h). Checked once against a real dict (its tag
/// must change when the dict does) before anything relies on it.
/// </summary>
internal static class DictVersions
{
    public const int Offset = 3 * 8;

    private static readonly Lazy<bool> Checked = new(Check);

    public static bool Readable => Checked.Value;

    private static unsafe bool Check()
    {
        if (IntPtr.Size != 8 || !(Interpreter.Version?.StartsWith("3.11", StringComparison.Ordinal) ?? false)) return false;
        using var dict = PyObject.Steal(CApi.PyDict_New());
        var before = *(ulong*)(dict.Address + Offset);
        using var key = Py.Str("k");
        using var value = Py.Int(1);
        dict.SetItem(key, value);
        var after = *(ulong*)(dict.Address + Offset);
        return before != 0 && after > before;
    }
}
