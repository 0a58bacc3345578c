using System.Runtime.InteropServices;

namespace Capture.Python.Native;

// The CPython 3.11 C API, only the functions Capture uses. Every call here requires the GIL unless
// noted. Functions returning a new reference return IntPtr that the caller must own (PyObject.Steal);
// "borrowed" marks the ones that do not. The library is bound by LibPython's resolver, which loads
// libpython with RTLD_GLOBAL so torch and ctypes find its symbols.
internal static unsafe partial class CApi
{
    internal const string Lib = "python3.11";

    static CApi() => LibPython.InstallResolver(typeof(CApi).Assembly);

    // --- Interpreter lifetime (no GIL needed before initialization) -----------------------------

    [LibraryImport(Lib)] internal static partial void Py_InitializeEx(int initsigs);
    [LibraryImport(Lib)] internal static partial int Py_IsInitialized();
    [LibraryImport(Lib)] internal static partial int Py_FinalizeEx();
    [LibraryImport(Lib)] internal static partial void Py_SetProgramName(IntPtr name);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr Py_DecodeLocale(string arg, IntPtr size);
    [LibraryImport(Lib)] internal static partial IntPtr Py_GetVersion(); // static storage

    // --- GIL ------------------------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial IntPtr PyEval_SaveThread();
    [LibraryImport(Lib)] internal static partial void PyEval_RestoreThread(IntPtr threadState);
    [LibraryImport(Lib)] internal static partial int PyGILState_Ensure();
    [LibraryImport(Lib)] internal static partial void PyGILState_Release(int state);
    [LibraryImport(Lib)] internal static partial int PyGILState_Check();

    // --- Reference counts -----------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial void Py_IncRef(IntPtr o);
    [LibraryImport(Lib)] internal static partial void Py_DecRef(IntPtr o);

    // --- Errors ---------------------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial IntPtr PyErr_Occurred(); // borrowed
    [LibraryImport(Lib)] internal static partial void PyErr_SetNone(IntPtr type);
    [LibraryImport(Lib)] internal static partial int PyErr_CheckSignals();
    [LibraryImport(Lib)] internal static partial void PyErr_SetInterrupt(); // any thread, no GIL
    [LibraryImport(Lib)] internal static partial void PyErr_Fetch(out IntPtr type, out IntPtr value, out IntPtr traceback);
    [LibraryImport(Lib)] internal static partial void PyErr_NormalizeException(ref IntPtr type, ref IntPtr value, ref IntPtr traceback);
    [LibraryImport(Lib)] internal static partial void PyErr_Restore(IntPtr type, IntPtr value, IntPtr traceback); // steals all
    [LibraryImport(Lib)] internal static partial void PyErr_SetObject(IntPtr type, IntPtr value);
    [LibraryImport(Lib)] internal static partial void PyErr_Clear();
    [LibraryImport(Lib)] internal static partial int PyException_SetTraceback(IntPtr exception, IntPtr traceback);

    // --- Modules --------------------------------------------------------------------------------

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr PyImport_ImportModule(string name);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr PyImport_AddModule(string name); // borrowed
    [LibraryImport(Lib)] internal static partial IntPtr PyImport_GetModuleDict(); // borrowed
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr PyModule_New(string name);

    // --- Objects --------------------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial IntPtr PyObject_Call(IntPtr callable, IntPtr args, IntPtr kwargs);
    [LibraryImport(Lib)] internal static partial IntPtr PyObject_GetAttr(IntPtr o, IntPtr name);
    [LibraryImport(Lib)] internal static partial int PyObject_HasAttr(IntPtr o, IntPtr name);
    [LibraryImport(Lib)] internal static partial int PyObject_SetAttr(IntPtr o, IntPtr name, IntPtr value);
    // args[0] is the object whose method is called; nargsf counts it
    [LibraryImport(Lib)] internal static partial IntPtr PyObject_VectorcallMethod(IntPtr name, IntPtr* args, nuint nargsf, IntPtr kwnames);
    [LibraryImport(Lib)] internal static partial IntPtr PyObject_Vectorcall(IntPtr callable, IntPtr* args, nuint nargsf, IntPtr kwnames);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr PyUnicode_InternFromString(string text);
    [LibraryImport(Lib)] internal static partial IntPtr PyObject_Str(IntPtr o);
    [LibraryImport(Lib)] internal static partial IntPtr PyObject_Repr(IntPtr o);
    [LibraryImport(Lib)] internal static partial int PyObject_IsTrue(IntPtr o);
    [LibraryImport(Lib)] internal static partial int PyObject_IsInstance(IntPtr o, IntPtr cls);
    [LibraryImport(Lib)] internal static partial IntPtr PyObject_GetItem(IntPtr o, IntPtr key);
    [LibraryImport(Lib)] internal static partial int PyObject_SetItem(IntPtr o, IntPtr key, IntPtr value);
    [LibraryImport(Lib)] internal static partial nint PyObject_Length(IntPtr o);
    [LibraryImport(Lib)] internal static partial int PyObject_RichCompareBool(IntPtr a, IntPtr b, int op);
    [LibraryImport(Lib)] internal static partial IntPtr PyObject_GetIter(IntPtr o);
    [LibraryImport(Lib)] internal static partial IntPtr PyIter_Next(IntPtr iterator);
    [LibraryImport(Lib)] internal static partial int PyType_IsSubtype(IntPtr a, IntPtr b);

    // --- Scalars and strings --------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial IntPtr PyLong_FromLongLong(long value);
    [LibraryImport(Lib)] internal static partial long PyLong_AsLongLong(IntPtr o);
    [LibraryImport(Lib)] internal static partial IntPtr PyFloat_FromDouble(double value);
    [LibraryImport(Lib)] internal static partial double PyFloat_AsDouble(IntPtr o);
    [LibraryImport(Lib)] internal static partial IntPtr PyBool_FromLong(long value);
    [LibraryImport(Lib)] internal static partial IntPtr PyUnicode_FromStringAndSize(byte* utf8, nint size);
    [LibraryImport(Lib)] internal static partial byte* PyUnicode_AsUTF8AndSize(IntPtr o, out nint size);
    [LibraryImport(Lib)] internal static partial IntPtr PyBytes_FromStringAndSize(byte* bytes, nint size);
    [LibraryImport(Lib)] internal static partial int PyBytes_AsStringAndSize(IntPtr o, out byte* buffer, out nint size);

    // --- Containers -----------------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial IntPtr PyTuple_New(nint size);
    [LibraryImport(Lib)] internal static partial int PyTuple_SetItem(IntPtr tuple, nint index, IntPtr item); // steals item
    [LibraryImport(Lib)] internal static partial IntPtr PyTuple_GetItem(IntPtr tuple, nint index); // borrowed
    [LibraryImport(Lib)] internal static partial nint PyTuple_Size(IntPtr tuple);
    [LibraryImport(Lib)] internal static partial IntPtr PyList_New(nint size);
    [LibraryImport(Lib)] internal static partial int PyList_SetItem(IntPtr list, nint index, IntPtr item); // steals item
    [LibraryImport(Lib)] internal static partial IntPtr PyList_GetItem(IntPtr list, nint index); // borrowed
    [LibraryImport(Lib)] internal static partial nint PyList_Size(IntPtr list);
    [LibraryImport(Lib)] internal static partial int PyList_Append(IntPtr list, IntPtr item);
    [LibraryImport(Lib)] internal static partial IntPtr PyDict_New();
    [LibraryImport(Lib)] internal static partial int PyDict_SetItem(IntPtr dict, IntPtr key, IntPtr value);
    [LibraryImport(Lib)] internal static partial IntPtr PyDict_GetItemWithError(IntPtr dict, IntPtr key); // borrowed
    [LibraryImport(Lib)] internal static partial IntPtr _PyType_Lookup(IntPtr type, IntPtr name); // borrowed, no exception set
    [LibraryImport(Lib)] internal static partial IntPtr PyObject_GenericGetDict(IntPtr o, IntPtr context);
    [LibraryImport(Lib)] internal static partial int PyDict_Next(IntPtr dict, ref nint position, out IntPtr key, out IntPtr value); // borrowed
    [LibraryImport(Lib)] internal static partial nint PyDict_Size(IntPtr dict);

    // --- Builtin functions backed by C# ---------------------------------------------------------

    [LibraryImport(Lib)] internal static partial IntPtr PyCFunction_NewEx(IntPtr methodDef, IntPtr self, IntPtr module);
    [LibraryImport(Lib)] internal static partial IntPtr PyCapsule_New(IntPtr pointer, IntPtr name, delegate* unmanaged[Cdecl]<IntPtr, void> destructor);
    [LibraryImport(Lib)] internal static partial IntPtr PyCapsule_GetPointer(IntPtr capsule, IntPtr name);

    // --- Object layout (CPython 3.11, release build: ob_refcnt, then ob_type) -------------------

    internal static IntPtr TypeOf(IntPtr o) => *(IntPtr*)(o + IntPtr.Size);
    internal static nint RefCount(IntPtr o) => *(nint*)o;

    internal const int PyGE = 5; // Py_GE etc. for RichCompareBool
    internal const int PyEQ = 2;
}
