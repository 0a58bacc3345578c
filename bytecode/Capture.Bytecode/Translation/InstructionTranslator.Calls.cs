using Capture.Graphs;
using Capture.Python;
using Capture.Frontend;

namespace Capture.Bytecode;

// CALL and friends: torch functions and Tensor methods become graph nodes, builtins on constants
// run for real, user functions and nn.Module.forward are inlined; anything else is a graph break.
public sealed partial class InstructionTranslator
{
    private StepResult Call(Instruction ins)
    {
        var argc = ins.Arg!.Value;
        var args = PopN(argc);
        var kwNames = _kwNames is null ? [] : _kwNames.ToItems().Select(n => { using (n) return n.AsString(); }).ToList();
        _kwNames = null;
        var second = Pop();
        var first = Pop();
        SymValue callable;
        if (first is NullValue) callable = second;
        else
        {
            callable = first;
            args.Insert(0, second);
        }
        var positional = args.Take(args.Count - kwNames.Count).ToList();
        var keywords = kwNames.Select((n, i) => new KeyValuePair<string, SymValue>(n, args[positional.Count + i])).ToList();
        return CallValue(ins, callable, positional, keywords);
    }

    private StepResult CallEx(Instruction ins)
    {
        var kwargs = (ins.Arg!.Value & 1) == 1 ? Pop() : null;
        var args = Pop();
        var callable = Pop();
        if (_stack.Count > 0 && Peek() is NullValue) Pop();
        var positional = args switch { TupleValue t => t.Items.ToList(), ListValue l => l.Items.ToList(), _ => null };
        var keywords = kwargs switch { null => [], DictValue d => d.Items.ToList(), _ => null };
        if (positional is null || keywords is null) return new StepResult.Break($"call with *args or **kwargs of unknown length{At(ins)}");
        return CallValue(ins, callable, positional, keywords);
    }

    private StepResult CallValue(Instruction ins, SymValue callable, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        switch (callable)
        {
            case TensorMethodValue m:
                var step = TensorMethod(ins, m, args, kwargs);
                if (step is StepResult.Next && _stack.Count > 0) _stack[^1] = FromMetadata(_stack[^1], m.Self, m.Name + "()");
                return step;
            case ObjectValue { Kind: ObjectKind.TorchFunction or ObjectKind.Class } o when o.QualifiedName is "torch.no_grad" or "torch.enable_grad" or "torch.autograd.grad_mode.no_grad" or "torch.autograd.grad_mode.enable_grad":
                Push(new GradModeValue(o.QualifiedName.EndsWith("enable_grad", StringComparison.Ordinal)));
                return StepResult.Continue;
            case ObjectValue o when TorchQuery(ins, o, args, kwargs) is { } answered:
                return answered;
            case ObjectValue { Kind: ObjectKind.TorchFunction or ObjectKind.Builtin or ObjectKind.Class } o when TorchOpName(o) is { } op:
                return PushOrBreak(ins, () => CallOp(op, args.Select(ToArg).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value))).ToList()));
            case ObjectValue { Kind: ObjectKind.UserFunction } f when f.QualifiedName == "torch.nn.functional.relu"
                && args.Count >= 1 && args[0] is TensorValue input && kwargs.Any(k => k.Key == "inplace" && k.Value is ConstValue c && c.Value.IsTrue()):
                // F.relu(x, inplace=True) is x.relu_(): an in-place op on x, as eager torch does it
                return PushOrBreak(ins, () => CallMethodOp(input, "relu_", [], []));
            case ObjectValue { Kind: ObjectKind.UserFunction } f when OpRegistry.TryGet(f.QualifiedName, out _):
                // torch.nn.functional's Python functions are registry ops: no need to inline their bodies
                return PushOrBreak(ins, () => CallOp(f.QualifiedName, args.Select(ToArg).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value))).ToList()));
            case ObjectValue o when o.QualifiedName.StartsWith("math.", StringComparison.Ordinal) && args.All(a => a is ConstValue) && kwargs.Count == 0:
                // math's functions are pure: on constants they run for real
                try
                {
                    Push(Derived(o.Object.Call(args.Cast<ConstValue>().Select(c => c.Value).ToArray()), args));
                    return StepResult.Continue;
                }
                catch (PythonException e) { return new StepResult.Break($"{o.QualifiedName}() raised {e.PythonType} on constants{At(ins)}"); }
            case ObjectValue { Kind: ObjectKind.Builtin } o:
                return Builtin(ins, o, args, kwargs);
            case ObjectValue { Kind: ObjectKind.Class } o when o.QualifiedName.StartsWith("builtins.", StringComparison.Ordinal):
                return Builtin(ins, o, args, kwargs);
            case GradModeExitValue exit when args.Count == 3 && kwargs.Count == 0:
                SetGradMode(exit.Restore);
                Push(Const(Py.None));
                return StepResult.Continue;
            case DictMethodValue dm when kwargs.Count == 0:
                return DictMethod(ins, dm, args);
            case ConstValue c when IsMethodOfImmutable(c.Value) && args.All(a => a is ConstValue) && kwargs.All(k => k.Value is ConstValue):
                // "s".startswith("x"), size.numel(): methods of immutable constants are pure
                try
                {
                    Push(Derived(c.Value.Call(args.Cast<ConstValue>().Select(a => a.Value).ToList(),
                        kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Key, ((ConstValue)k.Value).Value))), args.Prepend(c)));
                    return StepResult.Continue;
                }
                catch (PythonException e) { return new StepResult.Break($"a method of a constant raised {e.PythonType}{At(ins)}"); }
            case ListMethodValue lm:
                return ListMethod(ins, lm, args, kwargs);
            case ModuleMethodValue mm:
                return InlineFunction(ins, mm.Self, mm.Function, args, kwargs, self: mm.Self, method: mm.Name);
            case ObjectValue { Kind: ObjectKind.UserFunction } f:
                return InlineFunction(ins, f, f.Object, args, kwargs, self: null);
            case FunctionValue f:
                return InlineMade(ins, f, args, kwargs);
            case ObjectValue { Kind: ObjectKind.NnModule } m:
                using (var type = m.Object.Type)
                using (var forward = type.GetAttr("forward"))
                {
                    if (ModuleHooks.Any(m.Object))
                        return new StepResult.Break($"nn.Module with hooks{At(ins)}");
                    return InlineFunction(ins, m, forward, args, kwargs, self: m);
                }
            default:
                return new StepResult.Break($"call to {Describe(callable)} is not supported{At(ins)}");
        }
    }


    /// <summary>
    /// torch functions that answer from metadata or global state rather than tensor values: answered
    /// at capture time (global state under a guard). Null when <paramref name="o"/> is not one.
    /// </summary>
    private StepResult? TorchQuery(Instruction ins, ObjectValue o, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        StepResult Answer(PyObject value)
        {
            Push(Const(value));
            return StepResult.Continue;
        }
        var tensor = args is [TensorValue t] && kwargs.Count == 0 ? t : null;
        // torch.overrides re-exports torch._C's functions: one name for both ways of reaching them
        var name = o.QualifiedName.StartsWith("torch.overrides.has_torch_function", StringComparison.Ordinal)
            ? "torch._C._" + o.QualifiedName["torch.overrides.".Length..] : o.QualifiedName;
        switch (name)
        {
            case "torch._C._has_torch_function" or "torch._C._has_torch_function_unary" or "torch._C._has_torch_function_variadic":
                // plain tensors (their type is guarded) and Python scalars do not override torch functions
                var values = name == "torch._C._has_torch_function" && args.Count == 1 ? IterableItems(args[0]) : args;
                if (values is null || kwargs.Count > 0 || values.Any(v => v is not (TensorValue or ConstValue)))
                    return new StepResult.Break($"{o.QualifiedName}() on values that may override torch functions{At(ins)}");
                return Answer(Py.Bool(false));
            case "torch.is_grad_enabled" when args.Count == 0:
                return Answer(Py.Bool(_context.Builder.GradEnabled));
            case "torch.is_autocast_enabled" or "torch.get_default_dtype" or "torch.is_autocast_cpu_enabled" or "torch.are_deterministic_algorithms_enabled" when args.Count == 0:
                var state = o.Object.Call();
                _context.Guards.Add(new GlobalStateGuard($"{o.QualifiedName}()", o.Object.NewReference(), state.NewReference()));
                return Answer(state);
            case "torch._jit_internal.is_scripting" or "torch.jit.is_scripting" or "torch._jit_internal.is_tracing" or "torch.jit.is_tracing" when args.Count == 0:
                return Answer(Py.Bool(false));
            case "torch._C._get_tracing_state" when args.Count == 0:
                return Answer(Py.None);
            case "torch.is_tensor" when args.Count == 1:
                return Answer(Py.Bool(args[0] is TensorValue));
            case "torch.is_floating_point" when tensor is not null:
                return Answer(Py.Bool(tensor.Meta.DType.IsFloatingPoint()));
            case "torch.is_complex" when tensor is not null:
                return Answer(Py.Bool(false));
            case "torch.numel" when tensor is not null:
                return Answer(Py.Int(tensor.Meta.Shape.NumElements("numel")));
        }
        return null;
    }

    /// <summary>The registry name of a torch function value ("torch.add", "torch.nn.functional.gelu"), or an opaque name for other torch callables.</summary>
    private static string? TorchOpName(ObjectValue o) =>
        o.Kind == ObjectKind.Class && o.QualifiedName.StartsWith("torch.", StringComparison.Ordinal)
            && !new[] { "torch.nn.functional.", "torch._C._nn.", "torch._C._VariableFunctions." }.Any(p => o.QualifiedName.StartsWith(p, StringComparison.Ordinal))
            ? null // torch classes (torch.Size, torch.nn.Linear) are not ops
            : OpRegistry.NameForPython(o.QualifiedName);

    private StepResult TensorMethod(Instruction ins, TensorMethodValue m, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var meta = m.Self.Meta;
        switch (m.Name)
        {
            case "size" when kwargs.Count == 0:
                if (args.Count == 0) { Push(Size(meta)); return StepResult.Continue; }
                if (args[0] is ConstValue { Value.IsInt: true } d)
                {
                    Push(Const(Py.Int(meta.Shape[meta.Shape.WrapDim(d.Value.ToInt64(), "size")].Concrete("size"))));
                    return StepResult.Continue;
                }
                break;
            case "dim" or "ndimension":
                Push(Const(Py.Int(meta.Rank)));
                return StepResult.Continue;
            case "numel" or "nelement":
                Push(Const(Py.Int(meta.Shape.NumElements("numel"))));
                return StepResult.Continue;
            case "is_contiguous" when args.Count == 0:
                Push(Const(Py.Bool(meta.Strides is { } s && s.Equals(meta.Shape.ContiguousStrides()))));
                return StepResult.Continue;
            case "is_floating_point":
                Push(Const(Py.Bool(meta.DType.IsFloatingPoint())));
                return StepResult.Continue;
            case "item" or "tolist" or "numpy" or "__bool__" or "__int__" or "__float__" or "backward" or "cpu" or "cuda" or "numpy":
                return new StepResult.Break($"Tensor.{m.Name}() needs the tensor's values (data-dependent){At(ins)}");
        }
        if (!OpRegistry.TryGetMethod(m.Name, out _))
            return new StepResult.Break($"Tensor.{m.Name} is not in Capture's op registry{At(ins)}");
        return PushOrBreak(ins, () => CallMethodOp(m.Self, m.Name, args.Select(ToArg).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value))).ToList()));
    }

    private StepResult Builtin(Instruction ins, ObjectValue fn, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var name = fn.QualifiedName.StartsWith("builtins.", StringComparison.Ordinal) ? fn.QualifiedName[9..] : fn.QualifiedName;
        switch (name)
        {
            case "len" when args.Count == 1:
                long? length = args[0] switch
                {
                    TupleValue t => t.Items.Count, ListValue l => l.Items.Count, DictValue d => d.Items.Count,
                    TensorValue t when t.Meta.Rank > 0 => t.Meta.Shape[0].Concrete("len"),
                    ConstValue c when c.Value.IsStr || c.Value.IsTuple => c.Value.Length,
                    _ => null,
                };
                if (length is null) break;
                Push(Const(Py.Int(length.Value)));
                return StepResult.Continue;
            case "isinstance" when args.Count == 2 && args[1] is ObjectValue { Kind: ObjectKind.Class or ObjectKind.Builtin } cls:
                bool? result = args[0] switch
                {
                    TensorValue => IsSubclassOfTensor(cls.Object),
                    ConstValue c => c.Value.IsInstance(cls.Object),
                    ObjectValue o => o.Object.IsInstance(cls.Object),
                    TupleValue => cls.QualifiedName == "builtins.tuple",
                    ListValue => cls.QualifiedName == "builtins.list",
                    _ => null,
                };
                if (result is null) break;
                Push(Const(Py.Bool(result.Value)));
                return StepResult.Continue;
            case "range" when args.All(a => a is ConstValue { Value.IsInt: true }) && kwargs.Count == 0:
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
            return PushOrBreak(ins, () => CallOp(name == "min" ? "torch.minimum" : "torch.maximum", args.Select(ToArg).ToList(), []));
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
            .Select(i => (SymValue)CallOp("operator.getitem", [new RefArg(t.Node), (long)i], [])).ToList(),
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
        if (a is TensorValue) return CallOp("torch.add", [ToArg(a), ToArg(b)], []);
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

    private StepResult InlineFunction(Instruction ins, SymValue callee, PyObject function, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs, ObjectValue? self, string method = "forward")
    {
        CodeInfo code;
        try { code = InstructionDecoder.Decode(function); }
        catch (PythonException e) { return new StepResult.Break($"cannot read the bytecode of the called function: {e.Message}{At(ins)}"); }
        var source = callee.Source;
        // where the function itself is found: f, or type(self).method as self.method.__func__
        var functionSource = source is null ? null : self is null ? source : new AttrSource(new AttrSource(source, method), "__func__");
        if (code.FreeVars.Count > 0 && functionSource is null)
            return new StepResult.Break($"call to closure {code.Name} without a source for its cells{At(ins)}");
        var (defaults, kwDefaults) = RealDefaults(function, functionSource);
        var locals = BindArguments(code, self is null ? args : args.Prepend(self).ToList(), kwargs, defaults, kwDefaults);
        if (locals is null) return new StepResult.Break($"call to {code.Name} with arguments that do not match its signature{At(ins)}");
        if (code.FreeVars.Count > 0)
        {
            using var closure = function.GetAttr("__closure__");
            for (var i = 0; i < code.FreeVars.Count; i++)
            {
                using var cell = closure.GetItem(i);
                if (!cell.HasAttr("cell_contents")) continue; // an empty cell: reading it is the error it is in Python
                using var contents = cell.GetAttr("cell_contents");
                locals[code.FreeVars[i]] = _context.Wrap(contents, new AttrSource(new ItemSource(new AttrSource(functionSource!, "__closure__"), i), "cell_contents"));
            }
        }
        using var globals = function.GetAttr("__globals__");
        Source? globalsSource = globals.Is(_context.Frame.Globals) ? null
            : _context.TrustedModuleOf(globals) is { } trusted ? new TrustedModuleSource(trusted)
            : functionSource is null ? null : new AttrSource(functionSource, "__globals__");
        if (!globals.Is(_context.Frame.Globals) && globalsSource is null)
            return new StepResult.Break($"call to {code.Name} from another module without a source{At(ins)}");
        Push(Inline(code, locals, new Dictionary<string, CellValue>(), globals, globalsSource));
        return StepResult.Continue;
    }

    /// <summary>A function made during capture: its defaults and cells are symbolic already.</summary>
    private StepResult InlineMade(Instruction ins, FunctionValue f, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var locals = BindArguments(f.Code, args, kwargs, f.Defaults, f.KwDefaults);
        if (locals is null) return new StepResult.Break($"call to {f.Code.Name} with arguments that do not match its signature{At(ins)}");
        var cells = f.Code.FreeVars.Select((name, i) => (name, cell: f.Closure[i])).ToDictionary(p => p.name, p => p.cell);
        Push(Inline(f.Code, locals, cells, f.Globals, f.GlobalsSource));
        return StepResult.Continue;
    }

    /// <summary>A real function's defaults: guarded through its source when it has one, constants otherwise.</summary>
    private (List<SymValue> Defaults, List<KeyValuePair<string, SymValue>> KwDefaults) RealDefaults(PyObject function, Source? functionSource)
    {
        SymValue Wrap(PyObject value, Func<Source, Source> at)
        {
            if (functionSource is not null) return _context.Wrap(value, at(functionSource));
            if (_context.Torch.IsTensor(value)) throw new InlineBreakException("a tensor default of a function without a source");
            return new ConstValue(value.NewReference());
        }
        using var defaults = function.GetAttr("__defaults__");
        var positional = new List<SymValue>();
        if (!defaults.IsNone)
        {
            var items = defaults.ToItems();
            for (var i = 0; i < items.Count; i++)
            {
                var index = i;
                using (items[i]) positional.Add(Wrap(items[i], s => new ItemSource(new AttrSource(s, "__defaults__"), index)));
            }
        }
        using var kwDefaults = function.GetAttr("__kwdefaults__");
        var keywords = new List<KeyValuePair<string, SymValue>>();
        if (!kwDefaults.IsNone)
            foreach (var (k, v) in kwDefaults.ToDictItems())
            {
                using (k)
                using (v)
                {
                    var name = k.AsString();
                    keywords.Add(new(name, Wrap(v, s => new KeySource(new AttrSource(s, "__kwdefaults__"), name))));
                }
            }
        return (positional, keywords);
    }

    /// <summary>Binds call arguments to a function's parameters, defaults included; null if they do not fit.</summary>
    private static Dictionary<string, SymValue>? BindArguments(CodeInfo code, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs,
        IReadOnlyList<SymValue> defaults, IReadOnlyList<KeyValuePair<string, SymValue>> kwDefaults)
    {
        var locals = new Dictionary<string, SymValue>();
        var names = code.VarNames.Take(code.ArgCount + code.KwOnlyArgCount).ToList();
        var positional = code.ArgCount;
        for (var i = 0; i < Math.Min(args.Count, positional); i++) locals[names[i]] = args[i];
        var extra = args.Skip(positional).ToList();
        var next = code.ArgCount + code.KwOnlyArgCount;
        if (code.HasVarArgs) locals[code.VarNames[next++]] = new TupleValue(extra);
        else if (extra.Count > 0) return null;
        var extraKw = new List<KeyValuePair<string, SymValue>>();
        foreach (var (key, value) in kwargs)
        {
            if (names.Contains(key)) { if (!locals.TryAdd(key, value)) return null; }
            else extraKw.Add(new(key, value));
        }
        if (code.HasVarKeywords) locals[code.VarNames[next]] = new DictValue(extraKw);
        else if (extraKw.Count > 0) return null;
        for (var i = 0; i < defaults.Count; i++)
            locals.TryAdd(names[positional - defaults.Count + i], defaults[i]);
        foreach (var (name, value) in kwDefaults) locals.TryAdd(name, value);
        return names.All(locals.ContainsKey) ? locals : null;
    }

    private StepResult MakeFunction(Instruction ins)
    {
        var flags = ins.Arg!.Value;
        if (Pop() is not ConstValue codeValue) return new StepResult.Break($"MAKE_FUNCTION without a code object{At(ins)}");
        var closure = (flags & 0x08) != 0 ? Pop() : null;
        if ((flags & 0x04) != 0) Pop(); // annotations do not change what the function computes
        var kwDefaults = (flags & 0x02) != 0 ? Pop() : null;
        var defaults = (flags & 0x01) != 0 ? Pop() : null;
        var code = codeValue.Value;
        var cells = closure switch
        {
            null => [],
            TupleValue t when t.Items.All(i => i is CellValue) => t.Items.Cast<CellValue>().ToList(),
            _ => null,
        };
        var positional = defaults switch
        {
            null => [],
            TupleValue t => t.Items,
            ConstValue c when c.Value.IsTuple => c.Value.ToItems().Select(v => (SymValue)new ConstValue(v)).ToList(),
            _ => null,
        };
        var keywords = kwDefaults switch
        {
            null => [],
            DictValue d => d.Items,
            _ => null,
        };
        if (cells is null || positional is null || keywords is null) return new StepResult.Break($"MAKE_FUNCTION with defaults or cells Capture cannot follow{At(ins)}");
        Push(new FunctionValue(code.NewReference(), InstructionDecoder.Decode(code), positional, keywords, cells, _globals, _globalsSource));
        return StepResult.Continue;
    }

    // --- Graph nodes ----------------------------------------------------------------------------

    private StepResult PushOrBreak(Instruction ins, Func<SymValue> make)
    {
        try
        {
            Push(make());
            return StepResult.Continue;
        }
        catch (ShapeError e)
        {
            // torch would raise here too: the real instruction raises it with the user's line.
            return new StepResult.Break($"{e.Message}{At(ins)}");
        }
        catch (NotSupportedException e)
        {
            return new StepResult.Break($"{e.Message}{At(ins)}");
        }
        catch (ArgumentConversionException e)
        {
            return new StepResult.Break($"{e.Message}{At(ins)}");
        }
    }

    private SymValue CallOp(string name, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs)
    {
        var op = OpRegistry.GetOrOpaque(name);
        if (op.IsInPlace) _context.Mutations++;
        var meta = op.Category == OpCategory.Opaque ? _context.Torch.InferOpaque(name, args, kwargs, _context.Builder.MetaOf) : null;
        return Named(op, FromNode(_context.Builder.Call(op, args, kwargs, opaqueMeta: meta)));
    }

    // torch.max(x, dim) returns torch.return_types.max(values, indices), not a plain tuple
    private static SymValue Named(OpDef op, SymValue result)
    {
        if (result is not TupleValue tuple || op.Name is not ("torch.max" or "torch.min")) return result;
        using var torch = Py.Import("torch");
        using var types = torch.GetAttr("return_types");
        return tuple with { NamedType = types.GetAttr(op.Name[6..]) };
    }

    private SymValue CallMethodOp(TensorValue self, string method, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs)
    {
        var op = OpRegistry.TryGetMethod(method, out var found) ? found : throw new NotSupportedException($"Tensor.{method} is not in Capture's op registry");
        if (op.IsInPlace) _context.Mutations++;
        return Named(op, FromNode(_context.Builder.Call(op, args.Prepend(new RefArg(self.Node)).ToList(), kwargs, method: true)));
    }

    private SymValue FromNode(RefArg node) => _context.Builder.MetaOf(node) switch
    {
        TensorMeta t => new TensorValue(node.Name, t),
        TupleMeta tuple => new TupleValue(Enumerable.Range(0, tuple.Items.Count).Select(i => FromNode(_context.Builder.Call("operator.getitem", node, (long)i))).ToList()),
        var other => throw new NotSupportedException($"an op returning {MetaText.Format(other)} cannot be used in a graph yet"),
    };

    private Arg ToArg(SymValue value) => value switch
    {
        TensorValue t => new RefArg(t.Node),
        ConstValue c => ConstArg(c.Value),
        TupleValue t => new ListArg(t.Items.Select(ToArg).ToEquatableList(), IsTuple: true),
        ListValue l => new ListArg(l.Items.Select(ToArg).ToEquatableList()),
        _ => throw new ArgumentConversionException($"a {Describe(value)} cannot be an argument of a graph op"),
    };

    private Arg ConstArg(PyObject value)
    {
        if (value.IsNone) return NoneArg.Instance;
        if (value.IsBool) return new BoolArg(value.ToBoolean());
        if (value.IsInt) return new IntArg(value.ToInt64());
        if (value.IsFloat) return new FloatArg(value.ToDouble());
        if (value.IsStr) return new StrArg(value.AsString());
        if (_context.Torch.AsDType(value) is { } d) return new DTypeArg(d);
        if (value.IsTuple || value.IsList)
            return new ListArg(value.ToItems().Select(i => { using (i) return ConstArg(i); }).ToEquatableList(), value.IsTuple);
        switch (value.TypeName)
        {
            case "ellipsis": return EllipsisArg.Instance;
            case "slice":
                using (var start = value.GetAttr("start"))
                using (var stop = value.GetAttr("stop"))
                using (var step = value.GetAttr("step"))
                    return new SliceArg(ConstArg(start), ConstArg(stop), ConstArg(step));
            case "torch.Size":
                return new ListArg(value.ToItems().Select(i => { using (i) return ConstArg(i); }).ToEquatableList(), IsTuple: true);
        }
        throw new ArgumentConversionException($"a {value.TypeName} constant cannot be an argument of a graph op");
    }

    private Arg IndexArg(SymValue index) => ToArg(index);
}

/// <summary>A value that cannot be passed to a graph op (a graph break, not a bug).</summary>
internal sealed class ArgumentConversionException(string message) : Exception(message);
