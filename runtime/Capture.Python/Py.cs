using Capture.Python.Native;

namespace Capture.Python;

/// <summary>
/// Makes Python objects from C# values. Every result is a new handle owned by the caller; arguments
/// are borrowed (the containers take references of their own). All members require the GIL.
/// </summary>
public static class Py
{
    public static PyObject None => PyObject.Borrow(PyTypes.None);
    public static PyObject Bool(bool value) => PyObject.Borrow(value ? PyTypes.True : PyTypes.False);
    public static PyObject Int(long value) => PyObject.Steal(CApi.PyLong_FromLongLong(value));
    public static PyObject Float(double value) => PyObject.Steal(CApi.PyFloat_FromDouble(value));

    public static unsafe PyObject Str(string value)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(value);
        fixed (byte* p = bytes) return PyObject.Steal(CApi.PyUnicode_FromStringAndSize(p, bytes.Length));
    }

    public static unsafe PyObject Bytes(ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value) return PyObject.Steal(CApi.PyBytes_FromStringAndSize(p, value.Length));
    }

    public static PyObject Tuple(params IReadOnlyList<PyObject> items)
    {
        var tuple = PyObject.Steal(CApi.PyTuple_New(items.Count));
        for (var i = 0; i < items.Count; i++)
            PyObject.Check(CApi.PyTuple_SetItem(tuple.Handle, i, items[i].NewRawReference()));
        return tuple;
    }

    /// <summary>A list made of fresh objects, whose ownership it takes (they are disposed here).</summary>
    public static PyObject ListOf(IEnumerable<PyObject> items)
    {
        var owned = items.ToList();
        try { return List(owned); }
        finally { foreach (var item in owned) item.Dispose(); }
    }

    /// <summary>A tuple of ints (sizes, strides).</summary>
    public static PyObject IntTuple(IReadOnlyList<long> values)
    {
        var tuple = PyObject.Steal(CApi.PyTuple_New(values.Count));
        for (var i = 0; i < values.Count; i++)
            PyObject.Check(CApi.PyTuple_SetItem(tuple.Handle, i, Int(values[i]).Detach()));
        return tuple;
    }

    public static PyObject List(params IReadOnlyList<PyObject> items)
    {
        var list = PyObject.Steal(CApi.PyList_New(items.Count));
        for (var i = 0; i < items.Count; i++)
            PyObject.Check(CApi.PyList_SetItem(list.Handle, i, items[i].NewRawReference()));
        return list;
    }

    public static PyObject Dict(IEnumerable<KeyValuePair<string, PyObject>> items)
    {
        var dict = PyObject.Steal(CApi.PyDict_New());
        foreach (var (key, value) in items)
        {
            using var k = Str(key);
            PyObject.Check(CApi.PyDict_SetItem(dict.Handle, k.Handle, value.Handle));
        }
        return dict;
    }

    public static PyObject Import(string module) => PyObject.Steal(CApi.PyImport_ImportModule(module));

    public static PyObject Builtins => Import("builtins");

    /// <summary>A new module object, registered in sys.modules so that `import name` finds it.</summary>
    public static PyObject NewModule(string name)
    {
        var module = PyObject.Steal(CApi.PyModule_New(name));
        using var modules = PyObject.Borrow(CApi.PyImport_GetModuleDict());
        modules.SetItem(name, module);
        return module;
    }

    /// <summary>Runs statements in a namespace dict (a fresh one when none is given) and returns it.</summary>
    public static PyObject Exec(string source, PyObject? globals = null, string filename = "<capture>")
    {
        var ns = globals?.NewReference() ?? Dict(Array.Empty<KeyValuePair<string, PyObject>>());
        using var builtins = Builtins;
        using var code = Compile(builtins, source, filename, "exec");
        using var exec = builtins.GetAttr("exec");
        using var _ = exec.Call(code, ns);
        return ns;
    }

    /// <summary>Evaluates one expression in a namespace dict.</summary>
    public static PyObject Eval(string expression, PyObject? globals = null)
    {
        using var ns = globals?.NewReference() ?? Dict(Array.Empty<KeyValuePair<string, PyObject>>());
        using var builtins = Builtins;
        using var code = Compile(builtins, expression, "<capture>", "eval");
        using var eval = builtins.GetAttr("eval");
        return eval.Call(code, ns);
    }

    private static PyObject Compile(PyObject builtins, string source, string filename, string mode)
    {
        using var compile = builtins.GetAttr("compile");
        using var src = Str(source);
        using var file = Str(filename);
        using var m = Str(mode);
        return compile.Call(src, file, m);
    }
}
