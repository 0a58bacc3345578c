namespace Capture.Frontend;

// Calls: torch functions and Tensor methods through the op registry, builtins on values known at
// capture time, user functions and nn.Modules transformed from their own source.
public sealed partial class AstTransformer
{
    /// <summary>Modules whose functions and globals do not change: what comes from them needs no assumption.</summary>

    private AstValue EvalCall(CallExpr c)
    {
        var function = Eval(c.Function);
        var args = Items(c.Args);
        var kwargs = new List<KeyValuePair<string, AstValue>>();
        foreach (var k in c.Keywords)
        {
            if (k.Name is not null)
            {
                kwargs.Add(new(k.Name, Eval(k.Value)));
                continue;
            }
            // f(**kwargs): a dict whose names are known at capture time (a **kwargs parameter, a dict argument)
            if (Eval(k.Value) is not DictVal named)
                throw Error(k.At, "**kwargs", "passing ** of a value other than a **kwargs parameter or a dict argument cannot be captured by the AST path",
                    "pass the keyword arguments by name");
            foreach (var item in named.Items)
            {
                if (kwargs.Any(a => a.Key == item.Key))
                    throw Error(k.At, "call", $"got multiple values for keyword argument '{item.Key}'", "check the call");
                kwargs.Add(item);
            }
        }
        At(c.At);
        return Call(function, args, kwargs, c);
    }

    private AstValue Call(AstValue function, IReadOnlyList<AstValue> args, IReadOnlyList<KeyValuePair<string, AstValue>> kwargs, CallExpr call)
    {
        var at = call.At;
        switch (function)
        {
            case MethodVal { Self: TensorVal t } m:
                return CallTensorMethod(t, m.Name, args, kwargs, at);
            case MethodVal { Self: ObjVal { Kind: ObjectKind.NnModule } module } m:
            {
                using var type = module.Object.Type;
                using var method = type.GetAttr(m.Name);
                var path = module.Path is null ? null : new AttrSource(new AttrSource(module.Path, m.Name), "__func__");
                return Inline(method, path, args.Prepend(module).ToList(), kwargs, at);
            }
            case MethodVal { Self: ListVal or TupleVal } m:
                return SequenceMethod(m.Self, m.Name, args, at);
            case MethodVal { Self: DictVal d } m:
                return DictMethod(d, m.Name, args, at);
            case ObjVal { Kind: ObjectKind.NnModule } module:
                return CallModule(module, args, kwargs, at);
            case ObjVal { Kind: ObjectKind.UserFunction } f when FunctionMarks.IsAllowedInGraph(f.Object):
                // capture.allow_in_graph: one opaque node that calls the function by module and name
                return CallTorch(FunctionMarks.ResolvableName(f.Object) ?? throw Error(at, "allow_in_graph",
                    $"capture.allow_in_graph({f.Name}): a graph node calls a function by its module and name, and this one is not reachable so",
                    "define the function at module level"), args, kwargs, at);
            case ObjVal { Kind: ObjectKind.UserFunction } f when TorchOpName(f) is null:
                try { return Inline(f.Object, f.Path, args, kwargs, at); }
                catch (AstCaptureException e) when (!e.EagerFailsToo && IsJitIgnored(f.Object))
                {
                    // TorchScript runs an ignored function as Python; a graph cannot: say so where it is called
                    throw new AstCaptureException([new Diagnostic(at, "jit.ignore",
                        $"{f.Name} is @torch.jit.ignore: TorchScript runs it as Python, the AST path captures it from its source into the graph, and its body cannot be captured (below)",
                        "call it outside the captured function, or use mode='bytecode' (which breaks the graph at the call and runs it as Python)", LineText(at)), .. e.Diagnostics]);
                }
            case ObjVal { Kind: ObjectKind.UserFunction } f when f.Name.StartsWith("torch.nn.functional.", StringComparison.Ordinal) && !OpRegistry.TryGet(f.Name, out _):
                // torch's own Python functions outside the registry: transformed from their source like the user's
                return Inline(f.Object, null, args, kwargs, at);
            case ObjVal f when TorchOpName(f) is { } opName:
                return CallTorch(opName, args, kwargs, at);
            case ObjVal { Kind: ObjectKind.Builtin or ObjectKind.Class } f when f.Name.StartsWith("builtins.", StringComparison.Ordinal):
                return CallBuiltin(f, f.Name[9..], args, kwargs, call);
            case ObjVal f when (f.Kind is ObjectKind.Builtin || f.Name.StartsWith("math.", StringComparison.Ordinal)) && args.All(a => a is ConstVal) && kwargs.All(k => k.Value is ConstVal):
                // math.sqrt(2.0), "a".upper(): pure functions of Python values, run now
                return CallForReal(f, args, kwargs, at);
            case ObjVal f when f.Name.StartsWith("math.", StringComparison.Ordinal):
                throw Error(at, "math on a tensor", $"{f.Name} takes Python numbers; on a tensor it would need the tensor's value", $"use torch.{f.Name[5..]}");
            case ObjVal { Kind: ObjectKind.Class } cls:
                throw Error(at, "python object", $"constructing a {cls.Name} object cannot be captured: the AST path handles tensors and Python values, not arbitrary objects",
                    "construct it outside the captured function and pass what it holds as arguments");
            case UndefinedVal u:
                throw Error(at, "undefined", u.Why, "assign the variable on every path before using it");
            default:
                throw UnknownFunction(call, function);
        }
    }

    /// <summary>Whether torch.jit.ignore marked the function (TorchScript leaves its calls as Python calls).</summary>
    private static bool IsJitIgnored(PyObject function)
    {
        if (!function.HasAttr("_torchscript_modifier")) return false;
        // torch._jit_internal.FunctionModifiers.IGNORE: "ignore (leave as a call to Python, ...)"
        using var modifier = function.GetAttr("_torchscript_modifier");
        return modifier.IsStr && modifier.AsString().StartsWith("ignore", StringComparison.Ordinal);
    }

    private AstCaptureException UnknownFunction(CallExpr call, AstValue function) =>
        Error(call.At, "unknown function",
            $"call to {CalleeText(call.Function)}{(function is ObjVal o ? $" ({o.Name})" : "")}, which the AST path does not know: it is not a torch function, a Tensor method, a supported builtin, or a Python function whose source it can read",
            "use torch operations, or use mode='bytecode' (which runs unknown calls eagerly, with a graph break)");

    private static string CalleeText(Expr callee) => callee switch
    {
        NameExpr n => $"'{n.Id}'",
        AttributeExpr { Value: NameExpr n } a => $"'{n.Id}.{a.Attr}'",
        AttributeExpr a => $"'.{a.Attr}'",
        _ => "this callable",
    };

    /// <summary>The registry name of a torch callable ("torch.add", "torch.nn.functional.gelu"), or null for others.</summary>
    private static string? TorchOpName(ObjVal o) =>
        o.Kind is ObjectKind.NnModule or ObjectKind.Module or ObjectKind.Class ? null : OpRegistry.NameForPython(o.Name);

    private AstValue CallTorch(string name, IReadOnlyList<AstValue> args, IReadOnlyList<KeyValuePair<string, AstValue>> kwargs, Span at)
    {
        switch (name)
        {
            case "torch.is_tensor" when args.Count == 1: return new ConstVal(Py.Bool(args[0] is TensorVal));
            case "torch.is_grad_enabled": return new ConstVal(Py.Bool(_scope.Builder.GradEnabled));
            case "torch.is_floating_point" when args is [TensorVal t]: return new ConstVal(Py.Bool(t.Meta.DType.IsFloatingPoint()));
            case "torch.numel" when args is [TensorVal t]: return new ConstVal(Py.Int(t.Meta.Shape.NumElements("numel")));
            case "torch.jit.is_scripting" or "torch.jit.is_tracing" or "torch._jit_internal.is_scripting" or "torch._jit_internal.is_tracing":
                return new ConstVal(Py.Bool(false));
            case "torch._C._get_tracing_state" when args.Count == 0:
                return new ConstVal(Py.None);
            case "torch._C._has_torch_function" or "torch._C._has_torch_function_unary" or "torch._C._has_torch_function_variadic"
                or "torch.overrides.has_torch_function" or "torch.overrides.has_torch_function_unary" or "torch.overrides.has_torch_function_variadic":
            {
                // plain tensors (their metadata is assumed) and Python values do not override torch functions
                var values = args.Count == 1 && name.EndsWith("has_torch_function", StringComparison.Ordinal) ? Unpack(args[0], at) : args;
                if (values.Any(v => v is not (TensorVal or ConstVal)))
                    throw Error(at, "torch function override", $"{name}() on values that may override torch functions", "pass tensors and Python numbers");
                return new ConstVal(Py.Bool(false));
            }
            case "torch.is_autocast_enabled" or "torch.get_default_dtype" or "torch.is_autocast_cpu_enabled" or "torch.are_deterministic_algorithms_enabled" when args.Count == 0:
            {
                // torch's global state, read now and assumed for later calls
                using var torch = Py.Import("torch");
                using var function = torch.GetAttr(name[6..]);
                var state = function.Call();
                Assume(new GlobalSource($"{name}()"), new GlobalStateGuard($"{name}()", function.NewReference(), state.NewReference()));
                return new ConstVal(state);
            }
        }
        return Op(name, args.Select(a => ToArg(a, at)).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value, at))).ToList(), at);
    }

    private AstValue CallTensorMethod(TensorVal t, string name, IReadOnlyList<AstValue> args, IReadOnlyList<KeyValuePair<string, AstValue>> kwargs, Span at)
    {
        var meta = t.Meta;
        switch (name)
        {
            case "size" when kwargs.Count == 0 && args.Count == 0:
                return TensorAttribute(t, "shape", at);
            case "size" when kwargs.Count == 0 && args is [ConstVal { Value.IsInt: true } d]:
                return new ConstVal(Py.Int(meta.Shape[meta.Shape.WrapDim(d.Value.ToInt64(), "size")].Concrete("size")));
            case "dim" or "ndimension": return new ConstVal(Py.Int(meta.Rank));
            case "numel" or "nelement": return new ConstVal(Py.Int(meta.Shape.NumElements("numel")));
            case "is_contiguous" when args.Count == 0: return new ConstVal(Py.Bool(meta.Strides is { } s && s.Equals(meta.Shape.ContiguousStrides())));
            case "is_floating_point": return new ConstVal(Py.Bool(meta.DType.IsFloatingPoint()));
            case "cpu" when args.Count == 0: return t;
            case "item" or "tolist" or "numpy" or "__bool__" or "__int__" or "__float__":
                throw Error(at, "data-dependent", $"Tensor.{name}() needs the tensor's value while the graph runs (data-dependent)",
                    "keep the value a tensor (use it in torch ops, or as an if/while condition)");
            case "backward" or "cuda" or "register_hook" or "retain_grad":
                throw Error(at, $"Tensor.{name}", $"Tensor.{name}() reaches outside the graph", "call it outside the captured function");
        }
        if (!OpRegistry.TryGetMethod(name, out _))
        {
            // outside the registry: an opaque call of torch.Tensor.NAME, its metadata from torch's fake tensors
            if (OpaqueMethods.Name(name, out var why) is not { } opaque)
                throw Error(at, "unknown method", why, "use an equivalent torch operation, or use mode='bytecode'");
            return Op(opaque, args.Select(a => ToArg(a, at)).Prepend(Use(t)).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value, at))).ToList(), at);
        }
        return Op(name, args.Select(a => ToArg(a, at)).Prepend(Use(t)).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value, at))).ToList(), at, method: true);
    }

    /// <summary>Adds a registry op (a Tensor method when <paramref name="method"/>) to the current graph; shape errors point at the user's line.</summary>
    private AstValue Op(string name, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Span at, bool method = false) =>
        Op(method ? (OpRegistry.TryGetMethod(name, out var m) ? m : throw new InvalidOperationException(name)) : OpRegistry.GetOrOpaque(name), args, kwargs, at, method);

    private AstValue Op(OpDef op, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Span at, bool method = false)
    {
        try
        {
            if (op.Category != OpCategory.Opaque) return FromNode(_scope.Builder.Call(op, args, kwargs, method), op, at);
            var inferred = _torch.InferOpaque(op.Name, args, kwargs, _scope.Builder.MetaOf);
            var result = FromNode(_scope.Builder.Call(OpDef.Opaque(op.Name, inferred), args, kwargs, method, inferred.Meta), op, at);
            // a named tuple (torch.return_types.topk) as torch returns it, or a plain one
            return result is TupleVal tuple ? tuple with { NamedType = inferred.TupleType is { } type ? ReturnType(type["torch.return_types.".Length..]) : null } : result;
        }
        catch (ShapeError e)
        {
            throw Error(at, "shape error", e.Message, "torch raises this too for these inputs: fix the shapes or dtypes");
        }
        catch (Exception e) when (e is (NotSupportedException and not AstCaptureException) or ArgumentException or PythonException)
        {
            throw Error(at, "op", $"{(method ? "Tensor." + op.MethodName : op.Name)}: {e.Message}", "check the arguments, or use mode='bytecode'");
        }
    }

    private AstValue FromNode(RefArg node, OpDef op, Span at) => _scope.Builder.MetaOf(node) switch
    {
        TensorMeta t => new TensorVal(node.Name, t, _scope),
        TupleMeta tuple => new TupleVal(Enumerable.Range(0, tuple.Items.Count)
            .Select(i => FromNode(_scope.Builder.Call(Ops.GetItem, node, (long)i), op, at)).ToList()) { NamedType = ReturnType(op) },
        NoneMeta => new ConstVal(Py.None),
        var other => throw Error(at, "op result", $"{op.Name} returns {MetaText.Format(other)}, which cannot be used in a graph yet", "use an op that returns tensors"),
    };

    // torch.max(x, dim) returns torch.return_types.max(values, indices), not a plain tuple
    private static PyObject? ReturnType(OpDef op) => ReturnType(op.MethodName ?? op.Name[(op.Name.LastIndexOf('.') + 1)..]);

    private static PyObject? ReturnType(string shortName)
    {
        using var torch = Py.Import("torch");
        using var types = torch.GetAttr("return_types");
        return types.HasAttr(shortName) ? types.GetAttr(shortName) : null;
    }

    private AstValue CallModule(ObjVal module, IReadOnlyList<AstValue> args, IReadOnlyList<KeyValuePair<string, AstValue>> kwargs, Span at)
    {
        if (ModuleHooks.Any(module.Object))
            throw Error(at, "module hooks", $"{module.Name} has hooks (its own or torch's global ones), which run Python code around its forward",
                "remove the hooks, or use mode='bytecode'");
        using var type = module.Object.Type;
        if (!ModuleCall.IsModuleCall(type))
            throw Error(at, "module __call__", $"{module.Name} ({module.Object.TypeName}) overrides nn.Module.__call__, which the AST path does not follow",
                "move the logic into forward, or use mode='bytecode'");
        ModuleCall.Guard(_namespaces, module.Object, type, module.Path?.ToString() ?? module.Name);
        using var own = ModuleCall.InstanceForward(module.Object);
        if (own is not null) // m.forward = f: nn.Module.__call__ runs f, without self
            return Inline(own, module.Path is null ? null : new AttrSource(module.Path, "forward"), args, kwargs, at);
        using var forward = type.GetAttr("forward");
        var path = module.Path is null ? null : new AttrSource(new AttrSource(module.Path, "forward"), "__func__");
        return Inline(forward, path, args.Prepend(module).ToList(), kwargs, at);
    }

    /// <summary>Transforms a user function's own source with its arguments bound to values of this capture.</summary>
    private AstValue Inline(PyObject function, Source? path, IReadOnlyList<AstValue> args, IReadOnlyList<KeyValuePair<string, AstValue>> kwargs, Span at)
    {
        if (function.TypeName != "function")
            throw Error(at, "unknown function", $"{function.TypeName} objects cannot be called by the AST path", "call Python functions, torch functions or nn.Modules");
        if (_depth >= MaxInlineDepth)
            throw Error(at, "recursion", $"calls nest deeper than {MaxInlineDepth} levels (recursion?)", "the AST path inlines every call: recursion cannot be captured");
        using var code = function.GetAttr("__code__");
        // the capture transformed this code with these defaults: fn.__code__ = other.__code__ recompiles
        _guards.Add(FunctionGuard.Of(function), at: null);
        if (!_parsed.TryGetValue(code.Address, out var parsed))
        {
            parsed = SourceReader.Read(function);
            SyntaxCheck.Check(parsed);
            _parsed[code.Address] = parsed;
        }
        var locals = Bind(parsed, function, path, args, kwargs, at);
        using var globals = function.GetAttr("__globals__");
        Func<string, Source?> globalPath = globals.Is(_frame.Globals) ? _frame.GlobalPath
            : path is null ? _ => null : name => new KeySource(new AttrSource(path, "__globals__"), name);
        var builtins = _frame.Builtins.NewReference();
        var caller = _frame;
        _frame = new Frame(parsed, function, locals, globals.NewReference(), builtins, globalPath, caller);
        _depth++;
        try
        {
            var flow = ExecBlock(parsed.Definition.Body, []);
            return flow.Kind == FlowKind.Returned ? flow.Value! : None(at);
        }
        finally
        {
            _depth--;
            _frame.Globals.Dispose();
            _frame.Builtins.Dispose();
            _frame = caller;
            At(at);
        }
    }

    private Dictionary<string, AstValue> Bind(ParsedFunction parsed, PyObject function, Source? path, IReadOnlyList<AstValue> args,
        IReadOnlyList<KeyValuePair<string, AstValue>> kwargs, Span at)
    {
        var p = parsed.Definition.Parameters;
        var name = parsed.Definition.Name;
        var locals = new Dictionary<string, AstValue>();
        for (var i = 0; i < args.Count; i++)
        {
            if (i < p.Positional.Count) locals[p.Positional[i]] = args[i];
            else if (p.VarArgs is null) throw Error(at, "call", $"{name}() takes {p.Positional.Count} positional arguments but {args.Count} were given", "check the call");
        }
        if (p.VarArgs is not null) locals[p.VarArgs] = new TupleVal(args.Skip(p.Positional.Count).ToList());
        foreach (var (key, value) in kwargs)
        {
            if (!p.Positional.Contains(key) && !p.KeywordOnly.Contains(key))
            {
                if (p.VarKeywords is null) throw Error(at, "call", $"{name}() got an unexpected keyword argument '{key}'", "check the call");
                continue; // into **kwargs, below
            }
            if (!locals.TryAdd(key, value)) throw Error(at, "call", $"{name}() got multiple values for argument '{key}'", "check the call");
        }
        using var defaults = function.GetAttr("__defaults__");
        var defaultItems = defaults.IsNone ? [] : defaults.ToItems();
        var firstDefault = p.Positional.Count - defaultItems.Count;
        for (var i = 0; i < p.Positional.Count; i++)
        {
            if (locals.ContainsKey(p.Positional[i])) continue;
            if (i < firstDefault) throw Error(at, "call", $"{name}() missing required argument '{p.Positional[i]}'", "check the call");
            locals[p.Positional[i]] = Wrap(defaultItems[i - firstDefault].NewReference(),
                path is null ? null : new ItemSource(new AttrSource(path, "__defaults__"), i - firstDefault), $"default of '{p.Positional[i]}'");
        }
        using var kwDefaults = function.GetAttr("__kwdefaults__");
        foreach (var k in p.KeywordOnly.Where(k => !locals.ContainsKey(k)))
        {
            if (kwDefaults.IsNone || !kwDefaults.HasAttr("__contains__") || !kwDefaults.CallMethod("__contains__", Py.Str(k)).IsTrue())
                throw Error(at, "call", $"{name}() missing required keyword argument '{k}'", "check the call");
            locals[k] = Wrap(kwDefaults.GetItem(k), path is null ? null : new KeySource(new AttrSource(path, "__kwdefaults__"), k), $"default of '{k}'");
        }
        if (p.VarKeywords is not null)
        {
            locals[p.VarKeywords] = new DictVal(kwargs.Where(k => !p.Positional.Contains(k.Key) && !p.KeywordOnly.Contains(k.Key)).ToList());
        }
        using var closure = function.GetAttr("__closure__");
        if (!closure.IsNone)
        {
            using var code = function.GetAttr("__code__");
            using var freeVars = code.GetAttr("co_freevars");
            var cells = closure.ToItems();
            var names = freeVars.ToItems().Select(n => { using (n) return n.AsString(); }).ToList();
            for (var i = 0; i < names.Count; i++)
            {
                using var cell = cells[i];
                if (!cell.HasAttr("cell_contents")) continue;
                locals[names[i]] = Wrap(cell.GetAttr("cell_contents"),
                    path is null ? null : new AttrSource(new ItemSource(new AttrSource(path, "__closure__"), i), "cell_contents"), $"closure variable '{names[i]}'");
            }
        }
        return locals;
    }

    /// <summary>A dict's reading methods: keys/values/items as lists, get with a default.</summary>
    private AstValue DictMethod(DictVal d, string name, IReadOnlyList<AstValue> args, Span at)
    {
        AstValue Key(string k) => new ConstVal(Py.Str(k));
        switch (name)
        {
            case "keys" when args.Count == 0: return new ListVal(d.Items.Select(i => Key(i.Key)).ToList(), _scope);
            case "values" when args.Count == 0: return new ListVal(d.Items.Select(i => i.Value).ToList(), _scope);
            case "items" when args.Count == 0: return new ListVal(d.Items.Select(i => (AstValue)new TupleVal([Key(i.Key), i.Value])).ToList(), _scope);
            case "get" when args is [ConstVal { Value.IsStr: true } key, ..] && args.Count <= 2:
                return d.Find(key.Value.AsString()) ?? (args.Count == 2 ? args[1] : new ConstVal(Py.None));
            case "get":
                throw Error(at, "dict.get", "dict.get() takes a str key known at capture time, and an optional default", "pass a string key");
            default:
                throw Error(at, "dict method", $"dict.{name}() cannot be captured by the AST path: a dict argument is read, not changed",
                    "read items with d[key], d.get(key), keys(), values() or items(), or use mode='bytecode'");
        }
    }

    private AstValue SequenceMethod(AstValue sequence, string name, IReadOnlyList<AstValue> args, Span at)
    {
        if (sequence is ListVal list)
        {
            switch (name)
            {
                case "append" when args.Count == 1:
                    CheckListWrite(list, at);
                    list.Items.Add(args[0]);
                    return new ConstVal(Py.None);
                case "extend" when args.Count == 1:
                    CheckListWrite(list, at);
                    list.Items.AddRange(Unpack(args[0], at));
                    return new ConstVal(Py.None);
                case "insert" when args is [ConstVal { Value.IsInt: true } index, var item]:
                    CheckListWrite(list, at);
                    list.Items.Insert((int)Math.Clamp(index.Value.ToInt64() < 0 ? list.Items.Count + index.Value.ToInt64() : index.Value.ToInt64(), 0, list.Items.Count), item);
                    return new ConstVal(Py.None);
                case "pop" when args.Count == 0 && list.Items.Count > 0:
                    CheckListWrite(list, at);
                    var last = list.Items[^1];
                    list.Items.RemoveAt(list.Items.Count - 1);
                    return last;
            }
        }
        throw Error(at, "list method", $"{(sequence is ListVal ? "list" : "tuple")}.{name}() cannot be captured by the AST path", "use append, extend, insert, pop, indexing and len");
    }

    private AstValue CallForReal(ObjVal function, IReadOnlyList<AstValue> args, IReadOnlyList<KeyValuePair<string, AstValue>> kwargs, Span at)
    {
        try
        {
            var result = function.Object.Call(args.Select(a => ((ConstVal)a).Value).ToList(), kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Key, ((ConstVal)k.Value).Value)));
            return new ConstVal(result, args.OfType<ConstVal>().Select(a => a.Origin).FirstOrDefault(o => o is not null));
        }
        catch (PythonException e)
        {
            throw Error(at, "python error", $"{function.Name}(): {e.PythonType}: {e.PythonMessage}", "this call fails for the example inputs");
        }
    }

    private static bool IsTrusted(PyObject value) => PythonObjects.IsTrusted(value);

    private ObjectKind Classify(PyObject value) => PythonObjects.Classify(value, _torch);

    private static string QualifiedName(PyObject value) => PythonObjects.QualifiedName(value);
}
