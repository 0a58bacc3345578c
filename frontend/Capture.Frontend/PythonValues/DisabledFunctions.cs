namespace Capture.Frontend;

/// <summary>
/// Functions wrapped by capture.disable (torch._dynamo.disable): their wrapper carries
/// `_capture_disabled = True` in its own __dict__. Capture never enters them: a capture breaks at
/// their call, and the frame runner calls them as plain Python.
/// </summary>
public static class DisabledFunctions
{
    public static bool IsDisabled(PyObject function)
    {
        if (function.TypeName != "function") return false;
        using var dict = function.GetAttr("__dict__");
        return dict.IsDict && dict.DictItemAddress("_capture_disabled") != 0;
    }
}
