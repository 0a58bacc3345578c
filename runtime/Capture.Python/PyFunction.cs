using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Capture.Python.Native;

namespace Capture.Python;

/// <summary>
/// A C# method callable from Python. It runs with the GIL held; <paramref name="args"/> is the
/// positional tuple and <paramref name="kwargs"/> the keyword dict or null. It returns a new handle,
/// whose ownership passes to Python. A C# exception becomes a Python exception in the caller.
/// </summary>
public delegate PyObject PyCallback(PyObject args, PyObject? kwargs);

/// <summary>
/// Exposes C# callbacks to Python as builtin functions. Each function's `self` is a capsule that owns
/// a block holding the PyMethodDef and a GCHandle to the delegate; the capsule's destructor frees both
/// when Python drops the function, so a function lives exactly as long as Python references it.
/// All calls enter through one UnmanagedCallersOnly trampoline.
/// </summary>
public static unsafe class PyFunction
{
    // PyMethodDef: { const char* ml_name; PyCFunction ml_meth; int ml_flags; const char* ml_doc; }
    private const int MethodDefSize = 32;
    private const int HandleOffset = MethodDefSize;
    private const int BlockSize = MethodDefSize + 8;
    private const int MethVarargsAndKeywords = 0x0001 | 0x0002;

    private static readonly IntPtr CapsuleName = Marshal.StringToCoTaskMemUTF8("capture.callback");

    /// <summary>Makes a builtin function named <paramref name="name"/>; GIL required.</summary>
    public static PyObject Create(string name, PyCallback callback, string? doc = null, string? module = null)
    {
        var block = Marshal.AllocHGlobal(BlockSize);
        var p = (IntPtr*)block;
        p[0] = Marshal.StringToCoTaskMemUTF8(name);
        p[1] = (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr, IntPtr>)&Invoke;
        *(long*)(block + 16) = MethVarargsAndKeywords; // ml_flags and its padding
        p[3] = doc is null ? IntPtr.Zero : Marshal.StringToCoTaskMemUTF8(doc);
        p[4] = GCHandle.ToIntPtr(GCHandle.Alloc(callback));

        var capsuleHandle = CApi.PyCapsule_New(block, CapsuleName, &Destroy);
        if (capsuleHandle == IntPtr.Zero)
        {
            Free(block);
            throw PythonException.Fetch();
        }
        using var capsule = PyObject.Steal(capsuleHandle);
        using var moduleName = module is null ? null : Py.Str(module);
        return PyObject.Steal(CApi.PyCFunction_NewEx(block, capsule.Handle, moduleName?.Handle ?? IntPtr.Zero));
    }

    /// <summary>Adds a function as an attribute of a module (or any object).</summary>
    public static void Define(PyObject module, string name, PyCallback callback, string? doc = null)
    {
        using var moduleName = module.GetAttr("__name__");
        using var function = Create(name, callback, doc, moduleName.AsString());
        module.SetAttr(name, function);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static IntPtr Invoke(IntPtr self, IntPtr args, IntPtr kwargs)
    {
        try
        {
            var block = CApi.PyCapsule_GetPointer(self, CapsuleName);
            if (block == IntPtr.Zero) return IntPtr.Zero; // Python's error is already set
            var callback = (PyCallback)GCHandle.FromIntPtr(((IntPtr*)block)[4]).Target!;
            using var a = PyObject.Borrow(args);
            using var k = kwargs == IntPtr.Zero ? null : PyObject.Borrow(kwargs);
            var result = callback(a, k);
            return result.Detach();
        }
        catch (Exception e)
        {
            switch (e)
            {
                case PythonErrorContext context:
                    context.Python.AddNote(context.Note);
                    context.Python.Restore();
                    break;
                case PythonException python:
                    python.Restore();
                    break;
                default:
                    CallbackErrors.SetClrError(e);
                    break;
            }
            // the error indicator holds what Python needs: the exceptions' handles (and the frames
            // their tracebacks keep) go now, not when .NET's finalizers run
            foreach (var python in PythonException.InChain(e)) python.Dispose();
            return IntPtr.Zero;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Destroy(IntPtr capsule)
    {
        var block = CApi.PyCapsule_GetPointer(capsule, CapsuleName);
        if (block == IntPtr.Zero)
        {
            CApi.PyErr_Clear();
            return;
        }
        Free(block);
    }

    private static void Free(IntPtr block)
    {
        var p = (IntPtr*)block;
        Marshal.FreeCoTaskMem(p[0]);
        if (p[3] != IntPtr.Zero) Marshal.FreeCoTaskMem(p[3]);
        GCHandle.FromIntPtr(p[4]).Free();
        Marshal.FreeHGlobal(block);
    }
}

/// <summary>Turns a C# exception escaping a callback into a Python exception of the closest type.</summary>
public static unsafe class CallbackErrors
{
    private static readonly Dictionary<Type, PyObject> Registered = [];

    /// <summary>Makes C# exceptions of <typeparamref name="T"/> (and subclasses) raise <paramref name="pythonType"/>.</summary>
    public static void Register<T>(PyObject pythonType) where T : Exception
    {
        lock (Registered) Registered[typeof(T)] = pythonType.NewReference();
    }

    internal static void SetClrError(Exception e)
    {
        PyObject? registered;
        lock (Registered) registered = Registered.FirstOrDefault(p => p.Key.IsInstanceOfType(e)).Value;
        if (registered is not null)
        {
            using var message = Py.Str(e.Message);
            CApi.PyErr_SetObject(registered.Handle, message.Handle);
            return;
        }
        var pythonType = e switch
        {
            ArgumentOutOfRangeException => "IndexError",
            KeyNotFoundException => "KeyError",
            ArgumentException => "ValueError",
            InvalidCastException => "TypeError",
            NotSupportedException or NotImplementedException => "NotImplementedError",
            OutOfMemoryException => "MemoryError",
            OverflowException => "OverflowError",
            _ => "RuntimeError",
        };
        var text = $"{e.Message} [C# {e.GetType().Name}]";
        if (Environment.GetEnvironmentVariable("CAPTURE_DEBUG") is { Length: > 0 })
            text += "\n" + e.StackTrace;
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        fixed (byte* p = bytes)
        {
            var message = CApi.PyUnicode_FromStringAndSize(p, bytes.Length);
            if (message == IntPtr.Zero) return; // MemoryError is already set
            CApi.PyErr_SetObject(LibPython.ExceptionType(pythonType), message);
            CApi.Py_DecRef(message);
        }
    }
}
