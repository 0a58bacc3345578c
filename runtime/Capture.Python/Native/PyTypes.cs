namespace Capture.Python.Native;

// Addresses of libpython's static objects: the singletons and the built-in type objects. They are
// data symbols of the loaded library, fixed for the life of the process.
internal static class PyTypes
{
    internal static readonly IntPtr None = LibPython.Symbol("_Py_NoneStruct"), True = LibPython.Symbol("_Py_TrueStruct"), False = LibPython.Symbol("_Py_FalseStruct");

    internal static readonly IntPtr Bool = LibPython.Symbol("PyBool_Type"), Long = LibPython.Symbol("PyLong_Type"), Float = LibPython.Symbol("PyFloat_Type");

    internal static readonly IntPtr Unicode = LibPython.Symbol("PyUnicode_Type"), Bytes = LibPython.Symbol("PyBytes_Type");

    internal static readonly IntPtr Tuple = LibPython.Symbol("PyTuple_Type"), List = LibPython.Symbol("PyList_Type"), Dict = LibPython.Symbol("PyDict_Type");

    internal static readonly IntPtr OrderedDict = LibPython.Symbol("PyODict_Type");

    internal static readonly IntPtr Type = LibPython.Symbol("PyType_Type"), Object = LibPython.Symbol("PyBaseObject_Type");

    private static IntPtr _objectGetAttribute;

    /// <summary>object.__getattribute__ (the slot wrapper in object's dict): what a class that does not override it finds. Requires the GIL.</summary>
    internal static IntPtr ObjectGetAttribute
    {
        get
        {
            if (_objectGetAttribute != 0) return _objectGetAttribute;
            using var name = new InternedName("__getattribute__");
            return _objectGetAttribute = CApi._PyType_Lookup(Object, name.Handle);
        }
    }
}
