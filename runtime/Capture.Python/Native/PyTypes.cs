namespace Capture.Python.Native;

// Addresses of libpython's static objects: the singletons and the built-in type objects. They are
// data symbols of the loaded library, fixed for the life of the process.
internal static class PyTypes
{
    internal static readonly IntPtr None = LibPython.Symbol("_Py_NoneStruct"), True = LibPython.Symbol("_Py_TrueStruct"), False = LibPython.Symbol("_Py_FalseStruct");

    internal static readonly IntPtr Bool = LibPython.Symbol("PyBool_Type"), Long = LibPython.Symbol("PyLong_Type"), Float = LibPython.Symbol("PyFloat_Type");

    internal static readonly IntPtr Unicode = LibPython.Symbol("PyUnicode_Type"), Bytes = LibPython.Symbol("PyBytes_Type");

    internal static readonly IntPtr Tuple = LibPython.Symbol("PyTuple_Type"), List = LibPython.Symbol("PyList_Type"), Dict = LibPython.Symbol("PyDict_Type");

    internal static readonly IntPtr Type = LibPython.Symbol("PyType_Type");
}
