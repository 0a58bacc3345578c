using Capture.Python.Native;

namespace Capture.Python;

// Reads of an attribute or a method's result straight into C# values, with no handle made for the
// intermediate Python object: the per-call paths (guards, compiled-graph calls) read tensors' metadata
// with these. Conversions are as strict as PyObject.Conversions'; on a value of another kind they
// raise the same error, through the ordinary conversion.
public sealed partial class PyObject
{
    /// <summary>Attribute <paramref name="name"/> as a bool (a bool, not anything truthy).</summary>
    public bool GetAttrBool(string name)
    {
        var value = RawAttr(name);
        if (CApi.TypeOf(value) != PyTypes.Bool) return Steal(value).ToBoolean();
        CApi.Py_DecRef(value);
        return value == PyTypes.True;
    }

    /// <summary>The index in <paramref name="candidates"/> of the object attribute <paramref name="name"/> is (identity); -1 for none.</summary>
    public int GetAttrIdentity(string name, IReadOnlyList<PyObject> candidates)
    {
        var value = RawAttr(name);
        var index = -1;
        for (var i = 0; i < candidates.Count && index < 0; i++)
            if (candidates[i].Handle == value) index = i;
        CApi.Py_DecRef(value);
        return index;
    }

    /// <summary>Attribute <paramref name="name"/> as an int (a tensor's _version).</summary>
    public long GetAttrInt64(string name)
    {
        var value = RawAttr(name);
        if (!IsExactInt(value)) using (var wrapped = Steal(value)) return wrapped.ToInt64();
        try { return Int64Of(value); }
        finally { CApi.Py_DecRef(value); }
    }

    /// <summary>The int method <paramref name="name"/>() returns.</summary>
    public long CallMethodInt64(string name)
    {
        var value = RawCallMethod(name);
        if (!IsExactInt(value)) using (var wrapped = Steal(value)) return wrapped.ToInt64();
        try { return Int64Of(value); }
        finally { CApi.Py_DecRef(value); }
    }

    /// <summary>The tuple of ints method <paramref name="name"/>() returns (torch's size(), stride()).</summary>
    public long[] CallMethodInt64s(string name)
    {
        var value = RawCallMethod(name);
        try
        {
            if (CApi.TypeOf(value) != PyTypes.Tuple && CApi.PyType_IsSubtype(CApi.TypeOf(value), PyTypes.Tuple) != 1)
                using (var wrapped = Borrow(value)) return [.. wrapped.ToInt64List()];
            var values = new long[CApi.PyTuple_Size(value)];
            for (nint i = 0; i < values.Length; i++)
            {
                var item = CApi.PyTuple_GetItem(value, i);
                if (IsExactInt(item)) values[i] = Int64Of(item);
                else using (var wrapped = Borrow(item)) values[i] = wrapped.ToInt64();
            }
            return values;
        }
        finally { CApi.Py_DecRef(value); }
    }

    /// <summary>Calls this with no arguments and reads the result as a bool (a bool, not anything truthy).</summary>
    public unsafe bool CallBool()
    {
        var value = CApi.PyObject_Vectorcall(Handle, null, 0, IntPtr.Zero);
        if (value == IntPtr.Zero) throw PythonException.Fetch();
        if (CApi.TypeOf(value) != PyTypes.Bool) return Steal(value).ToBoolean();
        CApi.Py_DecRef(value);
        return value == PyTypes.True;
    }

    /// <summary>
    /// Whether calling this with no arguments returns <paramref name="expected"/> itself. The result is
    /// dropped at once; its address can equal expected's only if it is expected, which the caller holds.
    /// </summary>
    public unsafe bool CallReturnsIdentical(PyObject expected)
    {
        var value = CApi.PyObject_Vectorcall(Handle, null, 0, IntPtr.Zero);
        if (value == IntPtr.Zero) throw PythonException.Fetch();
        CApi.Py_DecRef(value);
        return value == expected.Handle;
    }

    /// <summary>
    /// The address of attribute <paramref name="name"/>'s value, no handle kept: an identity to look up
    /// among objects the caller holds (while this object holds the value, no other object has it).
    /// </summary>
    public nint GetAttrAddress(string name)
    {
        var value = RawAttr(name);
        CApi.Py_DecRef(value);
        return value;
    }

    /// <summary>
    /// The address of this dict's value under the str key <paramref name="key"/>, no handle kept (as
    /// <see cref="GetAttrAddress"/>), or 0 when it has none.
    /// </summary>
    public nint DictItemAddress(string key)
    {
        using var name = new InternedName(key);
        var value = CApi.PyDict_GetItemWithError(Handle, name.Handle);
        if (value == 0 && CApi.PyErr_Occurred() != 0) throw PythonException.Fetch();
        return value;
    }

    /// <summary>
    /// This dict's version tag (PEP 509, CPython 3.11's ma_version_tag): a number that changes
    /// whenever the dict does, so an unchanged tag means unchanged contents. 0 where the tag cannot
    /// be read (not a dict, or a CPython whose dicts do not lay it out there).
    /// </summary>
    public unsafe ulong DictVersion =>
        DictVersions.Readable && (CApi.TypeOf(Handle) == PyTypes.Dict || CApi.PyType_IsSubtype(CApi.TypeOf(Handle), PyTypes.Dict) == 1)
            ? *(ulong*)(Handle + DictVersions.Offset) : 0;

    /// <summary>Item <paramref name="index"/> of a tuple as a new handle (no int object is made for the index).</summary>
    public PyObject TupleItem(int index)
    {
        if (!IsTuple) return GetItem(index);
        if ((uint)index >= (ulong)CApi.PyTuple_Size(Handle)) throw new ArgumentOutOfRangeException(nameof(index), $"tuple index {index} out of range");
        return Borrow(CApi.PyTuple_GetItem(Handle, index));
    }

    /// <summary>type(self) is <paramref name="type"/> (exactly, not a subclass).</summary>
    public bool TypeIs(PyObject type) => CApi.TypeOf(Handle) == type.Handle;

    /// <summary>type(self) is type(<paramref name="other"/>).</summary>
    public bool HasSameType(PyObject other) => CApi.TypeOf(Handle) == CApi.TypeOf(other.Handle);

    private IntPtr RawAttr(string name)
    {
        using var key = new InternedName(name);
        var value = CApi.PyObject_GetAttr(Handle, key.Handle);
        return value != IntPtr.Zero ? value : throw PythonException.Fetch();
    }

    private unsafe IntPtr RawCallMethod(string name)
    {
        using var key = new InternedName(name);
        var self = Handle;
        var value = CApi.PyObject_VectorcallMethod(key.Handle, &self, 1, IntPtr.Zero);
        return value != IntPtr.Zero ? value : throw PythonException.Fetch();
    }

    private static bool IsExactInt(IntPtr value) => CApi.TypeOf(value) == PyTypes.Long;

    private static long Int64Of(IntPtr value)
    {
        var result = CApi.PyLong_AsLongLong(value);
        if (result == -1 && CApi.PyErr_Occurred() != IntPtr.Zero) throw PythonException.Fetch();
        return result;
    }
}
