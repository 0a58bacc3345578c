namespace Capture.Bytecode;

/// <summary>
/// What reads the calling Python frame. The frame runner runs a broken frame's instructions itself,
/// so the user's function has no Python frame of its own then: builtins that look at the caller's
/// frame answer here from the frame state, as they would in the function (globals() its globals,
/// locals() and vars() a dict of its locals, dir() their sorted names, eval and exec with its globals
/// and locals when given none). Code that walks frames itself (inspect.currentframe, sys._getframe)
/// cannot be answered: such a function runs eagerly, as a whole.
/// </summary>
internal static class FrameIntrospection
{
    private static readonly string[] FrameBuiltins = ["globals", "locals", "vars", "dir", "eval", "exec"];

    /// <summary>Names whose use means the code looks at frames itself: the function runs eagerly.</summary>
    private static readonly string[] FrameWalkers = ["currentframe", "_getframe", "getframeinfo", "getouterframes", "f_back", "f_locals", "f_globals"];

    /// <summary>Why <paramref name="code"/> must run as a real frame, or null.</summary>
    public static string? WalksFrames(CodeInfo code) =>
        code.Instructions.FirstOrDefault(i => i.Name is { } n && FrameWalkers.Contains(n)) is { } ins
            ? $"it reads Python frames ({ins.Name} at line {ins.Location?.Line}), which must be its own; the frame runs eagerly"
            : null;

    /// <summary>
    /// callable(*args, **kwargs) answered from <paramref name="frame"/> when callable is one of the
    /// frame's builtins that read the caller's frame and the call leaves the frame to them; else null.
    /// </summary>
    public static PyObject? Call(PyObject callable, IReadOnlyList<PyObject> args, IReadOnlyList<KeyValuePair<string, PyObject>> kwargs, FrameState frame)
    {
        if (callable.TypeName != "builtin_function_or_method" || kwargs.Count > 0) return null;
        var name = FrameBuiltins.FirstOrDefault(n => frame.Builtins.DictItemAddress(n) == callable.Address);
        switch (name)
        {
            case "globals" when args.Count == 0:
                return frame.Globals.NewReference();
            case "locals" or "vars" when args.Count == 0:
                return Locals(frame);
            case "dir" when args.Count == 0:
            {
                using var locals = Locals(frame);
                using var sorted = frame.Builtins.GetItem("sorted");
                return sorted.Call(locals);
            }
            case "eval" or "exec" when args.Count == 1:
            {
                using var locals = Locals(frame);
                return callable.Call(args[0], frame.Globals, locals);
            }
            default:
                return null;
        }
    }

    /// <summary>A new dict of the frame's locals (free and cell variables included), as locals() makes in a function.</summary>
    private static PyObject Locals(FrameState frame)
    {
        var items = frame.Locals.Select(p => new KeyValuePair<string, PyObject>(p.Key, p.Value)).ToList();
        return Py.Dict(items);
    }
}
