namespace Capture.Runtime;

/// <summary>A pyexamples file that cannot be used: missing, no EXAMPLES, an unknown entry...</summary>
public sealed class ExampleFileException(string message) : Exception(message);

/// <summary>
/// One entry of a file's EXAMPLES: a function (or nn.Module) and the arguments to call it with; or,
/// for a script without EXAMPLES, a compiled function and the arguments of its first call in the run.
/// </summary>
public sealed class ExampleEntry(string name, PyObject target, PyObject args, PyObject? kwargs = null) : IDisposable
{
    public string Name { get; } = name;

    /// <summary>The function or module named by the key.</summary>
    public PyObject Target { get; } = target;

    /// <summary>The argument tuple the entry's factory made.</summary>
    public PyObject Args { get; } = args;

    /// <summary>The keyword arguments (a dict), or null.</summary>
    public PyObject? Kwargs { get; } = kwargs;

    /// <summary>The keyword arguments as name and value (new references: the caller disposes them).</summary>
    public IReadOnlyList<KeyValuePair<string, PyObject>> KwargItems() => Kwargs is null ? []
        : Kwargs.ToDictItems().Select(p => { using (p.Key) return new KeyValuePair<string, PyObject>(p.Key.AsString(), p.Value); }).ToList();

    /// <summary>Whether the target is an nn.Module instance (its forward is what runs).</summary>
    public bool IsModule => Target.HasAttr("forward") && Target.HasAttr("_modules");

    /// <summary>The Python function a call of the target runs: the function itself, or the module class's forward.</summary>
    public PyObject Function()
    {
        if (!IsModule) return Target.NewReference();
        using var type = Target.Type;
        return type.GetAttr("forward");
    }

    /// <summary>function(target, *args, **kwargs): capture.explain or capture.compare on this entry (GIL held).</summary>
    public PyObject ApplyTo(PyObject function, IEnumerable<KeyValuePair<string, PyObject>>? kwargs = null)
    {
        var items = Args.ToItems().Prepend(Target.NewReference()).ToArray();
        var named = KwargItems();
        try { return function.Call(items, named.Concat(kwargs ?? [])); }
        finally
        {
            foreach (var item in items) item.Dispose();
            foreach (var item in named) item.Value.Dispose();
        }
    }

    public void Dispose()
    {
        Target.Dispose();
        Args.Dispose();
        Kwargs?.Dispose();
    }
}

/// <summary>
/// A pyexamples-style file: `EXAMPLES = {"fn_name": lambda: (arg0, arg1, ...)}`, each key naming a
/// function or nn.Module instance in the file. The file is imported as a module named after it (its
/// `if __name__ == "__main__"` block does not run), with its folder on sys.path as for a script.
/// "FILE.py::name" picks one entry.
/// </summary>
public static class ExampleFile
{
    /// <summary>
    /// Whether the file assigns EXAMPLES at its top level (read from its source, without running it):
    /// a script without one is run as it is and its compiled frames are reported.
    /// </summary>
    public static bool HasExamples(string path)
    {
        using var gil = Interpreter.Gil();
        using var source = Py.Str(File.ReadAllText(path));
        using var check = Py.Eval("lambda text: any(isinstance(n, (__import__('ast').Assign, __import__('ast').AnnAssign)) and any("
            + "getattr(t, 'id', None) == 'EXAMPLES' for t in (n.targets if hasattr(n, 'targets') else [n.target])) "
            + "for n in __import__('ast').parse(text).body)");
        using var answer = check.Call(source);
        return answer.IsTrue();
    }

    public static IReadOnlyList<ExampleEntry> Load(string spec)
    {
        var separator = spec.IndexOf("::", StringComparison.Ordinal);
        var path = Path.GetFullPath(separator < 0 ? spec : spec[..separator]);
        var only = separator < 0 ? null : spec[(separator + 2)..];
        if (!File.Exists(path)) throw new ExampleFileException($"no such example file: {path}");
        using var gil = Interpreter.Gil();
        using var module = Import(path);
        if (!module.HasAttr("EXAMPLES"))
            throw new ExampleFileException($"{path} has no EXAMPLES dict (EXAMPLES = {{\"fn_name\": lambda: (args...)}})");
        using var examples = module.GetAttr("EXAMPLES");
        if (!examples.IsDict) throw new ExampleFileException($"{path}: EXAMPLES must be a dict, not {examples.TypeName}");
        var names = examples.ToDictItems().Select(p => { using (p.Key) using (p.Value) return p.Key.IsStr ? p.Key.AsString() : throw new ExampleFileException($"{path}: EXAMPLES keys must be names (str), got {p.Key.Repr()}"); }).ToList();
        if (only is not null && !names.Contains(only))
            throw new ExampleFileException($"no example '{only}' in {path} (it has: {string.Join(", ", names)})");
        var entries = new List<ExampleEntry>();
        foreach (var name in names.Where(n => only is null || n == only))
        {
            if (!module.HasAttr(name)) throw new ExampleFileException($"{path}: EXAMPLES names '{name}', but the file defines no '{name}'");
            using var factory = examples.GetItem(name);
            var args = factory.Call();
            if (!args.IsTuple)
            {
                var kind = args.TypeName;
                args.Dispose();
                throw new ExampleFileException($"{path}: EXAMPLES['{name}'] must return a tuple of arguments, not {kind}");
            }
            entries.Add(new ExampleEntry(name, module.GetAttr(name), args));
        }
        return entries;
    }

    private static PyObject Import(string path)
    {
        var folder = Path.GetDirectoryName(path)!;
        using var helper = Py.Import("capture._examples");
        using var load = helper.GetAttr("load");
        using var p = Py.Str(path);
        using var f = Py.Str(folder);
        return load.Call(p, f);
    }
}
