namespace Capture.Frontend;

/// <summary>
/// What capture.disable and capture.allow_in_graph mark on a function (a flag in its own __dict__):
/// <c>_capture_disabled</c> on disable's wrapper: Capture never enters it (a capture breaks at the
/// call, and the frame runner calls it as plain Python); <c>_capture_allow_in_graph</c> on the function
/// itself: a call becomes one opaque graph node that calls it, its result's metadata from running it
/// on torch's meta device, as torch._dynamo.allow_in_graph does.
/// </summary>
public static class FunctionMarks
{
    public static bool IsDisabled(PyObject function) => Has(function, "_capture_disabled");

    public static bool IsAllowedInGraph(PyObject function) => Has(function, "_capture_allow_in_graph");

    /// <summary>
    /// `module.qualname` when importing the module and walking the qualname finds this very function
    /// (how a graph node names what it calls), else null (a local function, one replaced since).
    /// </summary>
    public static string? ResolvableName(PyObject function)
    {
        try
        {
            using var moduleName = function.GetAttr("__module__");
            using var qualname = function.GetAttr("__qualname__");
            if (!moduleName.IsStr || !qualname.IsStr || qualname.AsString().Contains('<')) return null;
            var current = Py.Import(moduleName.AsString());
            foreach (var part in qualname.AsString().Split('.'))
            {
                var next = current.GetAttr(part);
                current.Dispose();
                current = next;
            }
            using (current) return current.Is(function) ? $"{moduleName.AsString()}.{qualname.AsString()}" : null;
        }
        catch (PythonException) { return null; }
    }

    private static bool Has(PyObject function, string mark)
    {
        if (function.TypeName != "function") return false;
        using var dict = function.GetAttr("__dict__");
        return dict.IsDict && dict.DictItemAddress(mark) != 0;
    }
}
