namespace Capture.Runtime.Dispatch;

/// <summary>
/// After a captured segment's graph ran: builds the real Python values its exit plan describes
/// (from the graph's outputs, constants, and the frame's own objects), replays the segment's stores
/// on objects from the frame, and rebuilds the frame's locals and stack at a graph break. One per
/// run of an entry: a spec shared by several slots is built once (one list, not two).
/// </summary>
internal sealed class FrameRebuilder(PyObject outputs, FrameState frame) : IDisposable
{
    private Dictionary<ValueSpec, PyObject>? _built;

    /// <summary>The real value a spec describes, as a new handle.</summary>
    public PyObject Build(ValueSpec spec)
    {
        if (_built is not null && _built.TryGetValue(spec, out var known)) return known.NewReference();
        if (spec is ValueSpec.UserObject user) return UserObject(user);
        var value = BuildNew(spec);
        if (spec is ValueSpec.List or ValueSpec.Dict or ValueSpec.Set or ValueSpec.Tuple or ValueSpec.Iterator)
            (_built ??= new(ReferenceEqualityComparer.Instance))[spec] = value.NewReference();
        return value;
    }

    public void Dispose()
    {
        if (_built is null) return;
        foreach (var v in _built.Values) v.Dispose();
        _built.Clear();
    }

    private PyObject BuildNew(ValueSpec spec) => spec switch
    {
        ValueSpec.Output o => outputs.TupleItem(o.Index),
        ValueSpec.Constant c => c.Value.NewReference(),
        ValueSpec.FromSource s => s.Source.Resolve(frame),
        ValueSpec.Tuple { NamedType: { } type } t => NamedTuple(type, t.Items),
        ValueSpec.Tuple t => Sequence(t.Items, tuple: true),
        ValueSpec.List l => Sequence(l.Items, tuple: false),
        ValueSpec.Dict d => Dict(d),
        ValueSpec.Set st => SetOf(st),
        ValueSpec.Method m => MethodOf(m),
        ValueSpec.Iterator it => IteratorOf(it),
        ValueSpec.Function f => FunctionOf(f),
        ValueSpec.Partial p => PartialOf(p),
        ValueSpec.GradMode g => Py.Eval($"__import__('torch').{(g.Enabled ? "enable_grad" : "no_grad")}()"),
        _ => throw new InvalidOperationException($"cannot build {spec}"),
    };

    /// <summary>object.__new__(type), remembered before its attributes are built (one may refer back to it), then object.__setattr__ of each.</summary>
    private PyObject UserObject(ValueSpec.UserObject spec)
    {
        using var builtins = Py.Builtins;
        using var objectType = builtins.GetAttr("object");
        using var make = objectType.GetAttr("__new__");
        var made = make.Call(spec.Type);
        (_built ??= new(ReferenceEqualityComparer.Instance))[spec] = made.NewReference();
        using var set = objectType.GetAttr("__setattr__");
        foreach (var (name, valueSpec) in spec.Attributes)
        {
            using var key = Py.Str(name);
            using var value = Build(valueSpec);
            set.Call(made, key, value).Dispose();
        }
        return made;
    }

    private PyObject PartialOf(ValueSpec.Partial p)
    {
        var args = p.Args.Prepend(p.Callee).Select(Build).ToList();
        var kwargs = p.Kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Key, Build(k.Value))).ToList();
        try
        {
            using var functools = Py.Import("functools");
            using var partial = functools.GetAttr("partial");
            return partial.Call(args, kwargs);
        }
        finally
        {
            foreach (var a in args) a.Dispose();
            foreach (var k in kwargs) k.Value.Dispose();
        }
    }

    private PyObject Sequence(IReadOnlyList<ValueSpec> items, bool tuple)
    {
        var values = items.Select(Build).ToList();
        try { return tuple ? Py.Tuple(values) : Py.List(values); }
        finally { foreach (var v in values) v.Dispose(); }
    }

    private PyObject NamedTuple(PyObject type, IReadOnlyList<ValueSpec> items)
    {
        using var plain = Sequence(items, tuple: true);
        // a collections.namedtuple class takes its fields one by one (_make takes the sequence); torch's
        // structseq types (torch.return_types.max) take the sequence
        if (!type.HasAttr("_make")) return type.Call(plain);
        using var make = type.GetAttr("_make");
        return make.Call(plain);
    }

    private PyObject Dict(ValueSpec.Dict d)
    {
        PyObject made;
        if (d.Type is null) made = Py.Dict([]);
        else if (d.Factory is null) made = d.Type.Call();
        else made = d.Type.Call(d.Factory);
        try
        {
            foreach (var (key, valueSpec) in d.Items)
            {
                using var value = Build(valueSpec);
                made.SetItem(key.Value, value);
            }
            return made;
        }
        catch
        {
            made.Dispose();
            throw;
        }
    }

    private static PyObject SetOf(ValueSpec.Set s)
    {
        using var items = Py.List(s.Items.Select(k => k.Value).ToList());
        using var builtins = Py.Builtins;
        using var set = builtins.GetAttr("set");
        return set.Call(items);
    }

    private PyObject MethodOf(ValueSpec.Method m)
    {
        using var self = Build(m.Self);
        return self.GetAttr(m.Name);
    }

    private PyObject IteratorOf(ValueSpec.Iterator it)
    {
        using var list = Sequence(it.Remaining, tuple: false);
        using var iter = Py.Builtins.GetAttr("iter");
        return iter.Call(list);
    }

    private PyObject FunctionOf(ValueSpec.Function f)
    {
        var defaults = f.Defaults.Select(Build).ToList();
        var kw = f.KwDefaults.Select(p => new KeyValuePair<string, PyObject>(p.Key, Build(p.Value))).ToList();
        try
        {
            using var defaultsTuple = defaults.Count == 0 ? Py.None : Py.Tuple(defaults);
            using var kwDict = kw.Count == 0 ? null : Py.Dict(kw);
            return RealExecutor.MakeFunction(f.Code, f.Globals, defaultsTuple, kwDict);
        }
        finally
        {
            foreach (var d in defaults) d.Dispose();
            foreach (var p in kw) p.Value.Dispose();
        }
    }

    /// <summary>Makes the segment's stores on objects from the frame for real, in the order they happened.</summary>
    public void Replay(IReadOnlyList<SideEffect> effects)
    {
        foreach (var effect in effects)
        {
            switch (effect)
            {
                case SideEffect.ListContents l:
                    using (var target = l.Target.Resolve(frame))
                    using (var items = Build(l.Items))
                    using (var all = Py.Eval("slice(None)"))
                        target.SetItem(all, items);
                    break;
                case SideEffect.DictContents dc:
                    using (var target = dc.Target.Resolve(frame))
                    using (var items = Build(dc.Items))
                    {
                        target.CallMethod("clear").Dispose();
                        target.CallMethod("update", items).Dispose();
                    }
                    break;
                case SideEffect.StoreAttr a:
                    using (var owner = a.Owner.Resolve(frame))
                    using (var value = Build(a.Value))
                        owner.SetAttr(a.Name, value);
                    break;
                case SideEffect.CopyInto c:
                    using (var target = c.Target.Resolve(frame))
                    using (var value = Build(c.Value))
                    using (var torch = Py.Import("torch"))
                    using (var noGrad = torch.GetAttr("no_grad"))
                    using (var mode = noGrad.Call())
                    {
                        mode.CallMethod("__enter__").Dispose();
                        try { target.CallMethod("copy_", value).Dispose(); }
                        finally
                        {
                            using var none = Py.None;
                            mode.CallMethod("__exit__", none, none, none).Dispose();
                        }
                    }
                    break;
            }
        }
    }

    /// <summary>Replaces the frame's locals and stack with the values the segment left at its break.</summary>
    public void Rebuild(ExitPlan.Break b)
    {
        var locals = b.Locals.ToDictionary(p => p.Key, p => Build(p.Value));
        var stack = b.Stack.Select(s => s is ValueSpec.Null ? null : Build(s)).ToList();
        foreach (var name in frame.Locals.Keys.ToList()) frame.SetLocal(name, locals.Remove(name, out var v) ? v : Py.None);
        foreach (var name in frame.Locals.Keys.Where(n => !b.Locals.ContainsKey(n)).ToList()) frame.RemoveLocal(name);
        foreach (var (name, value) in locals) frame.SetLocal(name, value);
        foreach (var old in frame.Stack) old?.Dispose();
        frame.Stack.Clear();
        frame.Stack.AddRange(stack);
    }
}
