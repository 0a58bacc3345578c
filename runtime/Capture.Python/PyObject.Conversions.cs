using Capture.Python.Native;

namespace Capture.Python;

// Kind checks and conversions from Python values to C# values. Conversions are strict: a str is not
// an int, a float is not an int; the error says what was expected and what was found.
public sealed partial class PyObject
{
    public bool IsNone => Handle == PyTypes.None;
    public bool IsBool => CApi.TypeOf(Handle) == PyTypes.Bool;
    public bool IsInt => IsSubtype(PyTypes.Long);
    public bool IsFloat => IsSubtype(PyTypes.Float);
    public bool IsStr => IsSubtype(PyTypes.Unicode);
    public bool IsBytes => IsSubtype(PyTypes.Bytes);
    public bool IsTuple => IsSubtype(PyTypes.Tuple);
    public bool IsList => IsSubtype(PyTypes.List);
    public bool IsDict => IsSubtype(PyTypes.Dict);

    /// <summary>Whether this is a class (an instance of type, metaclasses included).</summary>
    public bool IsType => IsSubtype(PyTypes.Type);

    private bool IsSubtype(IntPtr type)
    {
        var own = CApi.TypeOf(Handle);
        return own == type || CApi.PyType_IsSubtype(own, type) == 1;
    }

    /// <summary>An int (bool included, as in Python) as a 64-bit integer; OverflowError beyond it.</summary>
    public long ToInt64()
    {
        Expect(IsInt, "int");
        var value = CApi.PyLong_AsLongLong(Handle);
        if (value == -1 && CApi.PyErr_Occurred() != IntPtr.Zero) throw PythonException.Fetch();
        return value;
    }

    /// <summary>A float or an int as a double.</summary>
    public double ToDouble()
    {
        Expect(IsFloat || IsInt, "float");
        var value = CApi.PyFloat_AsDouble(Handle);
        if (value == -1.0 && CApi.PyErr_Occurred() != IntPtr.Zero) throw PythonException.Fetch();
        return value;
    }

    public bool ToBoolean()
    {
        Expect(IsBool, "bool");
        return Handle == PyTypes.True;
    }

    /// <summary>The text of a str object (not str() of any object: that is <see cref="ToString"/>).</summary>
    public unsafe string AsString()
    {
        Expect(IsStr, "str");
        var utf8 = CApi.PyUnicode_AsUTF8AndSize(Handle, out var size);
        if (utf8 == null) throw PythonException.Fetch();
        return System.Text.Encoding.UTF8.GetString(utf8, checked((int)size));
    }

    public unsafe byte[] ToBytes()
    {
        Expect(IsBytes, "bytes");
        Check(CApi.PyBytes_AsStringAndSize(Handle, out var buffer, out var size));
        return new ReadOnlySpan<byte>(buffer, checked((int)size)).ToArray();
    }

    /// <summary>The items of a tuple or list, each a new handle owned by the caller.</summary>
    public IReadOnlyList<PyObject> ToItems()
    {
        if (IsTuple)
        {
            var n = CApi.PyTuple_Size(Handle);
            var items = new PyObject[n];
            for (nint i = 0; i < n; i++) items[i] = Borrow(CApi.PyTuple_GetItem(Handle, i));
            return items;
        }
        if (IsList)
        {
            var n = CApi.PyList_Size(Handle);
            var items = new PyObject[n];
            for (nint i = 0; i < n; i++) items[i] = Borrow(CApi.PyList_GetItem(Handle, i));
            return items;
        }
        throw WrongType("tuple or list");
    }

    /// <summary>The (key, value) pairs of a dict in its table's insertion order, each a new handle (an OrderedDict iterates in its own order: use keys()).</summary>
    public IReadOnlyList<KeyValuePair<PyObject, PyObject>> ToDictItems()
    {
        Expect(IsDict, "dict");
        var pairs = new List<KeyValuePair<PyObject, PyObject>>((int)CApi.PyDict_Size(Handle));
        nint position = 0;
        while (CApi.PyDict_Next(Handle, ref position, out var key, out var value) != 0)
            pairs.Add(new(Borrow(key), Borrow(value)));
        return pairs;
    }

    public IReadOnlyList<long> ToInt64List()
    {
        var items = ToItems();
        try { return items.Select(i => i.ToInt64()).ToArray(); }
        finally { foreach (var i in items) i.Dispose(); }
    }

    private void Expect(bool ok, string expected)
    {
        if (!ok) throw WrongType(expected);
    }

    private InvalidCastException WrongType(string expected) =>
        new($"expected a Python {expected}, got {TypeName}");
}
