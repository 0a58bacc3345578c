namespace Capture.Runtime.Dispatch;

/// <summary>
/// Binds a call's arguments to the locals of the frame Capture runs: in C# for the common call (every
/// parameter by position), else through inspect.signature, as Python binds them (defaults, keywords,
/// *args, **kwargs, closures). GIL held.
/// </summary>
internal sealed class FrameBinder
{
    // capture._frames.bind, looked up once per binder
    private PyObject? _bind;

    /// <summary>A frame for <paramref name="function"/>(*args, **kwargs); <paramref name="scope"/> keeps the code's first function's globals and builtins between calls.</summary>
    public FrameState Bind(CodeInfo code, ref FunctionScope? scope, PyObject function, PyObject args, PyObject kwargs) =>
        BindPositional(code, ref scope, function, args, kwargs) ?? BindThroughInspect(function, args, kwargs);

    /// <summary>
    /// The common call, bound without inspect: parameters passed by position, the trailing ones left
    /// out taking their defaults (forward(idx, targets=None) called as forward(idx)), no *args,
    /// **kwargs, keyword-only parameters or closure; null for any other call.
    /// </summary>
    private static FrameState? BindPositional(CodeInfo code, ref FunctionScope? scope, PyObject function, PyObject args, PyObject kwargs)
    {
        if (code.HasVarArgs || code.HasVarKeywords || code.KwOnlyArgCount != 0 || code.FreeVars.Count != 0
            || kwargs.Length != 0 || args.Length > code.ArgCount) return null;
        var items = args.ToItems().ToList();
        if (items.Count < code.ArgCount)
        {
            // Python's own rule: the last len(__defaults__) parameters have defaults
            using var defaults = function.GetAttr("__defaults__");
            var missing = code.ArgCount - items.Count;
            var count = defaults.IsNone ? 0 : defaults.Length;
            if (missing > count)
            {
                foreach (var item in items) item.Dispose();
                return null;
            }
            for (var i = count - missing; i < count; i++) items.Add(defaults.GetItem(i));
        }
        var locals = new Dictionary<string, PyObject>(items.Count);
        for (var i = 0; i < items.Count; i++) locals[code.VarNames[i]] = items[i];
        // the first function's scope is kept; a function sharing the code with other globals (rare)
        // gets its own, since a frame of the first may still be running further up the stack
        scope ??= FunctionScope.Of(function);
        if (scope.IsOf(function)) return new FrameState(locals, [], scope.Globals, scope.Builtins, ownsScope: false);
        return new FrameState(locals, [], function.GetAttr("__globals__"), function.GetAttr("__builtins__"));
    }

    private FrameState BindThroughInspect(PyObject function, PyObject args, PyObject kwargs)
    {
        using var bound = Binder().Call(function, args, kwargs);
        using var values = bound.GetItem(0);
        var locals = values.ToDictItems().ToDictionary(p => { using (p.Key) return p.Key.AsString(); }, p => p.Value);
        return new FrameState(locals, [], bound.GetItem(1), bound.GetItem(2));
    }

    private PyObject Binder()
    {
        if (_bind is not null) return _bind;
        using var helper = Py.Import("capture._frames");
        return _bind = helper.GetAttr("bind");
    }
}

/// <summary>
/// A function's globals and builtins (function.__builtins__, 3.10+: the builtins dict its frames use),
/// held between calls of the functions that share them, so that a call makes no handle for either.
/// </summary>
internal sealed class FunctionScope(PyObject globals, PyObject builtins)
{
    public PyObject Globals { get; } = globals;
    public PyObject Builtins { get; } = builtins;

    public static FunctionScope Of(PyObject function) => new(function.GetAttr("__globals__"), function.GetAttr("__builtins__"));

    /// <summary>Whether <paramref name="function"/>'s globals and builtins are these (identity: both are held here, so an address match is them).</summary>
    public bool IsOf(PyObject function) =>
        function.GetAttrAddress("__globals__") == Globals.Address && function.GetAttrAddress("__builtins__") == Builtins.Address;
}
