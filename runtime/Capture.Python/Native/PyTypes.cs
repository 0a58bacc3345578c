namespace Capture.Python.Native;

// Addresses of libpython's static objects: the singletons and the built-in type objects. They are
// data symbols of the loaded library, fixed for the life of the process.
internal static class PyTypes
{
    internal static readonly IntPtr None = LibPython.Symbol("_Py_NoneStruct");
    internal static readonly IntPtr True = LibPython.Symbol("_Py_TrueStruct");
    internal static readonly IntPtr False = LibPython.Symbol("_Py_FalseStruct");
    internal static readonly IntPtr Bool = LibPython.Symbol("PyBool_Type");
    internal static readonly IntPtr Long = LibPython.Symbol("PyLong_Type");
    internal static readonly IntPtr Float = LibPython.Symbol("PyFloat_Type");
    internal static readonly IntPtr Unicode = LibPython.Symbol("PyUnicode_Type");
    internal static readonly IntPtr Bytes = LibPython.Symbol("PyBytes_Type");
    internal static readonly IntPtr Tuple = LibPython.Symbol("PyTuple_Type");
    internal static readonly IntPtr List = LibPython.Symbol("PyList_Type");
    internal static readonly IntPtr Dict = LibPython.Symbol("PyDict_Type");
    internal static readonly IntPtr Type = LibPython.Symbol("PyType_Type");
}
