using Capture.Python.Native;

namespace Capture.Python;

/// <summary>
/// A Python exception raised into C#: its Python type ("ValueError", "torch.SomeError"), message, and
/// traceback formatted the way Python prints it. It keeps the exception object, so that re-raising it
/// into Python (from a callback) preserves type, value and traceback. The object holds its traceback,
/// hence the frames and locals it went through: whoever ends the exception's life disposes it (the
/// callback boundary does, for every one in a chain), so those are not kept until .NET's finalizers run.
/// </summary>
public sealed class PythonException : Exception, IDisposable
{
    private readonly PyObject _value;

    private PythonException(string type, string message, string traceback, PyObject value)
        : base(message.Length > 0 ? $"{type}: {message}" : type)
    {
        PythonType = type;
        PythonMessage = message;
        PythonTraceback = traceback;
        _value = value;
    }

    public string PythonType { get; }
    public string PythonMessage { get; }
    public string PythonTraceback { get; }

    /// <summary>The exception instance (a new handle), for code that inspects its attributes.</summary>
    public PyObject Value => _value.NewReference();

    public override string ToString() => $"{Message}\n{PythonTraceback}\n--- .NET stack ---\n{StackTrace}";

    /// <summary>Takes the current Python error indicator (GIL held) and clears it.</summary>
    internal static Exception Fetch()
    {
        CApi.PyErr_Fetch(out var type, out var value, out var traceback);
        if (type == IntPtr.Zero)
            return new InvalidOperationException("a Python C API call failed without setting an exception");
        CApi.PyErr_NormalizeException(ref type, ref value, ref traceback);
        using var typeObject = PyObject.Steal(type);
        var valueObject = PyObject.Steal(value);
        if (traceback != IntPtr.Zero)
        {
            CApi.PyException_SetTraceback(valueObject.Handle, traceback);
            CApi.Py_DecRef(traceback);
        }
        return Describe(typeObject, valueObject);
    }

    private static PythonException Describe(PyObject type, PyObject value)
    {
        string typeName = "<unknown>", message = "", formatted = "";
        try
        {
            typeName = PyObject.QualifiedName(type);
            message = value.ToString();
            using var tracebackModule = Py.Import("traceback");
            using var format = tracebackModule.GetAttr("format_exception");
            using var lines = format.Call(value);
            formatted = string.Concat(lines.Iterate().Select(l => { using (l) return l.AsString(); }));
        }
        catch (Exception)
        {
            // Describing must not fail: whatever could be read is kept.
        }
        return new PythonException(typeName, message, formatted, value);
    }

    /// <summary>Sets this exception as Python's error indicator (GIL held), for returning NULL to Python.</summary>
    internal void Restore()
    {
        using var type = _value.Type;
        CApi.PyErr_SetObject(type.Handle, _value.Handle);
    }

    /// <summary>Adds a note to the exception (PEP 678: Python prints it under the message), GIL held.</summary>
    public void AddNote(string note)
    {
        try
        {
            using var text = Py.Str(note);
            _value.CallMethod("add_note", text).Dispose();
        }
        catch (PythonException failed)
        {
            failed.Dispose(); // a note is a courtesy: an exception type without add_note keeps its message
        }
    }

    /// <summary>Releases the exception object (and the traceback it holds); the C# exception keeps its text.</summary>
    public void Dispose() => _value.Dispose();

    /// <summary>Every Python exception in <paramref name="e"/>'s chain (inner exceptions, aggregates), outermost first.</summary>
    public static IEnumerable<PythonException> InChain(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is PythonException python) yield return python;
            if (e is AggregateException aggregate)
                foreach (var inner in aggregate.InnerExceptions.SelectMany(InChain)) yield return inner;
        }
    }
}

/// <summary>
/// Says where a Python exception happened, in C# terms ("node 'getitem' of the compiled graph, from
/// model.py:12"). Raised into Python as the Python exception itself, with this as a note: users see
/// the error eager code raises, with where Capture was.
/// </summary>
public class PythonErrorContext(string message, PythonException inner) : Exception(message, inner)
{
    public PythonException Python { get; } = inner;

    /// <summary>The note added to the Python exception.</summary>
    public virtual string Note => Message;
}
