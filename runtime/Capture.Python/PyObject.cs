using Capture.Python.Native;

namespace Capture.Python;

/// <summary>
/// One strong reference to a Python object. Disposing it drops the reference (taking the GIL if this
/// thread does not hold it); a handle that is never disposed is released by its finalizer through
/// <see cref="Interpreter"/>'s deferred queue, because finalizers run on a thread without the GIL.
/// Every other member requires the caller to hold the GIL (<see cref="Interpreter.Gil"/>).
/// </summary>
public sealed partial class PyObject : IDisposable
{
    private IntPtr _handle;

    private PyObject(IntPtr handle) => _handle = handle;

    ~PyObject()
    {
        if (_handle != IntPtr.Zero) Interpreter.DeferDecRef(_handle);
    }

    internal IntPtr Handle => _handle != IntPtr.Zero ? _handle : throw new ObjectDisposedException(nameof(PyObject));

    /// <summary>Takes ownership of a new reference; NULL means the C API call failed and raised.</summary>
    internal static PyObject Steal(IntPtr newReference) =>
        newReference != IntPtr.Zero ? new PyObject(newReference) : throw PythonException.Fetch();

    /// <summary>Wraps a borrowed reference, adding a reference of its own.</summary>
    internal static PyObject Borrow(IntPtr borrowed)
    {
        if (borrowed == IntPtr.Zero) throw PythonException.Fetch();
        CApi.Py_IncRef(borrowed);
        return new PyObject(borrowed);
    }

    /// <summary>Gives up ownership and returns the raw new reference (for handing to the C API).</summary>
    internal IntPtr Detach()
    {
        var handle = Handle;
        _handle = IntPtr.Zero;
        GC.SuppressFinalize(this);
        return handle;
    }

    /// <summary>A second owned handle to the same object.</summary>
    public PyObject NewReference() => Borrow(Handle);

    /// <summary>A new reference as a raw pointer, for a C API call that steals it (no handle made).</summary>
    internal IntPtr NewRawReference()
    {
        var handle = Handle;
        CApi.Py_IncRef(handle);
        return handle;
    }

    public void Dispose()
    {
        var handle = _handle;
        if (handle == IntPtr.Zero) return;
        _handle = IntPtr.Zero;
        GC.SuppressFinalize(this);
        if (!Interpreter.IsRunning) return;
        if (CApi.PyGILState_Check() == 1)
        {
            CApi.Py_DecRef(handle);
            return;
        }
        using var gil = Interpreter.Gil();
        CApi.Py_DecRef(handle);
    }

    /// <summary>The object's current reference count (diagnostics and leak tests).</summary>
    public nint RefCount => CApi.RefCount(Handle);

    public bool Is(PyObject other) => Handle == other.Handle;

    /// <summary>The object's address: Python's id(), stable while a reference is held.</summary>
    public nint Address => Handle;

    // --- Attributes -----------------------------------------------------------------------------

    public PyObject GetAttr(string name)
    {
        using var key = new InternedName(name);
        return Steal(CApi.PyObject_GetAttr(Handle, key.Handle));
    }

    public void SetAttr(string name, PyObject value)
    {
        using var key = new InternedName(name);
        Check(CApi.PyObject_SetAttr(Handle, key.Handle, value.Handle));
    }

    public bool HasAttr(string name)
    {
        using var key = new InternedName(name);
        return CApi.PyObject_HasAttr(Handle, key.Handle) == 1;
    }

    // --- Calls ----------------------------------------------------------------------------------

    /// <summary>Calls with positional arguments (vectorcall: no argument tuple is built).</summary>
    public unsafe PyObject Call(params PyObject[] args)
    {
        Span<IntPtr> handles = args.Length <= 8 ? stackalloc IntPtr[args.Length] : new IntPtr[args.Length];
        for (var i = 0; i < args.Length; i++) handles[i] = args[i].Handle;
        fixed (IntPtr* p = handles) return Steal(CApi.PyObject_Vectorcall(Handle, p, (nuint)args.Length, IntPtr.Zero));
    }

    public PyObject Call(IReadOnlyList<PyObject> args, IEnumerable<KeyValuePair<string, PyObject>> kwargs)
    {
        using var tuple = Py.Tuple(args);
        using var dict = Py.Dict(kwargs);
        return Steal(CApi.PyObject_Call(Handle, tuple.Handle, dict.Handle));
    }

    /// <summary>Calls with an argument tuple and keyword dict built beforehand (reused across calls).</summary>
    public PyObject CallPrepared(PyObject argsTuple, PyObject? kwargsDict) =>
        Steal(CApi.PyObject_Call(Handle, argsTuple.Handle, kwargsDict?.Handle ?? IntPtr.Zero));

    /// <summary>Calls a method with positional arguments (vectorcall: no bound method or argument tuple is built).</summary>
    public unsafe PyObject CallMethod(string name, params PyObject[] args)
    {
        Span<IntPtr> handles = args.Length < 8 ? stackalloc IntPtr[args.Length + 1] : new IntPtr[args.Length + 1];
        handles[0] = Handle;
        for (var i = 0; i < args.Length; i++) handles[i + 1] = args[i].Handle;
        using var key = new InternedName(name);
        fixed (IntPtr* p = handles) return Steal(CApi.PyObject_VectorcallMethod(key.Handle, p, (nuint)handles.Length, IntPtr.Zero));
    }

    // --- Items ----------------------------------------------------------------------------------

    public PyObject GetItem(PyObject key) => Steal(CApi.PyObject_GetItem(Handle, key.Handle));

    public PyObject GetItem(long index)
    {
        using var key = Py.Int(index);
        return GetItem(key);
    }

    public PyObject GetItem(string key)
    {
        using var k = Py.Str(key);
        return GetItem(k);
    }

    public void SetItem(PyObject key, PyObject value) => Check(CApi.PyObject_SetItem(Handle, key.Handle, value.Handle));

    public void SetItem(string key, PyObject value)
    {
        using var k = Py.Str(key);
        SetItem(k, value);
    }

    public long Length
    {
        get
        {
            var n = CApi.PyObject_Length(Handle);
            return n >= 0 ? n : throw PythonException.Fetch();
        }
    }

    /// <summary>Iterates any iterable; each item is a new handle owned by the caller.</summary>
    public IEnumerable<PyObject> Iterate()
    {
        using var iterator = Steal(CApi.PyObject_GetIter(Handle));
        while (true)
        {
            var next = CApi.PyIter_Next(iterator.Handle);
            if (next == IntPtr.Zero)
            {
                if (CApi.PyErr_Occurred() != IntPtr.Zero) throw PythonException.Fetch();
                yield break;
            }
            yield return new PyObject(next);
        }
    }

    // --- Identity, truth, text ------------------------------------------------------------------

    public bool IsTrue()
    {
        var r = CApi.PyObject_IsTrue(Handle);
        return r >= 0 ? r == 1 : throw PythonException.Fetch();
    }

    public bool IsInstance(PyObject type)
    {
        var r = CApi.PyObject_IsInstance(Handle, type.Handle);
        return r >= 0 ? r == 1 : throw PythonException.Fetch();
    }

    public bool PyEquals(PyObject other)
    {
        var r = CApi.PyObject_RichCompareBool(Handle, other.Handle, CApi.PyEQ);
        return r >= 0 ? r == 1 : throw PythonException.Fetch();
    }

    public PyObject Type => Borrow(CApi.TypeOf(Handle));

    /// <summary>The type's qualified name, without the module for builtins: "int", "torch.Tensor".</summary>
    public string TypeName
    {
        get
        {
            using var type = Type;
            return QualifiedName(type);
        }
    }

    internal static string QualifiedName(PyObject type)
    {
        using var qualname = type.GetAttr("__qualname__");
        var name = qualname.AsString();
        if (!type.HasAttr("__module__")) return name;
        using var module = type.GetAttr("__module__");
        return module.IsStr && module.AsString() is var m && m != "builtins" ? $"{m}.{name}" : name;
    }

    /// <summary>Python's str() of the object.</summary>
    public override string ToString()
    {
        using var s = Steal(CApi.PyObject_Str(Handle));
        return s.AsString();
    }

    public string Repr()
    {
        using var s = Steal(CApi.PyObject_Repr(Handle));
        return s.AsString();
    }

    internal static void Check(int status)
    {
        if (status < 0) throw PythonException.Fetch();
    }
}
