using Capture.Runtime.Torch;

namespace Capture.Runtime.Torch;

/// <summary>
/// Turns graph arguments into Python values and op names into the Python callables they denote;
/// shared by the eager backend and meta-device inference so both call torch the same way.
/// </summary>
public sealed class PythonCalls(TorchRuntime torch)
{
    private readonly Dictionary<string, PyObject> _callables = [];

    /// <summary>
    /// The Python object an op name denotes: the longest importable module prefix, then attributes
    /// (a borrowed handle, kept by this object). Names in torch and the other trusted modules resolve
    /// once; a user's function (capture.allow_in_graph) is looked up again on every call, as its name
    /// may be bound to another function since.
    /// </summary>
    public PyObject Callable(string name)
    {
        var cached = _callables.GetValueOrDefault(name);
        var root = name.IndexOf('.') is var dot and > 0 ? name[..dot] : name;
        // torch's and Capture's own runtime helpers (capture._onednn) do not change under us: resolved once
        if (cached is not null && (PythonObjects.TrustedModules.Contains(root) || name.StartsWith("capture._", StringComparison.Ordinal))) return cached;
        var resolved = Resolve(name);
        if (cached is not null)
        {
            if (resolved.Is(cached))
            {
                resolved.Dispose();
                return cached;
            }
            cached.Dispose();
        }
        return _callables[name] = resolved;
    }

    private static PyObject Resolve(string name)
    {
        var parts = name.Split('.');
        for (var split = parts.Length - 1; split >= 1; split--)
        {
            PyObject module;
            try { module = Py.Import(string.Join('.', parts[..split])); }
            catch (PythonException e) when (e.PythonType == "ModuleNotFoundError") { continue; }
            using (module) return Attribute(module, string.Join('.', parts[split..]));
        }
        throw new NotSupportedException($"cannot resolve '{name}' to a Python callable");
    }

    public static PyObject Attribute(PyObject root, string path)
    {
        var current = root.NewReference();
        foreach (var part in path.Split('.'))
        {
            var next = current.GetAttr(part);
            current.Dispose();
            current = next;
        }
        return current;
    }

    /// <summary>A graph argument as a new Python value; references resolve through <paramref name="lookup"/>.</summary>
    public PyObject Value(Arg arg, Func<string, PyObject> lookup) => arg switch
    {
        RefArg r => lookup(r.Name),
        IntArg i => Py.Int(i.Value),
        FloatArg f => Py.Float(f.Value),
        BoolArg b => Py.Bool(b.Value),
        StrArg s => Py.Str(s.Value),
        NoneArg => Py.None,
        EllipsisArg => Py.Builtins.GetAttr("Ellipsis"),
        DTypeArg d => torch.DTypeObject(d.Value),
        ListArg l => Sequence(l, lookup),
        SliceArg s => SliceOf(s, lookup),
        SizeArg z => SizeSymbols.Value(z.Value, lookup),
        _ => throw new ArgumentOutOfRangeException(nameof(arg), arg, null),
    };

    /// <summary>A graph argument as a new Python value, references read from a run's values (new handles to them).</summary>
    public PyObject Value(Arg arg, Dictionary<string, PyObject> env) =>
        Value(arg, name => env.TryGetValue(name, out var v) ? v.NewReference() : throw new KeyNotFoundException($"no value for '{name}'"));

    private PyObject Sequence(ListArg list, Func<string, PyObject> lookup)
    {
        var items = list.Items.Select(i => Value(i, lookup)).ToList();
        try { return list.IsTuple ? Py.Tuple(items) : Py.List(items); }
        finally { foreach (var i in items) i.Dispose(); }
    }

    private PyObject SliceOf(SliceArg s, Func<string, PyObject> lookup)
    {
        using var builtins = Py.Builtins;
        using var slice = builtins.GetAttr("slice");
        using var start = Value(s.Start, lookup);
        using var stop = Value(s.Stop, lookup);
        using var step = Value(s.Step, lookup);
        return slice.Call(start, stop, step);
    }
}
