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
            case "super" when kwargs.Count == 0 && SuperOf(args) is { } super:
                Push(super);
                return StepResult.Continue;
            case "len" when args.Count == 1:
                long? length = args[0] switch
                {
                    TupleValue t => t.Items.Count, ListValue l => l.Items.Count, DictValue d => d.Items.Count,
                    TensorValue t when t.Meta.Rank > 0 => t.Meta.Shape[0].Concrete("len"),
                    ConstValue c when c.Value.IsStr || c.Value.IsTuple || c.Value.TypeName is "range" or "torch.Size" => c.Value.Length,
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
                        TupleValue or ListValue or DictValue => IsSubclass(ContainerType(args[0]), classes),
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
        if (args.All(a => a is ConstValue) && kwargs.All(k => k.Value is ConstValue) && name is "abs" or "min" or "max" or "int" or "float" or "bool" or "str" or "round" or "tuple" or "list" or "sum" or "divmod" or "pow" or "getattr" or "hasattr" or "repr")
        {
            try
            {
                var result = fn.Object.Call(args.Cast<ConstValue>().Select(c => c.Value).ToList(), kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Key, ((ConstValue)k.Value).Value)));
                Push(Derived(result, args.Concat(kwargs.Select(k => k.Value))));
                return StepResult.Continue;
            }
            catch (PythonException e)
            {
                return new StepResult.Break($"{name}() raised {e.PythonType} on constants{At(ins)}");
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
        }
        if (name is "min" or "max" && args.Count == 2 && args.Any(a => a is TensorValue))
            return PushOrBreak(ins, () => CallOp(name == "min" ? Ops.Minimum : Ops.Maximum, args.Select(ToArg).ToList(), []));
        return new StepResult.Break($"builtin {name}() with these arguments is not supported{At(ins)}");
    }

    // d.items() and friends give lists here: iteration, len and unpacking behave as with the views
    private StepResult DictMethod(Instruction ins, DictMethodValue method, List<SymValue> args)
    {
        var items = method.Dict.Items;
        switch (method.Name, args.Count)
        {
            case ("items", 0): Push(new ListValue(items.Select(p => (SymValue)new TupleValue([Const(Py.Str(p.Key)), p.Value])).ToList())); break;
            case ("keys", 0): Push(new ListValue(items.Select(p => (SymValue)Const(Py.Str(p.Key))).ToList())); break;
            case ("values", 0): Push(new ListValue(items.Select(p => p.Value).ToList())); break;
            case ("get", 1 or 2) when args[0] is ConstValue { Value.IsStr: true } key:
                var found = items.FirstOrDefault(p => p.Key == key.Value.AsString());
                Push(found.Value ?? (args.Count == 2 ? args[1] : Const(Py.None)));
                break;
            default:
                return new StepResult.Break($"dict.{method.Name} with these arguments is not supported{At(ins)}");
        }
        return StepResult.Continue;
    }

    private static bool IsMethodOfImmutable(PyObject method)
    {
        if (method.TypeName != "builtin_function_or_method" || !method.HasAttr("__self__")) return false;
        using var self = method.GetAttr("__self__");
        return self.IsStr || self.IsInt || self.IsFloat || self.IsBool || self.IsBytes || self.TypeName is "tuple" or "torch.Size" or "torch.dtype";
    }

    private StepResult ListMethod(Instruction ins, ListMethodValue method, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var list = method.List;
        IEnumerable<SymValue>? added = (method.Name, args.Count, kwargs.Count) switch
        {
            ("append", 1, 0) => [args[0]],
            ("extend", 1, 0) => args[0] switch { TupleValue t => t.Items, ListValue l => l.Items, _ => null },
            _ => null,
        };
        if (added is null) return new StepResult.Break($"list.{method.Name} with these arguments is not supported{At(ins)}");
        _context.SetItems(list, list.Items.Concat(added).ToList());
        Push(Const(Py.None));
        return StepResult.Continue;
    }

    /// <summary>
    /// super(C, self), or zero-argument super() in a method (the __class__ cell and the first
    /// argument, as CPython finds them); null when the values are not a class and an object.
    /// </summary>
    private SuperValue? SuperOf(List<SymValue> args)
    {
        if (args is [ObjectValue { Kind: ObjectKind.Class } cls, ObjectValue self]) return new SuperValue(cls, self);
        if (args.Count != 0 || !_code.FreeVars.Contains("__class__") || _code.ArgCount == 0) return null;
        return ReadVariable("__class__") is ObjectValue { Kind: ObjectKind.Class } owner && ReadVariable(_code.VarNames[0]) is ObjectValue first
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
        using var tensor = torch.GetAttr("Tensor");
        using var issubclass = Py.Builtins.GetAttr("issubclass");
        using var result = issubclass.Call(tensor, cls);
        return result.ToBoolean();
    }

    /// <summary>What iterating over a value gives, when the capture knows it (an iterator is consumed); null otherwise.</summary>
    private List<SymValue>? IterableItems(SymValue v) => v switch
    {
        TupleValue t => t.Items.ToList(),
        ListValue l => l.Items.ToList(),
        IteratorValue it => _context.Consume(it),
        DictValue d => d.Items.Select(p => (SymValue)Const(Py.Str(p.Key))).ToList(),
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
        if (args[0] is ConstValue || args.Count == 1 && name is "min" or "max" or "sorted" && args[0] is not IteratorValue and not TupleValue and not ListValue)
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
