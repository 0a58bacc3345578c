namespace Capture.Frontend;

/// <summary>
/// The real values of a frame at one instruction: locals (free and cell variables included, by
/// value), the stack, and the function's globals and builtins. Owns its handles, the globals and
/// builtins unless <c>ownsScope</c> is false (a caller that keeps them across calls).
/// </summary>
public sealed class FrameState : IDisposable
{
    private readonly Dictionary<string, PyObject> _locals;
    private readonly bool _ownsScope;

    public FrameState(Dictionary<string, PyObject> locals, List<PyObject?> stack, PyObject globals, PyObject builtins, bool ownsScope = true)
    {
        _locals = locals;
        Stack = stack;
        Globals = globals;
        Builtins = builtins;
        _ownsScope = ownsScope;
    }

    /// <summary>The value stack, bottom first; null stands for CPython's NULL marker.</summary>
    public List<PyObject?> Stack { get; }
    public PyObject Globals { get; }
    public PyObject Builtins { get; }
    public IReadOnlyDictionary<string, PyObject> Locals => _locals;

    public PyObject Local(string name) =>
        _locals.TryGetValue(name, out var v) ? v.NewReference() : throw new KeyNotFoundException($"local variable '{name}' is not set");

    public bool HasLocal(string name) => _locals.ContainsKey(name);

    public void SetLocal(string name, PyObject value)
    {
        if (_locals.Remove(name, out var old)) old.Dispose();
        _locals[name] = value;
    }

    /// <summary>A global, falling back to builtins as Python's LOAD_GLOBAL does.</summary>
    public PyObject Global(string name)
    {
        using var key = Py.Str(name);
        foreach (var scope in new[] { Globals, Builtins })
        {
            using var found = scope.CallMethod("__contains__", key);
            if (found.ToBoolean()) return scope.GetItem(key);
        }
        throw new KeyNotFoundException($"name '{name}' is not defined");
    }

    public void RemoveLocal(string name)
    {
        if (_locals.Remove(name, out var old)) old.Dispose();
    }

    public void Dispose()
    {
        foreach (var v in _locals.Values) v.Dispose();
        foreach (var v in Stack) v?.Dispose();
        if (!_ownsScope) return;
        Globals.Dispose();
        Builtins.Dispose();
    }
}
