namespace Capture.Frontend;

/// <summary>
/// The name lookups a capture relies on that no value guard covers: attributes of trusted modules
/// (torch.sigmoid, F.gelu), lookups through a class (torch.Tensor.sigmoid, type(m).forward), an
/// instance's own __dict__ not shadowing its class (m.forward), the frame's globals and builtins
/// holding trusted modules and builtins, an nn.Module's hook dicts staying empty. Each namespace
/// becomes one <see cref="NamespaceGuard"/> holding every entry read from it.
/// </summary>
public sealed class NamespaceReads
{
    private sealed record Namespace(NamespaceScope Scope, PyObject? Dict, string Name)
    {
        public readonly List<KeyValuePair<string, PyObject?>> Entries = [];
        public bool Empty;
    }

    private readonly Dictionary<(NamespaceScope, nint), Namespace> _namespaces = [];
    private readonly List<Namespace> _order = [];

    private Namespace Of(NamespaceScope scope, PyObject? dict, string name)
    {
        var key = (scope, dict?.Address ?? 0);
        if (_namespaces.TryGetValue(key, out var known)) return known;
        var ns = new Namespace(scope, dict?.NewReference(), name);
        _namespaces[key] = ns;
        _order.Add(ns);
        return ns;
    }

    private static void Note(Namespace ns, string key, PyObject? value)
    {
        if (ns.Entries.Any(e => e.Key == key)) return;
        ns.Entries.Add(new(key, value?.NewReference()));
    }

    /// <summary>dict[key] was <paramref name="value"/> (null: absent) when the capture looked.</summary>
    public void Entry(PyObject dict, string name, string key, PyObject? value) => Note(Of(NamespaceScope.Held, dict, name), key, value);

    /// <summary>The frame's globals (or, <paramref name="builtins"/>, its builtins) had <paramref name="value"/> under key (null: absent).</summary>
    public void FrameEntry(bool builtins, string key, PyObject? value) =>
        Note(Of(builtins ? NamespaceScope.FrameBuiltins : NamespaceScope.FrameGlobals, null, builtins ? "the builtins" : "the function's globals"), key, value);

    /// <summary>module.name, read from a module's __dict__.</summary>
    public void ModuleAttribute(PyObject module, string name, PyObject value)
    {
        using var dict = module.GetAttr("__dict__");
        using var moduleName = module.GetAttr("__name__");
        Entry(dict, moduleName.IsStr ? moduleName.AsString() : "a module", name, value);
    }

    /// <summary>A lookup of <paramref name="name"/> on a class: absent from each class of its MRO before the one that holds it.</summary>
    public void TypeAttribute(PyObject type, string name)
    {
        using var helper = Py.Import("capture._guards");
        using var lookup = helper.GetAttr("type_lookup");
        using var key = Py.Str(name);
        using var path = lookup.Call(type, key);
        foreach (var step in path.ToItems())
        {
            using (step)
            {
                using var className = step.GetItem(0);
                using var dict = step.GetItem(1);
                using var value = step.GetItem(2);
                Entry(dict, className.AsString(), name, value.IsNone ? null : value);
            }
        }
    }

    private PyObject? _tensorType;

    /// <summary>
    /// A lookup of <paramref name="name"/> on torch.Tensor (a method, a property, an operator's
    /// dunder), guarded through its class dicts. False when user code replaced it (torch.Tensor.sigmoid
    /// = f): a capture knows only torch's own.
    /// </summary>
    public bool TensorAttribute(string name)
    {
        if (_tensorType is null)
        {
            using var torchModule = Py.Import("torch");
            _tensorType = torchModule.GetAttr("Tensor");
        }
        TypeAttribute(_tensorType, name);
        using var helper = Py.Import("capture._guards");
        using var definedByTorch = helper.GetAttr("defined_by_torch");
        using var key = Py.Str(name);
        using var own = definedByTorch.Call(_tensorType, key);
        return own.IsTrue();
    }

    /// <summary>An instance's own __dict__ has no <paramref name="name"/> (it would shadow its class's: m.forward = f).</summary>
    public void InstanceAbsent(PyObject instance, string description, string name)
    {
        if (!instance.HasAttr("__dict__")) return;
        using var dict = instance.GetAttr("__dict__");
        if (!dict.IsDict) return;
        Entry(dict, $"{description}.__dict__", name, null);
    }

    /// <summary>The dict stays empty (hooks an nn.Module would run around forward).</summary>
    public void Empty(PyObject dict, string name) => Of(NamespaceScope.Held, dict, name).Empty = true;

    public IEnumerable<Guard> Guards() =>
        _order.Select(ns => new NamespaceGuard(ns.Scope, ns.Dict, ns.Name, ns.Entries.ToList(), ns.Empty));
}
