namespace Capture.Bytecode;

// Objects of the user's own classes made inside the captured code: constructed symbolically (the
// class's __init__ inlined on a UserObjectValue), their attributes read and written in the capture,
// their methods, properties, classmethods and staticmethods inlined, their operator dunders called.
// Rebuilt as real objects after the graph when they outlive it. Namedtuple classes construct tuples.
public sealed partial class InstructionTranslator
{
    /// <summary>
    /// Whether instances of <paramref name="cls"/> can be made symbolically: a class whose metaclass
    /// keeps type's __call__, whose __new__ is object's, with no builtin base but object, not from torch
    /// or other trusted modules. <paramref name="init"/>: its __init__ (null: object's own).
    /// </summary>
    private bool Constructible(ObjectValue cls, out PyObject? init)
    {
        init = null;
        using var helper = Py.Import("capture._frames");
        using var check = helper.GetAttr("plain_class");
        using var answer = check.Call(cls.Object);
        if (!answer.IsTrue()) return false;
        _context.Namespaces.TypeAttribute(cls.Object, "__new__");
        _context.Namespaces.TypeAttribute(cls.Object, "__init__");
        _context.Namespaces.TypeAttribute(cls.Object, "__setattr__");
        init = TypeFunction(cls.Object, "__init__");
        if (init is not null) return true;
        return IsObjects(cls.Object, "__init__");
    }

    /// <summary>Whether a class is one of the user's plain classes (capture/_frames.py plain_class), without guarding anything.</summary>
    private static bool PlainClass(PyObject cls)
    {
        using var helper = Py.Import("capture._frames");
        using var check = helper.GetAttr("plain_class");
        using var answer = check.Call(cls);
        return answer.IsTrue();
    }

    private StepResult Construct(Instruction ins, ObjectValue cls, PyObject? init, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var made = new UserObjectValue(cls);
        if (init is null)
        {
            if (args.Count > 0 || kwargs.Count > 0) return new StepResult.Break($"{cls.QualifiedName}() takes no arguments{At(ins)}");
            Push(made);
            return StepResult.Continue;
        }
        using (init)
        {
            var step = InlineFunction(ins, cls, init, args, kwargs, self: made, method: "__init__",
                knownSource: cls.Source is { } s ? new AttrSource(s, "__init__") : null);
            if (step is not StepResult.Next) return step;
            Pop(); // __init__'s None
            Push(made);
            return step;
        }
    }

    /// <summary>A namedtuple class's fields (a tuple subclass with _fields and _make), or null.</summary>
    private static List<string>? NamedTupleFields(ObjectValue cls)
    {
        using var helper = Py.Import("capture._frames");
        using var check = helper.GetAttr("namedtuple_fields");
        using var fields = check.Call(cls.Object);
        return fields.IsNone ? null : fields.ToItems().Select(f => { using (f) return f.AsString(); }).ToList();
    }

    /// <summary>Point(x, y=...) of a namedtuple class: a tuple of that type, its fields bound as the class's __new__ binds them.</summary>
    private StepResult ConstructNamedTuple(Instruction ins, ObjectValue cls, List<string> fields, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        using var defaultsObject = cls.Object.GetAttr("_field_defaults");
        var values = new SymValue?[fields.Count];
        for (var i = 0; i < args.Count; i++)
        {
            if (i >= fields.Count) return new StepResult.Break($"{cls.QualifiedName}() with too many arguments{At(ins)}");
            values[i] = args[i];
        }
        foreach (var (name, value) in kwargs)
        {
            var at = fields.IndexOf(name);
            if (at < 0 || values[at] is not null) return new StepResult.Break($"{cls.QualifiedName}() with argument '{name}' it does not take{At(ins)}");
            values[at] = value;
        }
        for (var i = 0; i < fields.Count; i++)
        {
            if (values[i] is not null) continue;
            using var key = Py.Str(fields[i]);
            using var present = defaultsObject.CallMethod("__contains__", key);
            if (!present.IsTrue()) return new StepResult.Break($"{cls.QualifiedName}() missing argument '{fields[i]}'{At(ins)}");
            using var fallback = defaultsObject.GetItem(key);
            values[i] = new ConstValue(fallback.NewReference());
        }
        Push(new TupleValue(values.Select(v => v!).ToList()) { NamedType = cls.Object.NewReference() });
        return StepResult.Continue;
    }

    /// <summary>p._replace(field=value), p._asdict(), Point._make(iterable): what collections.namedtuple's own methods do.</summary>
    private StepResult NamedTupleMethod(Instruction ins, NamedTupleMethodValue method, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var fields = NamedTupleFields(method.Type)!;
        switch (method.Name)
        {
            case "_make" when args.Count == 1 && kwargs.Count == 0 && IterableItems(args[0]) is { } items:
                return ConstructNamedTuple(ins, method.Type, fields, items, []);
            case "_replace" when args.Count == 0 && method.Tuple is { } tuple && kwargs.All(k => fields.Contains(k.Key)):
                var replaced = tuple.Items.Select((v, i) => kwargs.FirstOrDefault(k => k.Key == fields[i]).Value ?? v).ToList();
                Push(new TupleValue(replaced) { NamedType = method.Type.Object.NewReference() });
                return StepResult.Continue;
            case "_asdict" when args.Count == 0 && kwargs.Count == 0 && method.Tuple is { } own:
                Push(new DictValue(fields.Select((f, i) => new KeyValuePair<DictKey, SymValue>(f, own.Items[i])).ToList()));
                return StepResult.Continue;
            default:
                return new StepResult.Break($"{method.Type.QualifiedName}.{method.Name} with these arguments is not supported{At(ins)}");
        }
    }

    /// <summary>obj.name on a user object: its own attributes, then the class's (methods bound, properties run, class values read under guard).</summary>
    private StepResult UserAttribute(Instruction ins, UserObjectValue obj, string name)
    {
        var own = obj.Attributes.FirstOrDefault(p => p.Key == name);
        if (own.Value is not null)
        {
            Push(own.Value);
            return StepResult.Continue;
        }
        return ClassAttribute(ins, obj.Type, name, self: obj);
    }

    /// <summary>
    /// A class attribute, as read through an instance (<paramref name="self"/>) or the class itself
    /// (self null): a plain function (bound to self, or plain), a property (its getter inlined), a
    /// classmethod (bound to the class), a staticmethod (its function), or a value, guarded along the
    /// class's MRO.
    /// </summary>
    private StepResult ClassAttribute(Instruction ins, ObjectValue cls, string name, SymValue? self)
    {
        if (self is null && name is "__name__" or "__qualname__" or "__module__")
        {
            // the class's names: fixed with the class object (guarded by identity where it came from)
            using var text = cls.Object.GetAttr(name);
            Push(new ConstValue(text.NewReference()));
            return StepResult.Continue;
        }
        using var helper = Py.Import("capture._frames");
        using var lookup = helper.GetAttr("class_attribute");
        using var key = Py.Str(name);
        using var found = lookup.Call(cls.Object, key);
        using var kind = found.GetItem(0);
        using var value = found.GetItem(1);
        _context.Namespaces.TypeAttribute(cls.Object, name);
        var at = cls.Source is { } s ? new AttrSource(s, name) : null;
        switch (kind.AsString())
        {
            case "function" when self is not null:
                Push(new BoundMethodValue(self, value.NewReference(), name, at));
                return StepResult.Continue;
            case "function" or "staticmethod":
                Push(at is null ? new ObjectValue(value.NewReference(), ObjectKind.UserFunction, name) : _context.Wrap(value, kind.AsString() == "function" ? at : new AttrSource(at, "__func__")));
                return StepResult.Continue;
            case "classmethod":
                Push(new BoundMethodValue(cls, value.NewReference(), name, at is null ? null : new AttrSource(at, "__func__")));
                return StepResult.Continue;
            case "property" when self is not null:
                var getter = InlineFunction(ins, cls, value, [], [], self: self, method: name, knownSource: at is null ? null : new AttrSource(at, "fget"));
                return getter;
            case "value":
                if (at is not null) Push(_context.Wrap(value, at));
                else if (ConstantArgs.Of(value, _context.Torch) is not null) Push(new ConstValue(value.NewReference()));
                else return new StepResult.Break($"class attribute {cls.QualifiedName}.{name} of a class made or returned inside the captured code{At(ins)}");
                return StepResult.Continue;
            case "missing" when self is UserObjectValue && TypeFunction(cls.Object, "__getattr__") is { } fallback:
                using (fallback)
                {
                    using var nameValue = Py.Str(name);
                    return InlineFunction(ins, cls, fallback, [Const(nameValue.NewReference())], [], self: self, method: "__getattr__",
                        knownSource: cls.Source is { } cs ? new AttrSource(cs, "__getattr__") : null);
                }
            default:
                return new StepResult.Break($"attribute '{name}' of a {cls.QualifiedName} object ({kind.AsString()}){At(ins)}");
        }
    }

    /// <summary>obj.name = value on a user object made in the capture (not through a property or a __setattr__ of its own).</summary>
    private StepResult StoreUserAttribute(Instruction ins, UserObjectValue obj, string name, SymValue value, bool throughObject = false)
    {
        using var helper = Py.Import("capture._frames");
        using var check = helper.GetAttr("plain_store");
        using var key = Py.Str(name);
        using var through = Py.Bool(throughObject);
        using var plain = check.Call(obj.Type.Object, key, through);
        if (!plain.IsTrue()) return new StepResult.Break($"attribute store .{name} through a descriptor or __setattr__ of {obj.Type.QualifiedName}{At(ins)}");
        _context.Namespaces.TypeAttribute(obj.Type.Object, name);
        var attributes = obj.Attributes.Where(p => p.Key != name).ToList();
        var at = obj.Attributes.ToList().FindIndex(p => p.Key == name);
        if (at >= 0) attributes.Insert(at, new(name, value));
        else attributes.Add(new(name, value));
        _context.SetAttributes(obj, attributes);
        return StepResult.Continue;
    }

    /// <summary>
    /// A dunder of a user object's class (__add__, __getitem__, __len__, __call__...) inlined with the
    /// object as self, for objects made in the capture and the caller's objects of plain classes; null
    /// when the class has no plain function of that name.
    /// </summary>
    private StepResult? UserDunder(Instruction ins, SymValue value, string dunder, List<SymValue> args)
    {
        switch (value)
        {
            case UserObjectValue obj:
                _context.Namespaces.TypeAttribute(obj.Type.Object, dunder);
                if (TypeFunction(obj.Type.Object, dunder) is not { } function) return null;
                using (function)
                    return InlineFunction(ins, obj.Type, function, args, [], self: obj, method: dunder,
                        knownSource: obj.Type.Source is { } s ? new AttrSource(s, dunder) : null);
            case ObjectValue { Kind: ObjectKind.Other, Source: not null } o when PlainAttributeAccess(o.Object):
                using (var type = o.Object.Type)
                {
                    if (TypeFunction(type, dunder) is not { } method) return null;
                    _context.Namespaces.TypeAttribute(type, dunder);
                    using (method) return InlineFunction(ins, o, method, args, [], self: o, method: dunder);
                }
            default:
                return null;
        }
    }

    /// <summary>Whether the object's class reads attributes as object does (no __getattribute__ of its own): then its class's functions are its methods.</summary>
    private static bool PlainAttributeAccess(PyObject obj)
    {
        using var type = obj.Type;
        return IsObjects(type, "__getattribute__");
    }

    /// <summary>Whether <paramref name="type"/>.<paramref name="name"/> is object's own (the class does not define its own).</summary>
    private static bool IsObjects(PyObject type, string name)
    {
        using var own = type.GetAttr(name);
        using var builtins = Py.Builtins;
        using var objectType = builtins.GetAttr("object");
        using var objects = objectType.GetAttr(name);
        return own.Is(objects);
    }

    /// <summary>Whether == on this value is object's identity (its class defines no __eq__ of its own; __ne__ follows it).</summary>
    private bool IdentityEquality(SymValue value)
    {
        using var type = value is UserObjectValue u ? u.Type.Object.NewReference() : ((ObjectValue)value).Object.Type;
        _context.Namespaces.TypeAttribute(type, "__eq__");
        return IsObjects(type, "__eq__");
    }

    /// <summary>Whether a value is an object whose dunders the capture inlines (made in the capture, or the caller's).</summary>
    private static bool IsUserObject(SymValue value) => value is UserObjectValue or ObjectValue { Kind: ObjectKind.Other, Source: not null };
}
