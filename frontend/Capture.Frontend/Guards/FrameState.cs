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

    /// <summary>
    /// The values of the size symbols of the entry whose guards are being checked (<c>s0</c> = 8): its
    /// tensor guards bind them from the inputs' sizes, its size-relation guards read them.
    /// </summary>
    public Dictionary<string, long> SizeBindings { get; } = [];

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

    private Dictionary<Source, PyObject>? _reads;

    /// <summary>
    /// From now until <see cref="EndReads"/>, each attribute, item or key source read from this frame is
    /// read once and its value kept: a cache entry's guards and its graph inputs walk the same chains
    /// (L['self'].transformer.h[0].attn...) and each link through nn.Module.__getattr__ costs a Python call.
    /// The runner ends it before anything that could change what the chains lead to runs (side effects,
    /// the rest of the frame).
    /// </summary>
    public void BeginReads() => _reads ??= [];

    /// <summary>Releases the values kept since <see cref="BeginReads"/>.</summary>
    public void EndReads()
    {
        _plan = null;
        if (_reads is null) return;
        foreach (var v in _reads.Values) v.Dispose();
        _reads = null;
    }

    /// <summary>Whether reads are being kept (between <see cref="BeginReads"/> and <see cref="EndReads"/>).</summary>
    internal bool KeepsReads => _reads is not null;

    private ReadPlan? _plan;

    /// <summary>The guard set whose check passed this call: its reads serve the entry's graph inputs until <see cref="EndReads"/>.</summary>
    internal void UsePlan(ReadPlan plan) => _plan = _reads is not null ? plan : null;

    /// <summary>The value the passed guard set's check read from <paramref name="source"/> (borrowed), or null.</summary>
    internal PyObject? PlannedRead(Source source) => _plan?.ValueOf(source);

    /// <summary>The kept value of <paramref name="source"/> (borrowed), or null.</summary>
    internal PyObject? KeptRead(Source source) => _reads is not null && _reads.TryGetValue(source, out var v) ? v : null;

    /// <summary>Keeps <paramref name="value"/> (the frame owns it now) when reads are being kept; false otherwise.</summary>
    internal bool KeepRead(Source source, PyObject value)
    {
        if (_reads is null) return false;
        _reads[source] = value;
        return true;
    }

    public void RemoveLocal(string name)
    {
        if (_locals.Remove(name, out var old)) old.Dispose();
    }

    public void Dispose()
    {
        EndReads();
        foreach (var v in _locals.Values) v.Dispose();
        foreach (var v in Stack) v?.Dispose();
        if (!_ownsScope) return;
        Globals.Dispose();
        Builtins.Dispose();
    }
}
