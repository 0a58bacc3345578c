namespace Capture.Frontend;

// Expressions: dispatch, comprehensions, f-strings, unpacking; names and the values read from outside.
public sealed partial class AstTransformer
{
    private AstValue Eval(Expr expr)
    {
        if (!System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw Error(expr.At, "nesting", "the expressions here nest too deeply for the AST path (a chain of thousands of calls or operators)",
                "split the expression with intermediate variables, or use mode='bytecode'");
        switch (expr)
        {
            case NameExpr n: return Lookup(n.Id, n.At);
            case ConstantExpr c: return new ConstVal(c.Kind == ConstantKind.Str ? Py.Str(c.Text) : Py.Eval(c.Text));
            case BinaryExpr b:
            {
                var left = Eval(b.Left);
                var right = Eval(b.Right);
                At(b.At);
                return Binary(b.Op, left, right, b.At);
            }
            case UnaryExpr { Op: "not" } u:
            {
                var operand = Eval(u.Operand);
                if (operand is TensorVal)
                    throw Error(u.At, "not on a tensor", "'not' on a tensor makes a Python bool from the tensor's value",
                        "use torch.logical_not(x), or use it directly as an if/while condition");
                return new ConstVal(Py.Bool(!Truth(operand, u.At)));
            }
            case UnaryExpr u:
            {
                var operand = Eval(u.Operand);
                At(u.At);
                return Unary(u.Op, operand, u.At);
            }
            case BoolExpr b: return BoolValue(b);
            case CompareExpr c when c.Ops.Count == 1:
            {
                var left = Eval(c.Left);
                var right = Eval(c.Comparators[0]);
                At(c.At);
                return Compare(c.Ops[0], left, right, c.At);
            }
            case CompareExpr c:
            {
                var test = EvalTest(c);
                if (test is TensorVal)
                    throw Error(c.At, "chained comparison on tensors", "a chained comparison on tensors needs their values (Python joins the parts with 'and')",
                        "write (a < b) & (b < c)");
                return test;
            }
            case CallExpr c: return EvalCall(c);
            case AttributeExpr a:
            {
                var owner = Eval(a.Value);
                At(a.At);
                return GetAttribute(owner, a.Attr, a.At);
            }
            case SubscriptExpr s: return GetItem(Eval(s.Value), s.Index, s.At);
            case TupleExpr t: return new TupleVal(Items(t.Items));
            case ListExpr l: return new ListVal(Items(l.Items).ToList(), _scope);
            case IfExpr i: return Conditional(i);
            case ComprehensionExpr c: return Comprehension(c);
            case FStringExpr f: return FString(f);
            case SliceExpr s: return Slice(s);
            case StarredExpr s:
                throw Error(s.At, "starred", "a starred expression is only allowed in calls, tuples and lists", "unpack it where it is used");
            case UnsupportedExpr u: throw UnsupportedExpression(u);
            default: throw new InvalidOperationException($"unknown expression {expr}");
        }
    }

    private AstCaptureException UnsupportedExpression(UnsupportedExpr u) => u.Kind switch
    {
        "Lambda" => Error(u.At, "lambda", "a lambda cannot be captured by the AST path", "define a function with def at module level and call it"),
        "SetComp" or "DictComp" => Error(u.At, "comprehension",
            "set and dict comprehensions cannot be captured by the AST path", "use a list comprehension or a for loop"),
        "Dict" or "Set" => Error(u.At, u.Kind.ToLowerInvariant(), $"{u.Kind.ToLowerInvariant()} displays cannot be captured by the AST path", "use a tuple or list"),
        "NamedExpr" => Error(u.At, "walrus", "assignment expressions (:=) cannot be captured", "assign in a statement before"),
        _ => Error(u.At, u.Kind.ToLowerInvariant(), $"the {u.Kind} expression cannot be captured by the AST path", "rewrite it with supported expressions"),
    };

    /// <summary>
    /// A comprehension over iterables known at capture time, unrolled like a for loop. A generator
    /// expression is evaluated at once (into a tuple): what consumes it (all, any, sum, tuple) sees
    /// the same items. Its loop variables are its own, as in Python 3.
    /// </summary>
    private AstValue Comprehension(ComprehensionExpr c)
    {
        var saved = new Dictionary<string, AstValue>(_frame.Locals);
        var items = new List<AstValue>();
        void Loop(int level)
        {
            if (level == c.Generators.Count)
            {
                items.Add(Eval(c.Element));
                return;
            }
            var generator = c.Generators[level];
            foreach (var item in Unpack(Eval(generator.Iter), generator.Iter.At))
            {
                Assign(generator.Target, item);
                var keep = true;
                foreach (var condition in generator.Ifs)
                {
                    var test = EvalTest(condition);
                    if (test is TensorVal)
                        throw Error(condition.At, "comprehension filter on a tensor", "a comprehension's if on a tensor decides how many items there are (data-dependent)",
                            "filter with a mask and torch.where, or use mode='bytecode'");
                    if (!Truth(test, condition.At)) { keep = false; break; }
                }
                if (keep) Loop(level + 1);
            }
        }
        try { Loop(0); }
        finally
        {
            foreach (var name in c.Generators.SelectMany(g => TargetNames(g.Target)))
                if (saved.TryGetValue(name, out var value)) _frame.Locals[name] = value;
                else _frame.Locals.Remove(name);
        }
        return c.IsList ? new ListVal(items, _scope) : new TupleVal(items);
    }

    /// <summary>An f-string of Python values, formatted now (a graph has no strings).</summary>
    private AstValue FString(FStringExpr f)
    {
        var text = new System.Text.StringBuilder();
        using var builtins = Py.Builtins;
        using var format = builtins.GetAttr("format");
        foreach (var part in f.Parts)
        {
            if (part.Text is { } literal)
            {
                text.Append(literal);
                continue;
            }
            var value = Eval(part.Value!);
            if (value is not ConstVal c)
                throw Error(part.Value!.At, "f-string", $"an f-string of {Describe(value)} cannot be captured (a graph has no strings)",
                    "format Python values only, outside the captured function for tensors");
            var converted = part.Conversion switch
            {
                'r' => Py.Str(c.Value.Repr()),
                's' => Py.Str(c.Value.ToString()),
                'a' => builtins.GetAttr("ascii").Call(c.Value),
                _ => c.Value.NewReference(),
            };
            using (converted)
            using (var spec = part.FormatSpec is null ? Py.Str("") : ((ConstVal)FString((FStringExpr)part.FormatSpec)).Value)
            using (var formatted = format.Call(converted, spec))
                text.Append(formatted.AsString());
        }
        return new ConstVal(Py.Str(text.ToString()));
    }

    private IReadOnlyList<AstValue> Items(IEnumerable<Expr> items)
    {
        var values = new List<AstValue>();
        foreach (var item in items)
        {
            if (item is StarredExpr s) values.AddRange(Unpack(Eval(s.Value), s.At));
            else values.Add(Eval(item));
        }
        return values;
    }

    /// <summary>The items of an iterable known at capture time (tuple, list, a tensor's first dim, a Python sequence, a ModuleList).</summary>
    private IReadOnlyList<AstValue> Unpack(AstValue value, Span at)
    {
        switch (value)
        {
            case TupleVal t: return t.Items;
            case ListVal l: return l.Items.ToList();
            case DictVal d: return d.Items.Select(i => (AstValue)new ConstVal(Py.Str(i.Key))).ToList();
            case TensorVal t when t.Meta.Rank > 0:
                var count = t.Meta.Shape[0].Concrete("iteration");
                return Enumerable.Range(0, (int)count).Select(i => Op(Ops.GetItem, [Use(t), (long)i], [], at)).ToList();
            case ConstVal c when !c.Value.IsStr && c.Value.HasAttr("__iter__"):
                return c.Value.Iterate().Select(i => (AstValue)new ConstVal(i, c.Origin)).ToList();
            case ObjVal { Kind: ObjectKind.NnModule } m when m.Object.HasAttr("__iter__") && m.Object.HasAttr("__getitem__"):
                AssumeLength(m);
                return m.Object.Iterate().Select((item, i) => Wrap(item, m.Path is null ? null : new ItemSource(m.Path, i), $"{m.Name}[{i}]")).ToList();
            case UndefinedVal u:
                throw Error(at, "undefined", u.Why, "assign the variable on every path before using it");
            default:
                throw Error(at, "iteration", $"cannot iterate over {Describe(value)} at capture time",
                    "iterate over range(n), a tuple or list, a tensor, or an nn.ModuleList");
        }
    }

    // ---- names ----

    private AstValue Lookup(string name, Span at)
    {
        if (_frame.Locals.TryGetValue(name, out var local))
            return local is UndefinedVal u ? throw Error(at, "undefined", u.Why, "assign the variable on every path before using it") : local;
        using var key = Py.Str(name);
        using (var has = _frame.Globals.CallMethod("__contains__", key))
            if (has.IsTrue())
            {
                var path = _frame.GlobalPath(name);
                var value = _frame.Globals.GetItem(key);
                return Wrap(value, path, $"global '{name}'");
            }
        using (var has = _frame.Builtins.CallMethod("__contains__", key))
            if (has.IsTrue())
            {
                var builtin = _frame.Builtins.GetItem(key);
                if (_frame.Caller is null)
                {
                    // a global of that name would shadow the builtin
                    _namespaces.FrameEntry(builtins: false, name, null);
                    _namespaces.FrameEntry(builtins: true, name, builtin);
                }
                return Wrap(builtin, null, $"builtin '{name}'");
            }
        throw Error(at, "name", $"name '{name}' is not defined", "define it before the function is called");
    }

    /// <summary>
    /// A Python value read from outside the function (an argument, a global, an attribute of a
    /// module): tensors become graph inputs, and what the capture relies on is recorded as an
    /// assumption the runtime checks on later calls.
    /// </summary>
    private AstValue Wrap(PyObject value, Source? path, string origin)
    {
        if (_torch.IsTensor(value))
        {
            if (path is null)
                throw Error(CurrentSpan, "tensor without a source", $"the tensor {origin} cannot be re-read on later calls", "pass it as an argument");
            if (_inputTensors.TryGetValue(path.ToString(), out var known)) return known;
            foreach (var (other, otherPath, otherTensor) in _inputObjects)
                if (other.Is(value))
                {
                    // one tensor under two names: one graph input, and later calls must alias them too
                    Assume(path, new DuplicateInputGuard(path, otherPath));
                    return otherTensor;
                }
            if (!_torch.IsPlainTensor(value))
                throw Error(CurrentSpan, "tensor subclass", $"{origin} is a {value.TypeName}, a tensor subclass that may override torch functions",
                    "pass a plain torch.Tensor, or use mode='bytecode'");
            var meta = _torch.ReadMeta(value);
            var node = _root.Builder.Placeholder(path.PlaceholderName(), meta).Name;
            var tensor = new TensorVal(node, meta, _root);
            _inputTensors[path.ToString()] = tensor;
            _inputObjects.Add((value.NewReference(), path, tensor));
            _inputs.Add(path);
            Assume(path, new TensorMatchGuard(path, meta));
            return tensor;
        }
        if (value.IsNone || value.IsBool || value.IsInt || value.IsFloat || value.IsStr || _torch.AsDType(value) is not null || value.TypeName is "torch.device")
        {
            if (path is not null) Assume(path, new ConstantMatchGuard(path, value.NewReference()));
            return new ConstVal(value, value.IsStr ? origin : null);
        }
        if (value.IsTuple || value.IsList)
        {
            using var type = value.Type;
            if (path is not null) Assume(path, new TypeMatchGuard(path, type.NewReference(), value.IsTuple ? "tuple" : "list"), new LengthMatchGuard(path, value.Length));
            var items = value.ToItems().Select((item, i) => Wrap(item, path is null ? null : new ItemSource(path, i), $"{origin}[{i}]")).ToList();
            return value.IsTuple ? new TupleVal(items) : new ListVal(items, Owner: null);
        }
        if (value.IsDict && value.TypeName == "dict" && path is not null)
        {
            // a dict of named values (a **kwargs parameter's): its keys guarded, each item read by key
            var items = value.ToDictItems();
            try
            {
                if (items.All(p => p.Key.IsStr))
                {
                    var names = items.Select(p => p.Key.AsString()).ToList();
                    using (var type = value.Type) Assume(path, new TypeMatchGuard(path, type.NewReference(), "dict"), new DictKeysGuard(path, names));
                    return new DictVal(items.Select((p, i) => new KeyValuePair<string, AstValue>(names[i],
                        Wrap(p.Value.NewReference(), new KeySource(path, names[i]), $"{origin}['{names[i]}']"))).ToList());
                }
            }
            finally
            {
                foreach (var (k, v) in items) { k.Dispose(); v.Dispose(); }
            }
        }
        if (_torch.IsModule(value))
        {
            if (path is not null) AssumeModule(path, value);
            return new ObjVal(value, ObjectKind.NnModule, origin, path);
        }
        var kind = Classify(value);
        if (path is not null && !(kind is ObjectKind.Module or ObjectKind.TorchFunction or ObjectKind.Builtin && IsTrusted(value)))
            Assume(path, new IdMatchGuard(path, value.NewReference(), IdMatchGuard.Describe(value)));
        else if (path is GlobalSource global)
            _namespaces.FrameEntry(builtins: false, global.Name, value); // the global still names torch
        // an arbitrary object is named by where it came from: that is what a diagnostic about it should say
        return new ObjVal(value, kind, kind == ObjectKind.Other ? origin : QualifiedName(value), path);
    }

    private Span CurrentSpan => _scope.Builder.Source is { } s ? new Span(s.File, s.Line, s.Column) : new Span("<unknown>", 0, 0);
}
