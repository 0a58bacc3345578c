namespace Capture.Bytecode;

// Loads of locals, globals and attributes.
public sealed partial class InstructionTranslator
{
    private StepResult LoadLocal(Instruction ins)
    {
        var value = ReadVariable(ins.Name!);
        if (value is null) return new StepResult.Break($"local variable '{ins.Name}' is read before it is assigned{At(ins)}");
        Push(value);
        return StepResult.Continue;
    }

    /// <summary>A variable of this frame, or null when it is unset.</summary>
    internal SymValue? ReadVariable(string name)
    {
        if (_locals.TryGetValue(name, out var value)) return value;
        // The frame's own locals are wrapped (and guarded) on first read, not before.
        if (_depth > 0 || !_unread.Contains(name)) return null;
        using var real = _context.Frame.Local(name);
        value = _context.Wrap(real, new LocalSource(name));
        _locals[name] = value;
        _unread.Remove(name);
        return value;
    }

    internal void WriteVariable(string name, SymValue value)
    {
        _unread.Remove(name);
        _locals[name] = value;
    }

    // Free variables of a function made during capture live in their owner's frame (a CellValue);
    // those of a real closure were read from its cells when it was inlined.
    private StepResult LoadDeref(Instruction ins)
    {
        if (!_freeCells.TryGetValue(ins.Name!, out var cell)) return LoadLocal(ins);
        var value = cell.Owner.ReadVariable(cell.Name);
        if (value is null) return new StepResult.Break($"free variable '{ins.Name}' is read before it is assigned{At(ins)}");
        Push(value);
        return StepResult.Continue;
    }

    private StepResult StoreDeref(Instruction ins)
    {
        var name = ins.Name!;
        if (_freeCells.TryGetValue(name, out var cell))
        {
            cell.Owner.WriteVariable(cell.Name, Pop());
            return StepResult.Continue;
        }
        if (_code.FreeVars.Contains(name))
            return new StepResult.Break($"assignment to nonlocal '{name}' of a function defined outside the capture{At(ins)}");
        WriteVariable(name, Pop());
        return StepResult.Continue;
    }

    private StepResult LoadClosure(Instruction ins)
    {
        var name = ins.Name!;
        Push(_freeCells.TryGetValue(name, out var cell) ? cell : new CellValue(this, name));
        return StepResult.Continue;
    }

    private StepResult LoadGlobal(Instruction ins)
    {
        if ((ins.Arg!.Value & 1) == 1) Push(NullValue.Instance);
        var name = ins.Name!;
        var source = _globalsSource is null ? (Source)new GlobalSource(name) : new KeySource(_globalsSource, name);
        PyObject value;
        bool inGlobals;
        try
        {
            using var key = Py.Str(name);
            using var contains = _globals.CallMethod("__contains__", key);
            inGlobals = contains.ToBoolean();
            value = inGlobals ? _globals.GetItem(key) : _context.Frame.Builtins.GetItem(key);
        }
        catch (PythonException)
        {
            return new StepResult.Break($"name '{name}' is not defined{At(ins)}");
        }
        using (value)
        {
            if (_globalsSource is TrustedModuleSource trusted)
            {
                // a trusted module's function reads its globals unguarded but for this one check
                _context.Namespaces.Entry(_globals, trusted.Module, name, inGlobals ? value : null);
                if (!inGlobals) _context.Namespaces.FrameEntry(builtins: true, name, value);
                Push(_context.WrapTrusted(trusted, name, value));
            }
            else if (!inGlobals && _globalsSource is not null)
            {
                // a builtin (isinstance) read by an inlined function of another module: it comes from
                // the builtins, not from that module's globals, where a later definition would shadow it
                using var nameKey = Py.Str("__name__");
                using var moduleName = _globals.CallMethod("get", nameKey);
                _context.Namespaces.Entry(_globals, moduleName.IsStr ? moduleName.AsString() : "an inlined function's globals", name, null);
                _context.Namespaces.FrameEntry(builtins: true, name, value);
                Push(_context.WrapBuiltin(value));
            }
            else Push(_context.Wrap(value, source));
        }
        return StepResult.Continue;
    }

    /// <summary>The position of field <paramref name="name"/> in a named tuple type (its __match_args__ or _fields), or null.</summary>
    /// <summary>__name__, __qualname__, __doc__ or __module__ of a function made during the capture, as Python sets them from its code and globals.</summary>
    private static PyObject FunctionAttribute(FunctionValue function, string name)
    {
        switch (name)
        {
            case "__module__":
                using (var key = Py.Str("__name__"))
                using (var present = function.Globals.CallMethod("__contains__", key))
                    return present.IsTrue() ? function.Globals.GetItem(key) : Py.None;
            case "__doc__":
                // a function's docstring is its code's first constant when that is a str
                using (var consts = function.CodeObject.GetAttr("co_consts"))
                {
                    if (consts.Length == 0) return Py.None;
                    var first = consts.GetItem(0);
                    if (first.IsStr) return first;
                    first.Dispose();
                    return Py.None;
                }
            default:
                return function.CodeObject.GetAttr(name == "__qualname__" ? "co_qualname" : "co_name");
        }
    }

    private static int? FieldIndex(PyObject type, string name)
    {
        foreach (var names in new[] { "_fields", "__match_args__" })
        {
            if (!type.HasAttr(names)) continue;
            using var fields = type.GetAttr(names);
            var items = fields.ToItems();
            try
            {
                for (var i = 0; i < items.Count; i++)
                    if (items[i].IsStr && items[i].AsString() == name) return i;
            }
            finally { foreach (var item in items) item.Dispose(); }
            return null;
        }
        return null;
    }

    /// <summary>
    /// `import a.b` / `from a.b import c` inside the function, of a module already imported (importing
    /// one for the first time runs its code: a break, and the real import): the module from
    /// sys.modules, guarded by identity there.
    /// </summary>
    private StepResult ImportName(Instruction ins)
    {
        var fromlist = Pop();
        var level = Pop();
        if (level is not ConstValue { Value.IsInt: true } l || l.Value.ToInt64() != 0)
            return new StepResult.Break($"relative import{At(ins)}");
        var name = ins.Name!;
        var named = fromlist is ConstValue { Value.IsTuple: true } f && f.Value.Length > 0;
        var target = named ? name : name.Split('.')[0];
        using var sys = Py.Import("sys");
        using var modules = sys.GetAttr("modules");
        using (var nameKey = Py.Str(name))
        using (var imported = modules.CallMethod("__contains__", nameKey))
            if (!imported.IsTrue())
            {
                // the first import runs the module's code: now, as the real instruction would (Dynamo imports while tracing too)
                using var importlib = Py.Import("importlib");
                using var importModule = importlib.GetAttr("import_module");
                try { importModule.Call(nameKey).Dispose(); }
                catch (PythonException e) { return new StepResult.Break($"import of {name} raised {e.PythonType}{At(ins)}"); }
            }
        using var targetKey = Py.Str(target);
        using var found = modules.GetItem(targetKey);
        Push(_context.Wrap(found, new ImportedModuleSource(target)));
        return StepResult.Continue;
    }

    /// <summary>`from m import name`: the module's attribute, or its submodule m.name already imported.</summary>
    private StepResult ImportFrom(Instruction ins)
    {
        if (Peek() is not ObjectValue { Kind: ObjectKind.Module } module) return new StepResult.Break($"import from a {Describe(Peek())}{At(ins)}");
        var name = ins.Name!;
        if (module.Object.HasAttr(name))
        {
            using var value = module.Object.GetAttr(name);
            try { Push(_context.WrapAttribute(module, name, value)); }
            catch (InlineBreakException e) { return new StepResult.Break($"{e.Message}{At(ins)}"); }
            return StepResult.Continue;
        }
        using var moduleName = module.Object.GetAttr("__name__");
        var full = moduleName.AsString() + "." + name;
        using var sys = Py.Import("sys");
        using var modules = sys.GetAttr("modules");
        using var key = Py.Str(full);
        using var present = modules.CallMethod("__contains__", key);
        if (!present.IsTrue()) return new StepResult.Break($"from {moduleName.AsString()} import {name}: not imported yet{At(ins)}");
        using var submodule = modules.GetItem(key);
        Push(_context.Wrap(submodule, new ImportedModuleSource(full)));
        return StepResult.Continue;
    }

    /// <summary>
    /// super(C, self).name: a function found past C in type(self)'s MRO, inlined with self (guarded
    /// along that MRO). The MRO after C must be that next class's own MRO (single inheritance, or
    /// where they agree), so that the guard reads what the lookup read; anything else breaks.
    /// </summary>
    private StepResult SuperAttribute(Instruction ins, SuperValue super, string name)
    {
        using var selfType = super.Self is UserObjectValue user ? user.Type.Object.NewReference() : ((ObjectValue)super.Self).Object.Type;
        using var mro = selfType.GetAttr("__mro__");
        var classes = mro.ToItems().ToList();
        try
        {
            var at = classes.FindIndex(c => c.Is(super.Class.Object));
            if (at < 0 || at + 1 >= classes.Count) return new StepResult.Break($"super({super.Class.QualifiedName}, ...) of an object outside that class{At(ins)}");
            var next = classes[at + 1];
            using var nextMro = next.GetAttr("__mro__");
            var rest = nextMro.ToItems();
            var linear = rest.Count == classes.Count - at - 1 && rest.Select((c, i) => c.Is(classes[at + 1 + i])).All(same => same);
            foreach (var c in rest) c.Dispose();
            if (!linear) return new StepResult.Break($"super() through multiple inheritance{At(ins)}");
            if (TypeFunction(next, name) is not { } function)
                return new StepResult.Break($"super().{name} is not a plain function{At(ins)}");
            _context.Namespaces.TypeAttribute(next, name);
            Push(super.Self is ObjectValue self ? new ModuleMethodValue(self, function, name) : new BoundMethodValue(super.Self, function, name, null));
            return StepResult.Continue;
        }
        finally { foreach (var c in classes) c.Dispose(); }
    }

    private StepResult LoadAttr(Instruction ins, bool method)
    {
        var owner = Pop();
        var name = ins.Name!;
        if (method) Push(NullValue.Instance);
        if (owner is ObjectValue stored && _context.StoredAttribute(stored, name) is { } storedValue)
        {
            Push(storedValue);
            return StepResult.Continue;
        }
        switch (owner)
        {
            case TensorValue t:
                _context.TensorTypeLookup(name);
                var attr = TensorAttribute(t, name) is { } read ? FromMetadata(read, t, name) : null;
                if (attr is null) return new StepResult.Break($"tensor attribute '{name}' is not supported in graphs{At(ins)}");
                Push(attr);
                return StepResult.Continue;
            case SuperValue super:
                return SuperAttribute(ins, super, name);
            case UserObjectValue user:
                return UserAttribute(ins, user, name);
            case ObjectValue { Kind: ObjectKind.Class } made when name == "_make" && NamedTupleFields(made) is not null:
                Push(new NamedTupleMethodValue(null, made, name));
                return StepResult.Continue;
            case ObjectValue { Kind: ObjectKind.Class, QualifiedName: "builtins.object" } objectClass when name == "__setattr__":
                Push(new ObjectValue(objectClass.Object.GetAttr(name), ObjectKind.Builtin, "builtins.object.__setattr__"));
                return StepResult.Continue;
            case ObjectValue { Kind: ObjectKind.Class } cls when PlainClass(cls.Object):
                // Class.method, Class.make (classmethod), Class.shift (staticmethod), Class.factor
                return ClassAttribute(ins, cls, name, self: null);
            case ObjectValue { Kind: ObjectKind.NnModule } or ObjectValue { Kind: ObjectKind.Other, Source: not null } when (((ObjectValue)owner).Kind == ObjectKind.NnModule || PlainAttributeAccess(((ObjectValue)owner).Object))
                && ClassFunction(((ObjectValue)owner).Object, name) is { } function:
                var m = (ObjectValue)owner;
                // a fresh bound-method object on every access: keep (function, self) instead and inline it
                using (var type = m.Object.Type) _context.Namespaces.TypeAttribute(type, name);
                _context.Namespaces.InstanceAbsent(m.Object, m.Source?.ToString() ?? m.QualifiedName, name);
                Push(new ModuleMethodValue(m, function, name));
                return StepResult.Continue;
            case ObjectValue { Source: { } dictSource } o when name is "items" or "keys" or "values" && ModuleDictView(o.Object, dictSource, name) is { } view:
                Push(new ModuleDictMethodValue(view));
                return StepResult.Continue;
            case ObjectValue o:
                PyObject value;
                try { value = o.Object.GetAttr(name); }
                catch (PythonException e) { return new StepResult.Break($"reading {o.QualifiedName}.{name} raised {e.PythonType}{At(ins)}"); }
                using (value)
                {
                    if (o.Kind == ObjectKind.NnModule && o.Source is null) return new StepResult.Break($"attribute of an nn.Module made during capture{At(ins)}");
                    Push(_context.WrapAttribute(o, name, value));
                }
                return StepResult.Continue;
            case TupleValue { NamedType: { } nt } tuple when name is "_replace" or "_asdict" && NamedTupleFields(new ObjectValue(nt, ObjectKind.Class, nt.TypeName)) is not null:
                Push(new NamedTupleMethodValue(tuple, new ObjectValue(nt.NewReference(), ObjectKind.Class, PythonObjects.QualifiedName(nt)), name));
                return StepResult.Continue;
            case TupleValue { NamedType: { } named } tuple when FieldIndex(named, name) is { } field && field < tuple.Items.Count:
                // a field of a named tuple (torch.return_types.topk's values and indices)
                Push(tuple.Items[field]);
                return StepResult.Continue;
            case DictValue dict when name is "items" or "keys" or "values" or "get" or "copy" or "pop" or "popitem" or "setdefault" or "update" or "clear"
                || dict.Type is not null && name == "move_to_end":
                Push(new DictMethodValue(dict, name));
                return StepResult.Continue;
            case FunctionValue { Wrapped: { } wrapped } when name == "__wrapped__":
                Push(wrapped);
                return StepResult.Continue;
            case FunctionValue function when name is "__name__" or "__qualname__" or "__doc__" or "__module__":
                // what functools.wraps copied from the wrapped function, else the function's own
                switch (function.Wrapped ?? function)
                {
                    case FunctionValue own:
                        Push(Const(FunctionAttribute(own, name)));
                        return StepResult.Continue;
                    case ObjectValue { Object: var real }:
                        try { Push(Const(real.GetAttr(name))); }
                        catch (PythonException e) { return new StepResult.Break($"reading {name} of a function raised {e.PythonType}{At(ins)}"); }
                        return StepResult.Continue;
                    default:
                        return new StepResult.Break($"attribute '{name}' of a function made during the capture{At(ins)}");
                }
            case DictValue { Factory: { } factory } when name == "default_factory":
                Push(factory);
                return StepResult.Continue;
            case SetValue set when name is "add" or "discard" or "remove" or "update" or "clear" or "copy" or "pop" or "union" or "intersection"
                or "difference" or "symmetric_difference" or "issubset" or "issuperset" or "isdisjoint":
                Push(new SetMethodValue(set, name));
                return StepResult.Continue;
            case ListValue list when name is "append" or "extend" or "pop" or "insert" or "clear" or "copy" or "index" or "count" or "reverse" or "sort" or "remove":
                Push(new ListMethodValue(list, name));
                return StepResult.Continue;
            case ConstValue c:
                try
                {
                    using var value2 = c.Value.GetAttr(name);
                    Push(new ConstValue(value2.NewReference()));
                    return StepResult.Continue;
                }
                catch (PythonException e) { return new StepResult.Break($"reading .{name} of a constant raised {e.PythonType}{At(ins)}"); }
            default:
                return new StepResult.Break($"attribute '{name}' of a {Describe(owner)} is not supported{At(ins)}");
        }
    }

    /// <summary>
    /// m._modules.items() / keys() / values() (what ModuleDict's items(), keys() and values() return,
    /// and what densenet's _DenseBlock iterates): the submodules in the dict's order, each from
    /// m._modules['key'], under a guard on the keys in order. Null for any dict that is not a
    /// registry of submodules.
    /// </summary>
    private ListValue? ModuleDictView(PyObject dict, Source dictSource, string name)
    {
        if (!dict.IsDict) return null;
        using var pairs = dict.CallMethod("items"); // in the dict's own order (an OrderedDict's, after move_to_end)
        var entries = pairs.Iterate().Select(p => { using (p) return (Key: p.GetItem(0), Value: p.GetItem(1)); }).ToList();
        try
        {
            if (entries.Count == 0 || entries.Any(e => !e.Key.IsStr || !_context.Torch.IsModule(e.Value))) return null;
            var keys = entries.Select(e => e.Key.AsString()).ToList();
            _context.Guards.Add(new DictKeysGuard(dictSource, keys));
            return new ListValue(entries.Select(e =>
            {
                var key = e.Key.AsString();
                var child = _context.Wrap(e.Value, new KeySource(dictSource, key));
                return name switch
                {
                    "items" => new TupleValue([Const(Py.Str(key)), child]),
                    "keys" => Const(Py.Str(key)),
                    _ => child,
                };
            }).ToList());
        }
        finally
        {
            foreach (var (k, v) in entries) { k.Dispose(); v.Dispose(); }
        }
    }

    /// <summary>
    /// obj.name = value on an object from the frame (self.steps = ..., state.last = x): later reads in
    /// the capture see the value, and the store is replayed for real after the graph. Stores that
    /// nn.Module would turn into registration (parameters, buffers, submodules) are a break.
    /// </summary>
    private StepResult StoreAttr(Instruction ins)
    {
        var owner = Pop();
        var value = Pop();
        var name = ins.Name!;
        if (owner is UserObjectValue user) return StoreUserAttribute(ins, user, name, value);
        if (owner is not ObjectValue { Source: not null, Kind: ObjectKind.Other or ObjectKind.NnModule } o)
            return new StepResult.Break($"attribute store .{name} on a {Describe(owner)}{At(ins)}");
        if (value is not (TensorValue or ConstValue or TupleValue or ListValue or DictValue or ObjectValue { Source: not null }))
            return new StepResult.Break($"storing a {Describe(value)} in .{name}{At(ins)}");
        if (o.Kind == ObjectKind.NnModule)
        {
            foreach (var registry in new[] { "_parameters", "_buffers", "_modules" })
            {
                using var entries = o.Object.GetAttr(registry);
                using var key = Py.Str(name);
                using var registered = entries.CallMethod("__contains__", key);
                if (registered.ToBoolean() && registry == "_buffers" && value is TensorValue stored && IsSameBuffer(o, name, stored))
                    return StepResult.Continue; // self.count += 1: the buffer was written in place, storing it back changes nothing
                if (registered.ToBoolean()) return new StepResult.Break($"assignment to the registered {registry.TrimStart('_').TrimEnd('s')} .{name} of an nn.Module{At(ins)}");
            }
        }
        _context.StoreAttribute(o, name, value);
        return StepResult.Continue;
    }

    /// <summary>Whether <paramref name="stored"/> is the buffer module.name itself, after in-place writes into it (their results are the tensor they wrote).</summary>
    private bool IsSameBuffer(ObjectValue module, string name, TensorValue stored)
    {
        using var buffers = module.Object.GetAttr("_buffers");
        using var key = Py.Str(name);
        using var current = buffers.GetItem(key);
        if (!_context.Torch.IsTensor(current)) return false;
        if (_context.Wrap(current, new AttrSource(module.Source!, name)) is not TensorValue read) return false;
        var node = stored.Node;
        while (node != read.Node && _context.Builder[node] is CallOp { Op.MutatedArg: { } at } write && write.Args[at] is RefArg written)
            node = written.Name;
        return node == read.Node;
    }

    /// <summary>A plain Python function defined on the object's class (not shadowed by the instance), or null.</summary>
    private static PyObject? ClassFunction(PyObject obj, string name)
    {
        using var key = Py.Str(name);
        if (obj.HasAttr("__dict__"))
        {
            // a function stored on the instance (self.activation = F.relu) is not bound to it
            using var dict = obj.GetAttr("__dict__");
            using var shadowed = dict.CallMethod("__contains__", key);
            if (shadowed.ToBoolean()) return null;
        }
        using var type = obj.Type;
        return TypeFunction(type, name);
    }

    /// <summary>The plain function a class holds (or inherits) under <paramref name="name"/>, or null.</summary>
    private static PyObject? TypeFunction(PyObject type, string name)
    {
        using var key = Py.Str(name);
        using var inspect = Py.Import("inspect");
        using var getattrStatic = inspect.GetAttr("getattr_static");
        using var none = Py.None;
        using var found = getattrStatic.Call(type, key, none);
        return found.TypeName == "function" ? found.NewReference() : null;
    }

    /// <summary>Tensor attributes known from metadata (shape, dtype...), views (T), or a bound method.</summary>
    private SymValue? TensorAttribute(TensorValue t, string name) => name switch
    {
        "shape" => Size(t.Meta),
        "ndim" => Const(Py.Int(t.Meta.Rank)),
        "dtype" => new ConstValue(_context.Torch.DTypeObject(t.Meta.DType)),
        "requires_grad" => Const(Py.Bool(t.Meta.RequiresGrad)),
        "is_cuda" => Const(Py.Bool(t.Meta.Device.Type == "cuda")),
        "is_nested" or "is_sparse" or "is_quantized" or "is_meta" => Const(Py.Bool(name == "is_meta" && t.Meta.Device.Type == "meta")),
        "device" => Const(Py.Eval($"__import__('torch').device('{t.Meta.Device}')")),
        "T" => CallOp(Ops.Permute, [new RefArg(t.Node), Arg.Ints(Enumerable.Range(0, t.Meta.Rank).Reverse().Select(i => (long)i))], []),
        "mT" => CallOp(Ops.Transpose, [new RefArg(t.Node), -2L, -1L], []),
        "data" or "grad" or "grad_fn" or "_version" => null,
        _ => new TensorMethodValue(t, name),
    };

    /// <summary>x.shape / x.size(): a real torch.Size, as eager code gets (it prints and compares as one).</summary>
    private SymValue Size(TensorMeta meta)
    {
        // with a dynamic dim: a tuple of ints and symbolic sizes (unpacking, indexing and slicing it work
        // as on a torch.Size; what reads it whole as a Python object specializes each size)
        if (!meta.Shape.IsConcrete) return new TupleValue(meta.Shape.Dims.Select(SizeValue).ToList<SymValue>());
        using var torch = Py.Import("torch");
        using var size = torch.GetAttr("Size");
        using var dims = Py.IntTuple(meta.Shape.Concrete());
        return new ConstValue(size.Call(dims));
    }

    private static ConstValue Const(PyObject value) => new(value);

    /// <summary>A size as a Python int: a constant, or a symbolic size whose plain-int uses specialize it (guarded).</summary>
    private ConstValue SizeValue(Dim size) => size.Value is { } v
        ? Const(Py.Int(v))
        : new SymIntValue(size, Py.Int(_context.Shapes.Hint(size)), () => Sizes.Value(size, $"the size {size} is used as a plain Python int"));

    private static string Describe(SymValue value) => value switch
    {
        TensorValue => "tensor",
        ConstValue c => c.Value.TypeName,
        TupleValue => "tuple",
        ListValue => "list",
        DictValue { Type: { } type } => type.QualifiedName,
        DictValue => "dict",
        SetValue => "set",
        ObjectValue o => o.QualifiedName,
        TensorMethodValue m => $"tensor method {m.Name}",
        FunctionValue f => $"function {f.Code.Name}",
        UserObjectValue u => $"{u.Type.QualifiedName} object",
        BoundMethodValue m => $"method {m.Name}",
        ModuleMethodValue m => $"method {m.Name} of {m.Self.QualifiedName}",
        ListMethodValue m => $"list.{m.Name}",
        DictMethodValue m => $"dict.{m.Name}",
        SetMethodValue m => $"set.{m.Name}",
        NamedTupleMethodValue m => $"{m.Type.QualifiedName}.{m.Name}",
        IteratorValue => "iterator",
        PartialValue => "functools.partial object",
        WrapsValue => "functools.wraps decorator",
        SuperValue => "super() object",
        GradModeValue or GradModeExitValue => "grad-mode context manager",
        CellValue => "closure cell",
        ModuleDictMethodValue => "module container method",
        NullValue => "nothing",
        _ => "value",
    };
}
