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

    /// <summary>
    /// Attribute <paramref name="name"/> read as Python reads it from an instance whose class keeps
    /// object's __getattribute__ and whose __getattr__ is <paramref name="dicts"/>'s function, one that
    /// looks a name up in dicts stored in the instance's __dict__ (torch.nn.Module.__getattr__ and its
    /// _parameters, _buffers, _modules): the class has no attribute of that name, so the instance's
    /// __dict__ is looked in, then those dicts. Python gets there by raising an AttributeError that
    /// __getattr__'s caller catches, a microsecond per read; this reads the same dicts without it. Null
    /// when the read is not that one (another __getattr__ or __getattribute__, a class attribute or
    /// descriptor of that name, a fallback that is not a dict, or the name found nowhere): read it with
    /// <see cref="GetAttr"/>.
    /// </summary>
    public PyObject? GetAttrThroughDicts(string name, FallbackDicts dicts)
    {
        var type = CApi.TypeOf(Handle);
        if (CApi._PyType_Lookup(type, FallbackDicts.GetattrName) != dicts.Getattr) return null;
        if (CApi._PyType_Lookup(type, FallbackDicts.GetattributeName) != PyTypes.ObjectGetAttribute) return null;
        using var key = new InternedName(name);
        if (CApi._PyType_Lookup(type, key.Handle) != 0) return null;
        var dict = CApi.PyObject_GenericGetDict(Handle, 0);
        if (dict == 0)
        {
            CApi.PyErr_Clear();
            return null;
        }
        try
        {
            if (!IsDictAt(dict)) return null;
            var value = CApi.PyDict_GetItemWithError(dict, key.Handle);
            if (value == 0 && CApi.PyErr_Occurred() != 0) throw PythonException.Fetch();
            if (value != 0) return Borrow(value);
            value = InFallbacks(dict, key.Handle, dicts, IsDictAt, null, out var refused);
            return value != 0 && !refused ? Borrow(value) : null;
        }
        finally { CApi.Py_DecRef(dict); }
    }

    /// <summary>
    /// The value under <paramref name="key"/> in the first of <paramref name="dicts"/>' dicts (read from
    /// the instance dict <paramref name="dict"/>) that has it, borrowed; 0 when none has it.
    /// <paramref name="refused"/>: one of them is not a dict <paramref name="takes"/> accepts (the read is
    /// not the dicts' then). Each dict looked in goes to <paramref name="looked"/> with its version tag.
    /// </summary>
    private static nint InFallbacks(nint dict, nint key, FallbackDicts dicts, Func<nint, bool> takes, List<(nint, ulong)>? looked, out bool refused)
    {
        refused = false;
        foreach (var fallback in dicts.Names)
        {
            var table = CApi.PyDict_GetItemWithError(dict, fallback);
            if (table == 0)
            {
                if (CApi.PyErr_Occurred() != 0) throw PythonException.Fetch();
                continue;
            }
            if (!takes(table))
            {
                refused = true;
                return 0;
            }
            looked?.Add((table, ReadWitness.Version(table)));
            var value = CApi.PyDict_GetItemWithError(table, key);
            if (value == 0 && CApi.PyErr_Occurred() != 0) throw PythonException.Fetch();
            if (value != 0) return value;
        }
        return 0;
    }

    /// <summary>
    /// Attribute <paramref name="name"/>, when Python's read of it only looks it up in dicts, with the
    /// <see cref="ReadWitness"/> that tells when a later read would give the same object: the class keeps
    /// object's __getattribute__, has no descriptor of that name (no method, property or slot), and the
    /// value is in the instance's __dict__, else a plain class attribute, else (a class whose __getattr__
    /// is <paramref name="dicts"/>'s function) in one of the dicts it looks in. Null (no witness) for any
    /// other read: read it with <see cref="GetAttr"/>.
    /// </summary>
    public PyObject? GetAttrWitnessed(string name, FallbackDicts? dicts, out ReadWitness? witness)
    {
        witness = null;
        if (!ReadWitness.Available) return null;
        var type = CApi.TypeOf(Handle);
        if (CApi._PyType_Lookup(type, FallbackDicts.GetattributeName) != PyTypes.ObjectGetAttribute) return null;
        var getattr = CApi._PyType_Lookup(type, FallbackDicts.GetattrName);
        if (getattr != 0 && getattr != dicts?.Getattr) return null;
        using var key = new InternedName(name);
        var attribute = CApi._PyType_Lookup(type, key.Handle);
        if (attribute != 0 && TypeVersions.IsDescriptorType(CApi.TypeOf(attribute))) return null;
        var tag = TypeVersions.Tag(type); // after the lookups, which give the type a tag when it has none
        if (tag == 0) return null;
        var dict = CApi.PyObject_GenericGetDict(Handle, 0);
        if (dict == 0)
        {
            CApi.PyErr_Clear();
            return null;
        }
        try
        {
            if (CApi.TypeOf(dict) != PyTypes.Dict) return null;
            var looked = new List<(nint, ulong)> { (dict, ReadWitness.Version(dict)) };
            var value = CApi.PyDict_GetItemWithError(dict, key.Handle);
            if (value == 0 && CApi.PyErr_Occurred() != 0) throw PythonException.Fetch();
            if (value == 0 && attribute != 0) value = attribute;
            if (value == 0 && getattr != 0)
            {
                value = InFallbacks(dict, key.Handle, dicts!, ReadWitness.IsPlainDict, looked, out var refused);
                if (refused) return null;
            }
            if (value == 0) return null;
            witness = ReadWitness.OfAttr(type, tag, [.. looked]);
            return Borrow(value);
        }
        finally { CApi.Py_DecRef(dict); }
    }

    /// <summary>
    /// Item <paramref name="key"/> of an exact dict or OrderedDict, with the witness that tells when a
    /// later read would give the same object; null (no witness) for any other owner or a missing key:
    /// read it with <see cref="GetItem(string)"/>.
    /// </summary>
    public PyObject? GetDictItemWitnessed(string key, out ReadWitness? witness)
    {
        witness = null;
        if (!ReadWitness.Available || !ReadWitness.IsPlainDict(Handle)) return null;
        using var name = new InternedName(key);
        var value = CApi.PyDict_GetItemWithError(Handle, name.Handle);
        if (value == 0)
        {
            if (CApi.PyErr_Occurred() != 0) throw PythonException.Fetch();
            return null;
        }
        witness = ReadWitness.OfItem(Handle);
        return Borrow(value);
    }

    /// <summary>
    /// Item <paramref name="index"/> of an exact tuple, with a witness that holds the tuple (a later read
    /// from the same tuple gives the same object); null (no witness) for any other owner or an index out of range.
    /// </summary>
    public PyObject? GetTupleItemWitnessed(long index, out ReadWitness? witness)
    {
        witness = null;
        if (CApi.TypeOf(Handle) != PyTypes.Tuple || index < 0 || index >= CApi.PyTuple_Size(Handle)) return null;
        witness = ReadWitness.OfTupleItem(this);
        return Borrow(CApi.PyTuple_GetItem(Handle, (nint)index));
    }

    private static bool IsDictAt(nint o) => CApi.TypeOf(o) == PyTypes.Dict || CApi.PyType_IsSubtype(CApi.TypeOf(o), PyTypes.Dict) == 1;

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

/// <summary>
/// A class's __getattr__ that looks names up in dicts kept in the instance's __dict__, and those dicts'
/// keys, for <see cref="PyObject.GetAttrThroughDicts"/>. Holds the function and the interned keys.
/// </summary>
public sealed class FallbackDicts
{
    private readonly PyObject _getattr;

    internal static readonly nint GetattrName = Intern("__getattr__"), GetattributeName = Intern("__getattribute__");

    public FallbackDicts(PyObject getattr, IReadOnlyList<string> names)
    {
        _getattr = getattr.NewReference();
        Names = [.. names.Select(Intern)];
    }

    internal nint Getattr => _getattr.Handle;
    internal nint[] Names { get; }

    private static nint Intern(string name)
    {
        var handle = CApi.PyUnicode_InternFromString(name); // kept for the life of the process
        return handle != 0 ? handle : throw PythonException.Fetch();
    }
}
