namespace Capture.Frontend;

/// <summary>
/// Where a value came from, so the capture can be re-checked against a later call: a local, a
/// global, a stack slot at a resume point, or an attribute / item of another source. Prints the
/// way guards read: L['x'], G['W'], L['self'].fc.weight, L['xs'][0], resumed_stack[1].
/// </summary>
public abstract record Source
{
    /// <summary>The value, as a new handle.</summary>
    public abstract PyObject Resolve(FrameState frame);

    /// <summary>The frame's own handle for the value, when the frame holds one (a local, a stack slot): borrowed, not to be disposed; null otherwise.</summary>
    public virtual PyObject? Peek(FrameState frame) => null;

    /// <summary>Whether <paramref name="name"/> is a Python identifier (ASCII letters, digits and underscores, not starting with a digit).</summary>
    protected static bool IsIdentifier(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    protected static string Quoted(string text) => PythonText.Quoted(text);

    /// <summary>A readable graph input name for the value: x, self_fc1_weight, xs_0, s0.</summary>
    public string PlaceholderName()
    {
        var text = Path(this);
        var clean = new string(text.Replace("___globals__", "").Select(c => char.IsLetterOrDigit(c) || c == '_' ? c : '_').ToArray()).Trim('_');
        return clean.Length == 0 ? "input" : clean;

        static string Path(Source source) => source switch
        {
            LocalSource l => l.Name,
            GlobalSource g => g.Name,
            StackSource s => $"s{s.Index}",
            AttrSource a => $"{Path(a.Base)}_{a.Attr}",
            ItemSource i => $"{Path(i.Base)}_{i.Index}",
            KeySource k => $"{Path(k.Base)}_{k.Key}",
            DictItemSource d => $"{Path(d.Base)}_{d.Key}",
            _ => "input",
        };
    }
}

/// <summary>
/// A source's value for one use: the frame's own handle when it has one (no handle made), else a new
/// handle that <see cref="Dispose"/> releases. The per-call paths (guards, graph inputs) read through this.
/// </summary>
public readonly struct SourceValue(PyObject value, bool owned) : IDisposable
{
    public PyObject Object => value;

    public static SourceValue Of(Source source, FrameState frame)
    {
        if (source.Peek(frame) is { } borrowed) return new(borrowed, false);
        if (frame.PlannedRead(source) is { } planned) return new(planned, false);
        if (source is not PartSource) return new(source.Resolve(frame), true);
        if (frame.KeptRead(source) is { } kept) return new(kept, false);
        var value = source.Resolve(frame);
        return frame.KeepRead(source, value) ? new(value, false) : new(value, true);
    }

    public void Dispose()
    {
        if (owned) value.Dispose();
    }
}

public sealed record LocalSource(string Name) : Source
{
    // hashed once: the per-call read cache looks sources up by value (chains L['self'].a.b... hash their whole path)
    private readonly int _hash = Name.GetHashCode();
    public override int GetHashCode() => _hash;

    public override PyObject Resolve(FrameState frame) => frame.Local(Name);
    public override PyObject? Peek(FrameState frame) => frame.Locals.GetValueOrDefault(Name);
    public override string ToString() => $"L[{Quoted(Name)}]";
}

public sealed record GlobalSource(string Name) : Source
{
    private readonly int _hash = HashCode.Combine(Name, 1);
    public override int GetHashCode() => _hash;

    public override PyObject Resolve(FrameState frame) => frame.Global(Name);
    public override string ToString() => $"G[{Quoted(Name)}]";
}

/// <summary>The value on the stack at a resume point, counted from the bottom.</summary>
public sealed record StackSource(int Index) : Source
{
    public override PyObject Resolve(FrameState frame) =>
        frame.Stack[Index]?.NewReference() ?? throw new KeyNotFoundException($"stack slot {Index} holds NULL");
    public override PyObject? Peek(FrameState frame) => Index < frame.Stack.Count ? frame.Stack[Index] : null;
    // how guards and messages name it: the value the frame held on its stack where it resumed
    public override string ToString() => $"resumed_stack[{Index}]";
}

/// <summary>A part of another source's value: an attribute, an item, a key.</summary>
public abstract record PartSource(Source Base) : Source
{
    public sealed override PyObject Resolve(FrameState frame)
    {
        using var owner = SourceValue.Of(Base, frame);
        return Read(owner.Object);
    }

    /// <summary>The part, read from the base's value.</summary>
    protected abstract PyObject Read(PyObject owner);

    /// <summary>The part, read from <paramref name="owner"/>, the base's value (a new handle).</summary>
    internal PyObject ReadFrom(PyObject owner) => Read(owner);
}

public sealed record AttrSource(Source Base, string Attr) : PartSource(Base)
{
    private readonly int _hash = HashCode.Combine(Base, Attr, 2);
    public override int GetHashCode() => _hash;

    protected override PyObject Read(PyObject owner) =>
        ModuleAttributes.Dicts is { } dicts && owner.GetAttrThroughDicts(Attr, dicts) is { } found
            ? found
            : owner.GetAttr(Attr);

    // an attribute set with setattr need not be a name: it prints as the getattr that reads it
    public override string ToString() => IsIdentifier(Attr) ? $"{Base}.{Attr}" : $"getattr({Base}, {Quoted(Attr)})";
}

/// <summary>
/// The items a builtin iterator (list, tuple, range, dict keys/values/items) has not yielded yet, as a
/// tuple: read through its <c>__reduce__</c>, which does not advance it (capture/_frames.py).
/// </summary>
public sealed record RemainingItemsSource(Source Base) : PartSource(Base)
{
    private readonly int _hash = HashCode.Combine(Base, 7);
    public override int GetHashCode() => _hash;

    protected override PyObject Read(PyObject owner)
    {
        using var frames = Py.Import("capture._frames");
        return frames.CallMethod("remaining", owner);
    }

    public override string ToString() => $"remaining({Base})";
}

public sealed record ItemSource(Source Base, long Index) : PartSource(Base)
{
    private readonly int _hash = HashCode.Combine(Base, Index, 3);
    public override int GetHashCode() => _hash;

    protected override PyObject Read(PyObject owner) => owner.GetItem(Index);
    public override string ToString() => $"{Base}[{Index}]";
}

public sealed record KeySource(Source Base, string Key) : PartSource(Base)
{
    private readonly int _hash = HashCode.Combine(Base, Key, 4);
    public override int GetHashCode() => _hash;

    protected override PyObject Read(PyObject owner) => owner.GetItem(Key);
    public override string ToString() => $"{Base}[{Quoted(Key)}]";
}

/// <summary>An item of a dict under a key that is not a str (d[0], d[(1, 2)]).</summary>
public sealed record DictItemSource(Source Base, DictKey Key) : PartSource(Base)
{
    private readonly int _hash = HashCode.Combine(Base, Key, 5);
    public override int GetHashCode() => _hash;

    protected override PyObject Read(PyObject owner) => owner.GetItem(Key.Value);
    public override string ToString() => $"{Base}[{Key}]";
}

/// <summary>
/// The globals of a module Capture trusts not to change (torch and its submodules, math...):
/// functions from there read their globals without guards, as attributes of torch do.
/// </summary>
/// <summary>A module as `import` inside the function finds it: sys.modules[Module] (a KeyError fails the guard reading it).</summary>
public sealed record ImportedModuleSource(string Module) : Source
{
    public override PyObject Resolve(FrameState frame)
    {
        using var sys = Py.Import("sys");
        using var modules = sys.GetAttr("modules");
        using var key = Py.Str(Module);
        return modules.GetItem(key);
    }

    public override string ToString() => $"sys.modules[{Quoted(Module)}]";
}

public sealed record TrustedModuleSource(string Module) : Source
{
    public override PyObject Resolve(FrameState frame)
    {
        using var module = Py.Import(Module);
        return module.GetAttr("__dict__");
    }

    public override string ToString() => $"sys.modules['{Module}'].__dict__";
}

/// <summary>
/// torch.nn.Module.__getattr__, for reading a module's parameters, buffers and submodules the way it
/// does without the AttributeError Python raises and catches first (<see cref="PyObject.GetAttrThroughDicts"/>):
/// a cache hit's guards walk chains like L['self'].transformer.h[0].attn.c_attn.weight, and those
/// exceptions were most of their cost (a 2-layer GPT's 316 guards took 330 us a call). 0 until torch.nn
/// is imported (looked for again at most once a second). Requires the GIL.
/// </summary>
internal static class ModuleAttributes
{
    private static FallbackDicts? _dicts;
    private static long _lookedUp;

    /// <summary>Module.__getattr__ and the dicts it looks in, in its order; null while torch.nn is not imported.</summary>
    public static FallbackDicts? Dicts
    {
        get
        {
            if (_dicts is { } known) return known;
            var now = System.Diagnostics.Stopwatch.GetTimestamp();
            if (_lookedUp != 0 && now - _lookedUp < System.Diagnostics.Stopwatch.Frequency) return null;
            _lookedUp = now;
            using var sys = Py.Import("sys");
            using var modules = sys.GetAttr("modules");
            if (modules.DictItemAddress("torch.nn.modules.module") == 0) return null;
            using var module = Py.Import("torch.nn.modules.module");
            using var moduleClass = module.GetAttr("Module");
            using var members = moduleClass.GetAttr("__dict__");
            using var getattr = members.GetItem("__getattr__");
            return _dicts = new FallbackDicts(getattr, ["_parameters", "_buffers", "_modules"]);
        }
    }
}
