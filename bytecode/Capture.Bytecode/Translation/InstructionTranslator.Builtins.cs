namespace Capture.Bytecode;

// Calls of builtins on what the capture knows: len, isinstance, range, zip, enumerate, all/any/sum,
// and the methods of lists and dicts made during capture.
public sealed partial class InstructionTranslator
{
    private StepResult Builtin(Instruction ins, ObjectValue fn, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var name = fn.QualifiedName.StartsWith("builtins.", StringComparison.Ordinal) ? fn.QualifiedName[9..] : fn.QualifiedName;
        switch (name)
        {
            case "map" when args.Count >= 2 && kwargs.Count == 0:
                return Mapped(ins, args[0], args.Skip(1).ToList());
            case "filter" when args.Count == 2 && kwargs.Count == 0:
                return Filtered(ins, args[0], args[1]);
            case "functools.reduce" when args.Count is 2 or 3 && kwargs.Count == 0:
                return Reduced(ins, args[0], args[1], args.Count == 3 ? args[2] : null);
            case "sorted" when args.Count == 1 && kwargs.Any(k => k.Key == "key") && kwargs.All(k => k.Key is "key" or "reverse"):
                return SortedByKey(ins, args[0], kwargs.First(k => k.Key == "key").Value, kwargs.FirstOrDefault(k => k.Key == "reverse").Value);
            case "len" when args is [UserObjectValue sized] && kwargs.Count == 0 && UserDunder(ins, sized, "__len__", []) is { } measured:
                return measured;
            case "type" when args is [UserObjectValue typed] && kwargs.Count == 0:
                Push(typed.Type);
                return StepResult.Continue;
            case "type" when args is [TupleValue or ListValue or DictValue or SetValue] && kwargs.Count == 0:
                var containerType = ContainerType(args[0]);
                Push(new ObjectValue(containerType, ObjectKind.Class, PythonObjects.QualifiedName(containerType)));
                return StepResult.Continue;
            case "vars" when args is [UserObjectValue inspected] && kwargs.Count == 0:
                Push(new DictValue(Keyed(inspected.Attributes)));
                return StepResult.Continue;
            case "setattr" when args is [UserObjectValue target, ConstValue { Value.IsStr: true } attribute, var assigned] && kwargs.Count == 0:
                var stored = StoreUserAttribute(ins, target, attribute.Value.AsString(), assigned);
                if (stored is StepResult.Next) Push(Const(Py.None));
                return stored;
            case "getattr" or "hasattr" when args.Count >= 2 && args[0] is UserObjectValue owner2 && args[1] is ConstValue { Value.IsStr: true } attribute2 && kwargs.Count == 0:
                var attributeName = attribute2.Value.AsString();
                if (owner2.Attributes.Any(p => p.Key == attributeName) || name == "getattr" && args.Count == 2) return UserAttribute(ins, owner2, attributeName);
                break;
            case "set" or "frozenset" when kwargs.Count == 0 && args.Count <= 1:
                if ((args.Count == 0 ? [] : SetItemsOf(args[0])) is not { } members) break;
                if (name == "set") Push(new SetValue(members));
                else
                {
                    using var list = Py.List(members.Select(k => k.Value).ToList());
                    Push(Const(fn.Object.Call(list)));
                }
                return StepResult.Continue;
            case "dict" when args.Count <= 1 && DictOf(args, kwargs) is { } made:
                Push(made);
                return StepResult.Continue;
            case "super" when kwargs.Count == 0 && SuperOf(args) is { } super:
                Push(super);
                return StepResult.Continue;
            case "len" when args.Count == 1:
                long? length = args[0] switch
                {
                    TupleValue t => t.Items.Count, ListValue l => l.Items.Count, DictValue d => d.Items.Count, SetValue s => s.Items.Count,
                    TensorValue t when t.Meta.Rank > 0 => t.Meta.Shape[0].Concrete("len"),
                    ConstValue c when c.Value.IsStr || c.Value.IsTuple || c.Value.TypeName is "range" or "torch.Size" => c.Value.Length,
                    ObjectValue { Kind: ObjectKind.NnModule, Source: { } source } m when ModuleContainer(m, "__len__") is { } kind =>
                        kind == "ParameterList" ? ParameterItems(m, source).Count : Children(m, source).Count,
                    _ => null,
                };
                if (length is null) break;
                Push(Const(Py.Int(length.Value)));
                return StepResult.Continue;
            case "isinstance" when args.Count == 2 && ClassInfo(args[1]) is { } classes:
                // the value's Python type against the classes (ABCs included: a list is a collections.abc.Iterable)
                using (classes)
                {
                    bool? result = args[0] switch
                    {
                        TensorValue => IsSubclassOfTensor(classes),
                        ConstValue c => c.Value.IsInstance(classes),
                        ObjectValue o => o.Object.IsInstance(classes),
                        TupleValue or ListValue or DictValue or SetValue => IsSubclass(ContainerType(args[0]), classes),
                        UserObjectValue u => IsSubclass(u.Type.Object.NewReference(), classes),
                        _ => null,
                    };
                    if (result is null) break;
                    Push(Const(Py.Bool(result.Value)));
                    return StepResult.Continue;
                }
            case "range" when args.All(a => a is ConstValue { Value.IsInt: true }) && kwargs.Count == 0:
                // a range is a constant sequence (len, indexing, iterating again), not an iterator
                try { Push(Derived(fn.Object.Call(args.Cast<ConstValue>().Select(c => c.Value).ToList(), []), args)); }
                catch (PythonException e) { return new StepResult.Break($"range() raised {e.PythonType} on constants{At(ins)}"); }
                return StepResult.Continue;
            case "enumerate" or "zip" or "reversed" when kwargs.Count == 0:
                return Iterable(ins, name, args);
            case "print" or "input" or "open" or "exec" or "eval" or "breakpoint":
                return new StepResult.Break($"call to {name}() has effects outside the graph{At(ins)}");
        }
        if (Consuming(ins, fn, name, args, kwargs) is { } consumed) return consumed;
        switch (name)
        {
            case "iter" when args.Count == 1 && kwargs.Count == 0 && args[0] is not (TensorValue or IteratorValue) && IterableItems(args[0]) is { } iterated:
                Push(new IteratorValue(iterated));
                return StepResult.Continue;
            case "iter" when args is [IteratorValue same] && kwargs.Count == 0:
                Push(same);
                return StepResult.Continue;
            case "next" when args is [IteratorValue it, ..] && args.Count <= 2 && kwargs.Count == 0:
                var taken = _context.Consume(it, 1);
                if (taken.Count == 1) Push(taken[0]);
                else if (args.Count == 2) Push(args[1]);
                else return new StepResult.Break($"next() of an exhausted iterator (StopIteration){At(ins)}");
                return StepResult.Continue;
        }
        if (PureBuiltins.Contains(name) && args.Concat(kwargs.Select(k => k.Value)).All(a => Constant(a, name) is { } c && Dispose(c)))
        {
            var values = args.Select(a => Constant(a, name)!).ToList();
            var keywords = kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Key, Constant(k.Value, name)!)).ToList();
            try
            {
                var result = fn.Object.Call(values, keywords);
                Push(Derived(result, args.Concat(kwargs.Select(k => k.Value))));
                return StepResult.Continue;
            }
            catch (PythonException e)
            {
                return new StepResult.Break($"{name}() raised {e.PythonType} on constants{At(ins)}");
            }
            finally
            {
                foreach (var v in values.Concat(keywords.Select(k => k.Value))) v.Dispose();
            }
        }
        if (name is "getattr" or "hasattr" && args.Count >= 2 && args[1] is ConstValue { Value.IsStr: true } attr && args[0] is ObjectValue owner && owner.Source is not null)
        {
            var has = owner.Object.HasAttr(attr.Value.AsString());
            if (name == "hasattr") { Push(Const(Py.Bool(has))); return StepResult.Continue; }
            if (has)
            {
                using var value = owner.Object.GetAttr(attr.Value.AsString());
                Push(_context.WrapAttribute(owner, attr.Value.AsString(), value));
                return StepResult.Continue;
            }
            if (args.Count == 3)
            {
                // getattr(obj, name, default) of a missing name (WrapAttribute guards what it read; absence is
                // guarded by reading it again: the module or object keeps its identity guard, its dict may change)
                _context.Namespaces.InstanceAbsent(owner.Object, owner.Source.ToString(), attr.Value.AsString());
                using (var ownerType = owner.Object.Type) _context.Namespaces.TypeAttribute(ownerType, attr.Value.AsString());
                Push(args[2]);
                return StepResult.Continue;
            }
        }
        if (name == "hasattr" && args is [TensorValue, ConstValue { Value.IsStr: true } tensorAttr])
        {
            // a tensor's attributes come from torch.Tensor (guarded through its class dicts)
            using var torchModule = Py.Import("torch");
            using var tensorClass = torchModule.GetAttr("Tensor");
            var attribute = tensorAttr.Value.AsString();
            _context.Namespaces.TypeAttribute(tensorClass, attribute);
            Push(Const(Py.Bool(tensorClass.HasAttr(attribute))));
            return StepResult.Continue;
        }
        if (name is "min" or "max" && args.Count == 2 && args.Any(a => a is TensorValue))
            return PushOrBreak(ins, () => CallOp(name == "min" ? Ops.Minimum : Ops.Maximum, args.Select(ToArg).ToList(), []));
        return new StepResult.Break($"builtin {name}() with these arguments is not supported{At(ins)}");
    }

    /// <summary>Builtins that compute from their arguments alone: on values known at capture time they run for real.</summary>
    private static readonly HashSet<string> PureBuiltins =
    [
        "abs", "min", "max", "int", "float", "bool", "str", "round", "tuple", "list", "sum", "divmod", "pow", "getattr", "hasattr",
        "repr", "slice", "hash", "ord", "chr", "complex", "sorted", "issubclass", "callable", "type", "bin", "hex", "oct", "len",
        "frozenset", "format", "ascii",
    ];

    private static bool Dispose(PyObject value)
    {
        value.Dispose();
        return true;
    }

    /// <summary>
    /// A value known at capture time as a new Python object: a constant, a tuple or list of such (a
    /// fresh copy), or, for builtins that only look at it (callable, issubclass, type), an object the
    /// capture holds under guard. Null for tensors and anything else.
    /// </summary>
    private static PyObject? Constant(SymValue value, string builtin)
    {
        switch (value)
        {
            case ConstValue c:
                return c.Value.NewReference();
            case TupleValue or ListValue:
                var items = value is TupleValue t ? t.Items : ((ListValue)value).Items;
                var converted = new List<PyObject>();
                foreach (var item in items)
                {
                    if (Constant(item, builtin) is not { } v)
                    {
                        foreach (var done in converted) done.Dispose();
                        return null;
                    }
                    converted.Add(v);
                }
                try { return value is TupleValue ? Py.Tuple(converted) : Py.List(converted); }
                finally { foreach (var v in converted) v.Dispose(); }
            case ObjectValue o when builtin is "callable" or "issubclass" or "type":
                return o.Object.NewReference();
            default:
                return null;
        }
    }

    // d.items() and friends give lists here: iteration, len and unpacking behave as with the views
    private StepResult DictMethod(Instruction ins, DictMethodValue method, List<SymValue> args)
    {
        var dict = method.Dict;
        var items = dict.Items;
        var key = args.Count > 0 ? KeyOf(args[0]) : null;
        switch (method.Name, args.Count)
        {
            case ("items", 0): Push(new ListValue(items.Select(p => (SymValue)new TupleValue([KeyValue(p.Key), p.Value])).ToList())); break;
            case ("keys", 0): Push(new ListValue(items.Select(p => (SymValue)KeyValue(p.Key)).ToList())); break;
            case ("values", 0): Push(new ListValue(items.Select(p => p.Value).ToList())); break;
            case ("get", 1 or 2) when key is not null:
                Push(dict.Find(key) ?? (args.Count == 2 ? args[1] : Const(Py.None)));
                break;
            case ("copy", 0):
                Push(new DictValue(items.ToList()) { Type = dict.Type, Factory = dict.Factory });
                break;
            case ("pop", 1 or 2) when key is not null:
                var popped = dict.Find(key);
                if (popped is null && args.Count == 1) return new StepResult.Break($"dict.pop of a missing key (KeyError){At(ins)}");
                if (popped is not null) _context.SetDictItems(dict, dict.Without(key));
                Push(popped ?? args[1]);
                break;
            case ("popitem", 0) when items.Count > 0:
                var last = items[^1];
                _context.SetDictItems(dict, items.Take(items.Count - 1).ToList());
                Push(new TupleValue([KeyValue(last.Key), last.Value]));
                break;
            case ("setdefault", 1 or 2) when key is not null:
                var existing = dict.Find(key);
                var value = existing ?? (args.Count == 2 ? args[1] : Const(Py.None));
                if (existing is null) _context.SetDictItems(dict, [.. items, new(key, value)]);
                Push(value);
                break;
            case ("update", 0 or 1) when (args.Count == 0 ? new DictValue([]) : args[0] is DictValue ? args[0] : DictOf(args, [])) is DictValue extra:
                _context.SetDictItems(dict, Merged(items, extra.Items));
                Push(Const(Py.None));
                break;
            case ("clear", 0):
                _context.SetDictItems(dict, []);
                Push(Const(Py.None));
                break;
            case ("move_to_end", 1 or 2) when dict.Type is not null && key is not null && dict.Find(key) is { } moved
                && (args.Count == 1 || args[1] is ConstValue { Value.IsBool: true }):
                var toEnd = args.Count == 1 || ((ConstValue)args[1]).Value.IsTrue();
                var rest = dict.Without(key);
                _context.SetDictItems(dict, toEnd ? [.. rest, new(key, moved)] : [new(key, moved), .. rest]);
                Push(Const(Py.None));
                break;
            default:
                return new StepResult.Break($"dict.{method.Name} with these arguments is not supported{At(ins)}");
        }
        return StepResult.Continue;
    }

    /// <summary>A set's methods, over constants: mutations through the context, the rest computed by Python on real sets.</summary>
    private StepResult SetMethod(Instruction ins, SetMethodValue method, List<SymValue> args)
    {
        var set = method.Set;
        // add/discard/remove take one item; the rest take iterables
        var single = method.Name is "add" or "discard" or "remove";
        var others = single ? args.Select(a => KeyOf(a) is { } k ? new List<DictKey> { k } : null).ToList() : args.Select(SetItemsOf).ToList();
        if (others.Any(o => o is null)) return new StepResult.Break($"set.{method.Name} with values not known at capture time{At(ins)}");
        var first = others.Count > 0 ? others[0]! : [];
        switch (method.Name, args.Count)
        {
            case ("add", 1):
                if (!set.Items.Contains(first[0])) _context.SetSetItems(set, [.. set.Items, first[0]]);
                Push(Const(Py.None));
                return StepResult.Continue;
            case ("discard" or "remove", 1):
                if (!set.Items.Contains(first[0]))
                {
                    if (method.Name == "remove") return new StepResult.Break($"set.remove of a missing item (KeyError){At(ins)}");
                }
                else _context.SetSetItems(set, set.Items.Where(i => i != first[0]).ToList());
                Push(Const(Py.None));
                return StepResult.Continue;
            case ("update", _):
                _context.SetSetItems(set, set.Items.Concat(others.SelectMany(o => o!)).Distinct().ToList());
                Push(Const(Py.None));
                return StepResult.Continue;
            case ("clear", 0):
                _context.SetSetItems(set, []);
                Push(Const(Py.None));
                return StepResult.Continue;
            case ("copy", 0):
                Push(new SetValue(set.Items.ToList()));
                return StepResult.Continue;
            case ("pop", 0) when set.Items.Count > 0:
                // which item a set pops is Python's choice: ask a real set built the same way
                using (var real = RealSet(set.Items))
                using (var popped = real.CallMethod("pop"))
                {
                    var item = DictKey.Of(popped)!;
                    _context.SetSetItems(set, set.Items.Where(i => i != item).ToList());
                    Push(KeyValue(item));
                }
                return StepResult.Continue;
            case ("union" or "intersection" or "difference" or "symmetric_difference" or "issubset" or "issuperset" or "isdisjoint", _):
                return SetResult(ins, set.Items, method.Name, others!);
            default:
                return new StepResult.Break($"set.{method.Name} with these arguments is not supported{At(ins)}");
        }
    }

    private static PyObject RealSet(IEnumerable<DictKey> items)
    {
        using var list = Py.List(items.Select(k => k.Value).ToList());
        using var builtins = Py.Builtins;
        using var set = builtins.GetAttr("set");
        return set.Call(list);
    }

    /// <summary>A set operation computed by Python on real sets of the constants: a new set, or a bool.</summary>
    private StepResult SetResult(Instruction ins, IReadOnlyList<DictKey> items, string operation, IReadOnlyList<List<DictKey>> others, bool frozen = false)
    {
        using var self = RealSet(items);
        var realOthers = others.Select(RealSet).ToList();
        try
        {
            using var result = self.CallMethod(operation, realOthers.ToArray());
            if (result.IsBool) Push(Const(result.NewReference()));
            else if (frozen)
            {
                using var builtins = Py.Builtins;
                using var frozenset = builtins.GetAttr("frozenset");
                Push(Const(frozenset.Call(result)));
            }
            else Push(new SetValue(result.Iterate().Select(i => { using (i) return DictKey.Of(i)!; }).ToList()));
            return StepResult.Continue;
        }
        catch (PythonException e)
        {
            return new StepResult.Break($"{e.PythonType} from set.{operation}{At(ins)}");
        }
        finally { foreach (var o in realOthers) o.Dispose(); }
    }

    private static bool IsMethodOfImmutable(PyObject method)
    {
        if (method.TypeName is not ("builtin_function_or_method" or "method-wrapper") || !method.HasAttr("__self__")) return false;
        using var self = method.GetAttr("__self__");
        return self.IsStr || self.IsInt || self.IsFloat || self.IsBool || self.IsBytes || self.TypeName is "tuple" or "torch.Size" or "torch.dtype" or "complex" or "frozenset";
    }

    /// <summary>
    /// A list's methods: mutations go through the context (seen by every holder, undone if the
    /// instruction breaks, replayed on the caller's list after the graph); searching and sorting only
    /// over Python constants (their == is Python's, a tensor's is not a bool).
    /// </summary>
    private StepResult ListMethod(Instruction ins, ListMethodValue method, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var list = method.List;
        var items = list.Items.ToList();
        StepResult Set(List<SymValue> changed, SymValue result)
        {
            _context.SetItems(list, changed);
            Push(result);
            return StepResult.Continue;
        }
        StepResult Unsupported() => new StepResult.Break($"list.{method.Name} with these arguments is not supported{At(ins)}");
        int? Position(SymValue v, bool insert)
        {
            if (v is not ConstValue { Value.IsInt: true } c) return null;
            var i = c.Value.ToInt64();
            if (i < 0) i += items.Count;
            return insert ? (int)Math.Clamp(i, 0, items.Count) : i >= 0 && i < items.Count ? (int)i : null;
        }
        int? Find(SymValue v) => v is ConstValue c && items.All(i => i is ConstValue)
            ? items.FindIndex(i => ((ConstValue)i).Value.PyEquals(c.Value)) : null;
        if (kwargs.Count > 0 && method.Name != "sort") return Unsupported();
        switch (method.Name, args.Count)
        {
            case ("append", 1):
                return Set([.. items, args[0]], Const(Py.None));
            case ("extend", 1) when IterableItems(args[0]) is { } added:
                return Set([.. items, .. added], Const(Py.None));
            case ("pop", 0 or 1):
                if (items.Count == 0) return new StepResult.Break($"pop from an empty list{At(ins)}");
                if ((args.Count == 0 ? items.Count - 1 : Position(args[0], insert: false)) is not { } at) return Unsupported();
                var popped = items[at];
                items.RemoveAt(at);
                return Set(items, popped);
            case ("insert", 2) when Position(args[0], insert: true) is { } where:
                items.Insert(where, args[1]);
                return Set(items, Const(Py.None));
            case ("clear", 0):
                return Set([], Const(Py.None));
            case ("reverse", 0):
                items.Reverse();
                return Set(items, Const(Py.None));
            case ("remove", 1) when Find(args[0]) is { } found and >= 0:
                items.RemoveAt(found);
                return Set(items, Const(Py.None));
            case ("copy", 0):
                Push(new ListValue(items));
                return StepResult.Continue;
            case ("index", 1) when Find(args[0]) is { } index and >= 0:
                Push(Const(Py.Int(index)));
                return StepResult.Continue;
            case ("count", 1) when args[0] is ConstValue c && items.All(i => i is ConstValue):
                Push(Const(Py.Int(items.Count(i => ((ConstValue)i).Value.PyEquals(c.Value)))));
                return StepResult.Continue;
            case ("sort", 0) when items.All(i => i is ConstValue) && kwargs.All(k => k.Key == "reverse" && k.Value is ConstValue { Value.IsBool: true }):
                // Python's own sort over the constants (stable, its comparisons)
                var values = items.Cast<ConstValue>().Select(i => i.Value).ToList();
                using (var real = Py.List(values))
                using (var sort = real.GetAttr("sort"))
                {
                    sort.Call([], kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Key, ((ConstValue)k.Value).Value))).Dispose();
                    var sorted = real.ToItems().Select(v => (SymValue)new ConstValue(v)).ToList();
                    return Set(sorted, Const(Py.None));
                }
            default:
                return Unsupported();
        }
    }

    /// <summary>Calls a value the capture holds (inlined, or a graph op) and takes its result off the stack; a break stays a break.</summary>
    private StepResult CallFor(Instruction ins, SymValue callable, List<SymValue> args, out SymValue? result)
    {
        result = null;
        var step = CallValue(ins, callable, args, []);
        if (step is StepResult.Next) result = Pop();
        return step;
    }

    /// <summary>map(f, *iterables): f called on each item now (a list, then an iterator over the results: map's laziness only shows through effects, which break).</summary>
    private StepResult Mapped(Instruction ins, SymValue function, List<SymValue> iterables)
    {
        var pools = iterables.Select(i => i is TensorValue ? null : IterableItems(i)).ToList();
        if (pools.Any(p => p is null)) return new StepResult.Break($"map() over values the capture does not iterate{At(ins)}");
        var results = new List<SymValue>();
        for (var i = 0; i < pools.Min(p => p!.Count); i++)
        {
            var step = CallFor(ins, function, pools.Select(p => p![i]).ToList(), out var value);
            if (value is null) return step;
            results.Add(value);
        }
        Push(new IteratorValue(results));
        return StepResult.Continue;
    }

    /// <summary>filter(f, iterable): the items whose f(item) is true, which must be known at capture.</summary>
    private StepResult Filtered(Instruction ins, SymValue function, SymValue iterable)
    {
        if (iterable is TensorValue || IterableItems(iterable) is not { } items) return new StepResult.Break($"filter() over values the capture does not iterate{At(ins)}");
        var kept = new List<SymValue>();
        foreach (var item in items)
        {
            SymValue? verdict = item;
            if (function is not ConstValue { Value.IsNone: true })
            {
                var step = CallFor(ins, function, [item], out verdict);
                if (verdict is null) return step;
            }
            if (Truth(verdict) is not { } truth) return new StepResult.Break($"filter() on a {Describe(verdict)} (data-dependent){At(ins)}");
            if (truth) kept.Add(item);
        }
        Push(new IteratorValue(kept));
        return StepResult.Continue;
    }

    /// <summary>functools.reduce(f, iterable[, initial]).</summary>
    private StepResult Reduced(Instruction ins, SymValue function, SymValue iterable, SymValue? initial)
    {
        if (iterable is TensorValue || IterableItems(iterable) is not { } items) return new StepResult.Break($"reduce() over values the capture does not iterate{At(ins)}");
        var acc = initial ?? (items.Count > 0 ? items[0] : null);
        if (acc is null) return new StepResult.Break($"reduce() of an empty sequence with no initial value (TypeError){At(ins)}");
        foreach (var item in initial is null ? items.Skip(1) : items)
        {
            var step = CallFor(ins, function, [acc, item], out acc);
            if (acc is null) return step;
        }
        Push(acc);
        return StepResult.Continue;
    }

    /// <summary>sorted(items, key=f, reverse=...): the keys computed by f must be Python constants; Python sorts them (stable).</summary>
    private StepResult SortedByKey(Instruction ins, SymValue iterable, SymValue key, SymValue? reverse)
    {
        if (iterable is TensorValue || IterableItems(iterable) is not { } items) return new StepResult.Break($"sorted() over values the capture does not iterate{At(ins)}");
        if (reverse is not (null or ConstValue { Value.IsBool: true })) return new StepResult.Break($"sorted() with a reverse that is not a constant{At(ins)}");
        var keys = new List<PyObject>();
        try
        {
            foreach (var item in items)
            {
                var step = CallFor(ins, key, [item], out var k);
                if (k is null) return step;
                if (k is not ConstValue c) return new StepResult.Break($"sorted() by keys that are not Python constants{At(ins)}");
                keys.Add(c.Value.NewReference());
            }
            using var keyList = Py.List(keys);
            using var positions = Py.Eval($"range({items.Count})");
            using var getItem = keyList.GetAttr("__getitem__");
            using var sortedFn = Py.Builtins.GetAttr("sorted");
            var named = new List<KeyValuePair<string, PyObject>> { new("key", getItem) };
            if (reverse is ConstValue r) named.Add(new("reverse", r.Value));
            using var order = sortedFn.Call([positions], named);
            Push(new ListValue(order.ToItems().Select(i => { using (i) return items[(int)i.ToInt64()]; }).ToList()));
            return StepResult.Continue;
        }
        finally { foreach (var k in keys) k.Dispose(); }
    }

    /// <summary>
    /// itertools.chain, islice, product, repeat over values the capture knows (its lists, tuples,
    /// iterators, constants): an iterator of the items they would yield; null for anything else.
    /// </summary>
    private IteratorValue? Itertools(string name, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        static long? Int(SymValue v) => v is ConstValue { Value.IsInt: true, Value.IsBool: false } c ? c.Value.ToInt64() : null;
        if (kwargs.Count > 0) return null;
        switch (name)
        {
            case "chain" when args.All(a => a is not TensorValue):
                var parts = args.Select(IterableItems).ToList();
                return parts.All(p => p is not null) ? new IteratorValue(parts.SelectMany(p => p!).ToList()) : null;
            case "repeat" when args.Count == 2 && Int(args[1]) is { } times && times <= 4096:
                return new IteratorValue(Enumerable.Repeat(args[0], (int)Math.Max(0, times)).ToList());
            case "islice" when args.Count is >= 2 and <= 4 && args[0] is not TensorValue && args.Skip(1).All(a => Int(a) is not null || a is ConstValue { Value.IsNone: true }):
                if (IterableItems(args[0]) is not { } all) return null;
                var bounds = args.Skip(1).Select(Int).ToList();
                var (start, stop, step) = bounds.Count == 1 ? (0L, bounds[0], 1L) : (bounds[0] ?? 0, bounds[1], bounds.Count > 2 ? bounds[2] ?? 1 : 1);
                if (start < 0 || stop < 0 || step <= 0) return null;
                var end = Math.Min(stop ?? all.Count, all.Count);
                var picked = new List<SymValue>();
                for (var i = start; i < end; i += step) picked.Add(all[(int)i]);
                return new IteratorValue(picked);
            case "product" when args.Count > 0 && args.All(a => a is not TensorValue):
                var pools = args.Select(IterableItems).ToList();
                if (pools.Any(p => p is null) || pools.Aggregate(1L, (n, p) => n * p!.Count) > 4096) return null;
                IEnumerable<List<SymValue>> combos = [[]];
                foreach (var pool in pools) combos = combos.SelectMany(c => pool!.Select(item => (List<SymValue>)[.. c, item])).ToList();
                return new IteratorValue(combos.Select(c => (SymValue)new TupleValue(c)).ToList());
            default:
                return null;
        }
    }

    /// <summary>dict(), dict(mapping), dict(pairs), dict(key=value) (and OrderedDict's): a new dict, or null.</summary>
    private DictValue? DictOf(List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs, ObjectValue? type = null)
    {
        var made = new List<KeyValuePair<DictKey, SymValue>>();
        if (args.Count == 1)
        {
            if (args[0] is DictValue source)
                made.AddRange(source.Items);
            else if (IterableItems(args[0]) is { } pairs)
                foreach (var pair in pairs)
                {
                    if (IterableItems(pair) is not [var key, var value] || KeyOf(key) is not { } k) return null;
                    DictValue.Put(made, k, value);
                }
            else return null;
        }
        return new DictValue(Merged(made, Keyed(kwargs))) { Type = type };
    }

    /// <summary>
    /// super(C, self), or zero-argument super() in a method (the __class__ cell and the first
    /// argument, as CPython finds them); null when the values are not a class and an object.
    /// </summary>
    private SuperValue? SuperOf(List<SymValue> args)
    {
        if (args is [ObjectValue { Kind: ObjectKind.Class } cls, ObjectValue or UserObjectValue]) return new SuperValue(cls, args[1]);
        if (args.Count != 0 || !_code.FreeVars.Contains("__class__") || _code.ArgCount == 0) return null;
        return ReadVariable("__class__") is ObjectValue { Kind: ObjectKind.Class } owner && ReadVariable(_code.VarNames[0]) is (ObjectValue or UserObjectValue) and var first
            ? new SuperValue(owner, first) : null;
    }

    /// <summary>isinstance's second argument as a Python object: a class, or a tuple of classes; null for anything else.</summary>
    private static PyObject? ClassInfo(SymValue value)
    {
        switch (value)
        {
            case ObjectValue { Kind: ObjectKind.Class or ObjectKind.Builtin } cls:
                return cls.Object.NewReference();
            case ConstValue c when c.Value.IsTuple:
                return c.Value.NewReference();
            case TupleValue t when t.Items.All(i => i is ObjectValue { Kind: ObjectKind.Class or ObjectKind.Builtin } or ConstValue { Value.IsTuple: true }):
                var items = t.Items.Select(ClassInfo).ToList();
                try { return Py.Tuple(items!); }
                finally { foreach (var i in items) i?.Dispose(); }
            default:
                return null;
        }
    }

    /// <summary>The Python type a container value has: its named tuple type, tuple, list or dict.</summary>
    private static PyObject ContainerType(SymValue value) => value switch
    {
        TupleValue { NamedType: { } named } => named.NewReference(),
        TupleValue => Py.Builtins.GetAttr("tuple"),
        ListValue => Py.Builtins.GetAttr("list"),
        SetValue => Py.Builtins.GetAttr("set"),
        DictValue { Type: { } type } => type.Object.NewReference(),
        _ => Py.Builtins.GetAttr("dict"),
    };

    private static bool IsSubclass(PyObject type, PyObject classes)
    {
        using (type)
        using (var issubclass = Py.Builtins.GetAttr("issubclass"))
        using (var result = issubclass.Call(type, classes))
            return result.ToBoolean();
    }

    private static bool IsSubclassOfTensor(PyObject cls)
    {
        using var torch = Py.Import("torch");
        return IsSubclass(torch.GetAttr("Tensor"), cls);
    }

    /// <summary>What iterating over a value gives, when the capture knows it (an iterator is consumed); null otherwise.</summary>
    private List<SymValue>? IterableItems(SymValue v) => v switch
    {
        TupleValue t => t.Items.ToList(),
        ListValue l => l.Items.ToList(),
        IteratorValue it => _context.Consume(it),
        DictValue d => d.Items.Select(p => (SymValue)KeyValue(p.Key)).ToList(),
        SetValue s => s.Items.Select(k => (SymValue)KeyValue(k)).ToList(),
        ConstValue c when c.Value.IsTuple || c.Value.IsList || c.Value.IsStr || c.Value.TypeName is "range" or "torch.Size" =>
            c.Value.Iterate().Select(i => (SymValue)new ConstValue(i)).ToList(),
        TensorValue t when t.Meta.Rank > 0 => Enumerable.Range(0, (int)t.Meta.Shape[0].Concrete("iteration"))
            .Select(i => (SymValue)CallOp(Ops.GetItem, [new RefArg(t.Node), (long)i], [])).ToList(),
        _ => null,
    };

    /// <summary>
    /// Builtins that consume an iterable (a generator expression, a list, a tuple): all/any/sum and
    /// the rest on what the capture knows. Truth of a tensor is data-dependent: a break.
    /// </summary>
    private StepResult? Consuming(Instruction ins, ObjectValue fn, string name, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        if (args.Count is 0 or > 2 || kwargs.Count > 0 || name is not ("all" or "any" or "sum" or "tuple" or "list" or "sorted" or "min" or "max"))
            return null;
        if (args.Count == 2 && name != "sum") return null;
        if (args[0] is ConstValue || args.Count == 1 && name is "min" or "max" or "sorted" && args[0] is not IteratorValue and not TupleValue and not ListValue and not DictValue)
            return null; // plain constants: the real builtin below
        var items = IterableItems(args[0]);
        if (items is null) return null;
        switch (name)
        {
            case "tuple": Push(new TupleValue(items)); return StepResult.Continue;
            case "list": Push(new ListValue(items)); return StepResult.Continue;
            case "all" or "any":
                foreach (var item in items)
                {
                    if (item is TensorValue) return new StepResult.Break($"{name}() over tensors needs their values (data-dependent){At(ins)}");
                    if (Truth(item) is not { } truth) return new StepResult.Break($"{name}() over a {Describe(item)}{At(ins)}");
                    if (truth == (name == "any")) { Push(Const(Py.Bool(truth))); return StepResult.Continue; }
                }
                Push(Const(Py.Bool(name == "all")));
                return StepResult.Continue;
            case "sum":
                var total = args.Count == 2 ? args[1] : Const(Py.Int(0));
                foreach (var item in items)
                {
                    if (AddValues(total, item) is not { } next) return new StepResult.Break($"sum() over a {Describe(item)}{At(ins)}");
                    total = next;
                }
                Push(total);
                return StepResult.Continue;
            default: // sorted/min/max of constants
                if (!items.All(i => i is ConstValue)) return new StepResult.Break($"{name}() over values that are not constants{At(ins)}");
                using (var list = Py.List(items.Select(i => ((ConstValue)i).Value).ToList()))
                {
                    try { Push(Derived(fn.Object.Call(list), items)); }
                    catch (PythonException e) { return new StepResult.Break($"{name}() raised {e.PythonType} on constants{At(ins)}"); }
                }
                return StepResult.Continue;
        }
    }

    /// <summary>a + b as Python computes it (0 + tensor is tensor.__radd__(0), a new tensor).</summary>
    private SymValue? AddValues(SymValue a, SymValue b)
    {
        if (b is TensorValue && a is not TensorValue) (a, b) = (b, a);
        if (a is TensorValue) return CallOp(Ops.Add, [ToArg(a), ToArg(b)], []);
        if (a is not ConstValue ca || b is not ConstValue cb) return null;
        return Derived(PythonOperators.Apply("add", ca.Value, cb.Value), [ca, cb]);
    }

    private StepResult Iterable(Instruction ins, string name, List<SymValue> args)
    {
        List<SymValue>? Items(SymValue v) => IterableItems(v);
        List<SymValue>? items = name switch
        {
            "range" => RangeItems(args),
            "enumerate" when args.Count == 1 && Items(args[0]) is { } xs => xs.Select((x, i) => (SymValue)new TupleValue([Const(Py.Int(i)), x])).ToList(),
            "zip" when args.Select(Items).ToList() is var lists && lists.All(l => l is not null) && lists.Count > 0 =>
                Enumerable.Range(0, lists.Min(l => l!.Count)).Select(i => (SymValue)new TupleValue(lists.Select(l => l![i]).ToList())).ToList(),
            "reversed" when args.Count == 1 && Items(args[0]) is { } xs => Enumerable.Reverse(xs).ToList(),
            _ => null,
        };
        if (items is null) return new StepResult.Break($"{name}() over these values is not supported{At(ins)}");
        Push(new IteratorValue(items));
        return StepResult.Continue;
    }

    private static List<SymValue> RangeItems(List<SymValue> args)
    {
        var values = args.Cast<ConstValue>().Select(c => c.Value.ToInt64()).ToArray();
        var (start, stop, step) = values.Length switch
        {
            1 => (0L, values[0], 1L),
            2 => (values[0], values[1], 1L),
            _ => (values[0], values[1], values[2]),
        };
        if (step == 0) throw new InlineBreakException("range() arg 3 must not be zero");
        var items = new List<SymValue>();
        for (var i = start; step > 0 ? i < stop : i > stop; i += step) items.Add(Const(Py.Int(i)));
        return items;
    }
}
