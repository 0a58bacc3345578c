using Capture.Graph;
using Capture.Python;

namespace Capture.Frontend;

// Expressions: names, constants, operators, attributes, subscripts; arguments of graph ops.
public sealed partial class AstTransformer
{
    // Python operator -> (torch op, operator-module function for Python values)
    private static readonly Dictionary<string, (string? Torch, string Python)> BinaryOps = new()
    {
        ["+"] = ("torch.add", "add"), ["-"] = ("torch.sub", "sub"), ["*"] = ("torch.mul", "mul"), ["/"] = ("torch.div", "truediv"),
        ["//"] = ("torch.floor_divide", "floordiv"), ["%"] = ("torch.remainder", "mod"), ["**"] = ("torch.pow", "pow"),
        ["@"] = ("torch.matmul", "matmul"), ["&"] = ("torch.bitwise_and", "and_"), ["|"] = ("torch.bitwise_or", "or_"),
        ["^"] = ("torch.bitwise_xor", "xor"), ["<<"] = (null, "lshift"), [">>"] = (null, "rshift"),
    };

    private static readonly Dictionary<string, (string Torch, string Flipped, string Python)> Comparisons = new()
    {
        ["<"] = ("torch.lt", "torch.gt", "lt"), ["<="] = ("torch.le", "torch.ge", "le"), ["=="] = ("torch.eq", "torch.eq", "eq"),
        ["!="] = ("torch.ne", "torch.ne", "ne"), [">"] = ("torch.gt", "torch.lt", "gt"), [">="] = ("torch.ge", "torch.le", "ge"),
    };

    private AstValue Eval(Expr expr)
    {
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
            case TensorVal t when t.Meta.Rank > 0:
                var count = t.Meta.Shape[0].Concrete("iteration");
                return Enumerable.Range(0, (int)count).Select(i => Op("operator.getitem", [Use(t), (long)i], [], at)).ToList();
            case ConstVal c when !c.Value.IsStr && c.Value.HasAttr("__iter__"):
                return c.Value.Iterate().Select(i => (AstValue)new ConstVal(i, c.Origin)).ToList();
            case ObjVal { Kind: ObjKind.NnModule } m when m.Object.HasAttr("__iter__") && m.Object.HasAttr("__getitem__"):
                return m.Object.Iterate().Select((item, i) => Wrap(item, m.Path is null ? null : new InputPath.Item(m.Path, i), $"{m.Name}[{i}]")).ToList();
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
                return Wrap(_frame.Builtins.GetItem(key), null, $"builtin '{name}'");
        throw Error(at, "name", $"name '{name}' is not defined", "define it before the function is called");
    }

    /// <summary>
    /// A Python value read from outside the function (an argument, a global, an attribute of a
    /// module): tensors become graph inputs, and what the capture relies on is recorded as an
    /// assumption the runtime checks on later calls.
    /// </summary>
    private AstValue Wrap(PyObject value, InputPath? path, string origin)
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
                    Assume(new InputAssumption.SameAs(path, otherPath));
                    return otherTensor;
                }
            if (!_torch.IsPlainTensor(value))
                throw Error(CurrentSpan, "tensor subclass", $"{origin} is a {value.TypeName}, a tensor subclass that may override torch functions",
                    "pass a plain torch.Tensor, or use mode='bytecode'");
            var meta = _torch.ReadMeta(value);
            var node = _root.Builder.Placeholder(PlaceholderName(path), meta).Name;
            var tensor = new TensorVal(node, meta, _root);
            _inputTensors[path.ToString()] = tensor;
            _inputObjects.Add((value.NewReference(), path, tensor));
            _inputs.Add(path);
            Assume(new InputAssumption.Tensor(path, meta));
            return tensor;
        }
        if (value.IsNone || value.IsBool || value.IsInt || value.IsFloat || value.IsStr || _torch.AsDType(value) is not null || value.TypeName is "torch.device")
        {
            if (path is not null) Assume(new InputAssumption.Constant(path, value.NewReference()));
            return new ConstVal(value, value.IsStr ? origin : null);
        }
        if (value.IsTuple || value.IsList)
        {
            using var type = value.Type;
            if (path is not null) Assume(new InputAssumption.Sequence(path, type.NewReference(), value.IsTuple ? "tuple" : "list", value.Length));
            var items = value.ToItems().Select((item, i) => Wrap(item, path is null ? null : new InputPath.Item(path, i), $"{origin}[{i}]")).ToList();
            return value.IsTuple ? new TupleVal(items) : new ListVal(items, Owner: null);
        }
        if (_torch.IsModule(value))
        {
            if (path is not null)
            {
                using var training = value.GetAttr("training");
                Assume(new InputAssumption.Module(path, value.NewReference(), training.IsTrue()));
            }
            return new ObjVal(value, ObjKind.NnModule, origin, path);
        }
        var kind = Classify(value);
        if (path is not null && !(kind is ObjKind.Module or ObjKind.TorchFunction or ObjKind.Builtin && IsTrusted(value)))
            Assume(new InputAssumption.Identity(path, value.NewReference()));
        // an arbitrary object is named by where it came from: that is what a diagnostic about it should say
        return new ObjVal(value, kind, kind == ObjKind.Other ? origin : QualifiedName(value), path);
    }

    private void Assume(InputAssumption assumption)
    {
        if (_assumed.Add(assumption.Path.ToString())) _assumptions.Add(assumption);
    }

    private Span CurrentSpan => _scope.Builder.Source is { } s ? new Span(s.File, s.Line, s.Column) : new Span("<unknown>", 0, 0);

    private static string PlaceholderName(InputPath path)
    {
        var text = path switch
        {
            InputPath.Local l => l.Name,
            InputPath.Global g => g.Name,
            InputPath.Attr a => $"{PlaceholderName(a.Base)}_{a.Name}",
            InputPath.Item i => $"{PlaceholderName(i.Base)}_{i.Index}",
            InputPath.Key k => $"{PlaceholderName(k.Base)}_{k.Name}",
            _ => "input",
        };
        var clean = new string(text.Replace("___globals__", "").Select(c => char.IsLetterOrDigit(c) || c == '_' ? c : '_').ToArray()).Trim('_');
        return clean.Length == 0 ? "input" : clean;
    }

    // ---- operators ----

    private AstValue Binary(string op, AstValue left, AstValue right, Span at)
    {
        var (torchOp, python) = BinaryOps[op];
        if (left is TensorVal || right is TensorVal)
        {
            if (torchOp is null) throw Error(at, "operator", $"operator {op} on a tensor is not supported", "use the torch function for it");
            return Op(torchOp, [ToArg(left, at), ToArg(right, at)], [], at);
        }
        if (left is TupleVal lt && right is TupleVal rt && op == "+") return new TupleVal(lt.Items.Concat(rt.Items).ToList());
        if (left is ListVal ll && right is ListVal rl && op == "+") return new ListVal(ll.Items.Concat(rl.Items).ToList(), _scope);
        return PythonOperator(python, at, left, right);
    }

    private AstValue Unary(string op, AstValue operand, Span at)
    {
        if (operand is TensorVal t)
            return op switch
            {
                "-" => Op("torch.neg", [Use(t)], [], at),
                "+" => t,
                "~" => Op("torch.bitwise_not", [Use(t)], [], at),
                _ => throw new InvalidOperationException(op),
            };
        return PythonOperator(op switch { "-" => "neg", "+" => "pos", _ => "invert" }, at, operand);
    }

    private AstValue Compare(string op, AstValue left, AstValue right, Span at)
    {
        switch (op)
        {
            case "is" or "is not":
            {
                bool? same = (left, right) switch
                {
                    (ConstVal a, ConstVal b) => a.Value.Is(b.Value),
                    (ObjVal a, ObjVal b) => a.Object.Is(b.Object),
                    (TensorVal a, TensorVal b) => a.Node == b.Node && a.Scope == b.Scope,
                    (TensorVal or TupleVal or ListVal or ObjVal, ConstVal { Value.IsNone: true }) => false,
                    (ConstVal { Value.IsNone: true }, TensorVal or TupleVal or ListVal or ObjVal) => false,
                    _ => null,
                };
                if (same is null) throw Error(at, "is", $"'{op}' between {Describe(left)} and {Describe(right)} cannot be decided at capture time", "compare with None, or compare values with ==");
                return new ConstVal(Py.Bool(same.Value == (op == "is")));
            }
            case "in" or "not in":
            {
                if (right is TupleVal or ListVal && left is ConstVal c)
                {
                    var items = right is TupleVal t ? t.Items : ((ListVal)right).Items;
                    if (items.All(i => i is ConstVal))
                        return new ConstVal(Py.Bool(items.Cast<ConstVal>().Any(i => i.Value.PyEquals(c.Value)) == (op == "in")));
                }
                if (left is ConstVal && right is ConstVal) return PythonOperator(op == "in" ? "contains" : "not_contains", at, right, left);
                throw Error(at, "in", $"'{op}' on {Describe(right)} cannot be decided at capture time", "test membership of Python values only");
            }
        }
        var (torchOp, flipped, python) = Comparisons[op];
        if (left is TensorVal || right is TensorVal)
            return left is TensorVal
                ? Op(torchOp, [ToArg(left, at), ToArg(right, at)], [], at)
                : Op(flipped, [ToArg(right, at), ToArg(left, at)], [], at); // 2 < x is x > 2: torch takes the tensor first
        return PythonOperator(python, at, left, right);
    }

    /// <summary>An operator on Python values, run for real now (Python's own semantics and errors).</summary>
    private AstValue PythonOperator(string function, Span at, params AstValue[] operands)
    {
        var values = operands.Select(o => o switch
        {
            ConstVal c => c.Value,
            ObjVal obj => obj.Object,
            TupleVal t when t.Items.All(i => i is ConstVal) => Py.Tuple(t.Items.Cast<ConstVal>().Select(i => i.Value).ToList()),
            _ => throw Error(at, "operator", $"operator {function} on {Describe(o)} is not supported", "apply it to tensors or Python numbers"),
        }).ToArray();
        using var module = Py.Import("operator");
        using var fn = module.GetAttr(function == "not_contains" ? "contains" : function);
        try
        {
            var result = fn.Call(values);
            if (function == "not_contains") return new ConstVal(Py.Bool(!result.IsTrue()));
            return new ConstVal(result, operands.OfType<ConstVal>().Select(c => c.Origin).FirstOrDefault(o => o is not null));
        }
        catch (PythonException e)
        {
            throw Error(at, "python error", $"{e.PythonType}: {e.PythonMessage}", "this expression fails for the example inputs");
        }
    }

    // ---- truth of conditions ----

    /// <summary>A condition of if/while/assert: `and`, `or`, `not` and chained comparisons on tensors become logical ops.</summary>
    private AstValue EvalTest(Expr test)
    {
        switch (test)
        {
            case UnaryExpr { Op: "not" } u:
                var operand = EvalTest(u.Operand);
                return operand is TensorVal t ? Op("torch.logical_not", [Use(Predicate(t, u.At))], [], u.At) : new ConstVal(Py.Bool(!Truth(operand, u.At)));
            case BoolExpr b:
            {
                var tensors = new List<TensorVal>();
                foreach (var part in b.Values)
                {
                    var value = EvalTest(part);
                    if (value is TensorVal tv)
                    {
                        tensors.Add(Predicate(tv, part.At));
                        continue;
                    }
                    // a Python value decides an `and` when false and an `or` when true, whatever came before
                    if (Truth(value, part.At) == (b.Op == "or")) return new ConstVal(Py.Bool(b.Op == "or"));
                }
                return tensors.Count == 0 ? new ConstVal(Py.Bool(b.Op == "and")) : Combine(tensors, b.Op, b.At);
            }
            case CompareExpr { Ops.Count: > 1 } c:
            {
                var parts = new List<AstValue>();
                var left = Eval(c.Left);
                for (var i = 0; i < c.Ops.Count; i++)
                {
                    var right = Eval(c.Comparators[i]);
                    parts.Add(Compare(c.Ops[i], left, right, c.At));
                    left = right;
                }
                if (parts.Any(p => p is not TensorVal && !Truth(p, c.At))) return new ConstVal(Py.Bool(false));
                var tensors = parts.OfType<TensorVal>().Select(p => Predicate(p, c.At)).ToList();
                return tensors.Count == 0 ? new ConstVal(Py.Bool(true)) : Combine(tensors, "and", c.At);
            }
            default:
                return Eval(test);
        }
    }

    private TensorVal Combine(IEnumerable<TensorVal> predicates, string op, Span at) =>
        predicates.Aggregate((a, b) => (TensorVal)Op(op == "and" ? "torch.logical_and" : "torch.logical_or", [Use(a), Use(b)], [], at));

    /// <summary>A one-element bool tensor with the truth value Python's bool(t) gives.</summary>
    private TensorVal Predicate(TensorVal t, Span at)
    {
        if (t.Meta.Shape.NumElements("truth value") != 1)
            throw Error(at, "ambiguous tensor condition", $"the truth value of a tensor of shape {t.Meta.Shape} is ambiguous (torch raises: Boolean value of Tensor with more than one value is ambiguous)",
                "reduce it first: cond.any(), cond.all(), or x.sum() > 0");
        return t.Meta.DType == DType.Bool ? t : (TensorVal)Op("torch.ne", [Use(t), 0L], [], at);
    }

    /// <summary>Python's bool() of a value known at capture time.</summary>
    private bool Truth(AstValue value, Span at) => value switch
    {
        ConstVal c => c.Value.IsTrue(),
        TupleVal t => t.Items.Count > 0,
        ListVal l => l.Items.Count > 0,
        ObjVal o => o.Object.IsTrue(),
        MethodVal => true,
        TensorVal => throw new InvalidOperationException("a tensor's truth is decided by a cond node"),
        UndefinedVal u => throw Error(at, "undefined", u.Why, "assign the variable on every path before using it"),
        _ => throw new InvalidOperationException($"unknown value {value}"),
    };

    private AstValue BoolValue(BoolExpr b)
    {
        AstValue last = null!;
        foreach (var part in b.Values)
        {
            last = Eval(part);
            if (last is TensorVal)
                throw Error(part.At, $"{b.Op} on a tensor", $"'{b.Op}' on a tensor makes a Python bool from the tensor's value",
                    $"use torch.logical_{b.Op}(a, b) or a {(b.Op == "and" ? "&" : "|")} b, or use it directly as an if/while condition");
            if (Truth(last, part.At) == (b.Op == "or")) return last;
        }
        return last;
    }

    // ---- attributes ----

    private AstValue GetAttribute(AstValue owner, string name, Span at)
    {
        switch (owner)
        {
            case TensorVal t:
                return TensorAttribute(t, name, at);
            case ObjVal { Kind: ObjKind.NnModule } m:
            {
                if (!m.Object.HasAttr(name)) throw Error(at, "attribute", $"{m.Object.TypeName} has no attribute '{name}'", "check the attribute's name");
                using var type = m.Object.Type;
                if (type.HasAttr(name))
                {
                    using var classAttr = type.GetAttr(name);
                    if (classAttr.TypeName == "function") return new MethodVal(m, name);
                }
                var value = m.Object.GetAttr(name);
                return Wrap(value, m.Path is null ? null : new InputPath.Attr(m.Path, name), $"{m.Name}.{name}");
            }
            case ObjVal { Kind: ObjKind.Module } module:
            {
                if (!module.Object.HasAttr(name)) throw Error(at, "attribute", $"module '{module.Name}' has no attribute '{name}'", "check the name");
                var value = module.Object.GetAttr(name);
                return Wrap(value, IsTrusted(module.Object) || module.Path is null ? null : new InputPath.Attr(module.Path, name), $"{module.Name}.{name}");
            }
            case ConstVal c:
            {
                if (!c.Value.HasAttr(name)) throw Error(at, "attribute", $"{c.Value.TypeName} has no attribute '{name}'", "check the attribute's name");
                var value = c.Value.GetAttr(name);
                return value.TypeName is "builtin_function_or_method" or "method-wrapper" ? new ObjVal(value, ObjKind.Builtin, $"{c.Value.TypeName}.{name}", null) : new ConstVal(value, c.Origin);
            }
            case TupleVal { NamedType: { } type } named when type.HasAttr("_fields"):
            {
                using var fields = type.GetAttr("_fields");
                var index = fields.ToItems().Select(f => { using (f) return f.AsString(); }).ToList().IndexOf(name);
                return index >= 0 ? named.Items[index] : new MethodVal(owner, name);
            }
            case ListVal or TupleVal:
                return new MethodVal(owner, name);
            case ObjVal { Kind: ObjKind.Class or ObjKind.TorchFunction or ObjKind.Builtin } o when IsTrusted(o.Object) && o.Object.HasAttr(name):
                return Wrap(o.Object.GetAttr(name), null, $"{o.Name}.{name}");
            default:
                throw ArbitraryObject(owner, $"reading '.{name}' of", at);
        }
    }

    private AstCaptureException ArbitraryObject(AstValue value, string what, Span at) =>
        Error(at, "python object", $"{what} {Describe(value)}: the AST path handles tensors, numbers, strings, tuples, lists, torch functions and nn.Modules, not arbitrary Python objects",
            "pass the tensors or numbers it holds as arguments, or use mode='bytecode'");

    private AstValue TensorAttribute(TensorVal t, string name, Span at)
    {
        var meta = t.Meta;
        switch (name)
        {
            case "shape":
            {
                // sizes are specialized (the tensor's guard pins them): a real torch.Size
                using var torch = Py.Import("torch");
                using var size = torch.GetAttr("Size");
                using var sizes = Py.IntTuple(Enumerable.Range(0, meta.Rank).Select(i => meta.Shape[i].Concrete("shape")).ToList());
                return new ConstVal(size.Call(sizes));
            }
            case "dtype": return new ConstVal(DTypeObject(meta.DType));
            case "ndim": return new ConstVal(Py.Int(meta.Rank));
            case "requires_grad": return new ConstVal(Py.Bool(meta.RequiresGrad));
            case "is_cuda" or "is_nested" or "is_sparse" or "is_quantized" or "is_meta" or "is_mkldnn" or "is_complex":
                return new ConstVal(Py.Bool(false)); // captured tensors are dense, real and on the CPU (their guard checks it)
            case "device":
                using (var torch = Py.Import("torch"))
                using (var device = torch.GetAttr("device"))
                using (var text = Py.Str(meta.Device.ToString()))
                    return new ConstVal(device.Call(text));
            case "T": return CallTensorMethod(t, meta.Rank == 2 ? "t" : "permute", meta.Rank == 2 ? [] : [new TupleVal(Enumerable.Range(0, meta.Rank).Reverse().Select(d => (AstValue)new ConstVal(Py.Int(d))).ToList())], [], at);
            case "data" or "grad" or "grad_fn":
                throw Error(at, $"Tensor.{name}", $"Tensor.{name} reaches outside the graph", "use the tensor itself (or x.detach())");
            default:
                if (!TensorMethod(name))
                    throw Error(at, "tensor attribute", $"Tensor.{name} is not supported by the AST path", "use a Tensor method or torch function instead");
                return new MethodVal(t, name);
        }
    }

    /// <summary>Whether torch.Tensor.name is a method (a call through the registry follows), not some other attribute.</summary>
    private static bool TensorMethod(string name)
    {
        using var torch = Py.Import("torch");
        using var tensor = torch.GetAttr("Tensor");
        if (!tensor.HasAttr(name)) return false;
        using var attribute = tensor.GetAttr(name);
        return attribute.TypeName is "method_descriptor" or "function" or "builtin_function_or_method" or "wrapper_descriptor";
    }

    private static PyObject DTypeObject(DType dtype)
    {
        using var torch = Py.Import("torch");
        return torch.GetAttr(dtype.TorchName());
    }

    // ---- subscripts ----

    private AstValue Slice(SliceExpr s)
    {
        var parts = new[] { s.Lower, s.Upper, s.Step }.Select(p => p is null ? new ConstVal(Py.None) : Eval(p)).ToList();
        if (parts.Any(p => p is TensorVal))
            throw Error(s.At, "tensor slice bound", "a slice bound that is a tensor needs its value (data-dependent)", "use Python ints (shapes) as slice bounds");
        using var slice = Py.Builtins.GetAttr("slice");
        return new ConstVal(slice.Call(parts.Select(p => ((ConstVal)p).Value).ToArray()));
    }

    private AstValue GetItem(AstValue container, Expr indexExpr, Span at)
    {
        var index = Eval(indexExpr);
        At(at);
        switch (container)
        {
            case TensorVal t:
                return Op("operator.getitem", [Use(t), IndexArg(index, at)], [], at);
            case TupleVal or ListVal when index is ConstVal { Value.IsInt: true } c:
            {
                var items = container is TupleVal tv ? tv.Items : ((ListVal)container).Items;
                var i = c.Value.ToInt64();
                if (i < 0) i += items.Count;
                if (i < 0 || i >= items.Count) throw Error(at, "index", $"index {c.Value.ToInt64()} is out of range for a sequence of {items.Count}", "check the index");
                return items[(int)i];
            }
            case TupleVal or ListVal when index is ConstVal { Value.TypeName: "slice" } c:
            {
                var items = container is TupleVal tv ? tv.Items : ((ListVal)container).Items;
                using var indices = Py.Builtins.GetAttr("range");
                using var length = Py.Int(items.Count);
                using var bounds = c.Value.CallMethod("indices", length);
                using var range = indices.Call(bounds.ToItems().ToArray());
                var picked = range.Iterate().Select(i => { using (i) return items[(int)i.ToInt64()]; }).ToList();
                return container is TupleVal ? new TupleVal(picked) : new ListVal(picked, _scope);
            }
            case ConstVal c when index is ConstVal i:
                return PythonOperator("getitem", at, c, i);
            case ObjVal { Kind: ObjKind.NnModule } m when index is ConstVal { Value.IsInt: true } i && m.Object.HasAttr("__getitem__"):
            {
                var position = i.Value.ToInt64();
                var item = m.Object.GetItem(position);
                if (position < 0) position += m.Object.Length;
                return Wrap(item, m.Path is null ? null : new InputPath.Item(m.Path, position), $"{m.Name}[{position}]");
            }
            default:
                throw Error(at, "subscript", $"indexing {Describe(container)} with {Describe(index)} cannot be captured", "index tensors, tuples and lists");
        }
    }

    private void SetItem(AstValue container, Expr indexExpr, AstValue value, Span at)
    {
        var index = Eval(indexExpr);
        switch (container)
        {
            case TensorVal t:
                Op("operator.setitem", [Use(t), IndexArg(index, at), ToArg(value, at)], [], at);
                return;
            case ListVal l when index is ConstVal { Value.IsInt: true } c:
                CheckListWrite(l, at);
                var i = c.Value.ToInt64();
                if (i < 0) i += l.Items.Count;
                if (i < 0 || i >= l.Items.Count) throw Error(at, "index", "list assignment index out of range", "check the index");
                l.Items[(int)i] = value;
                return;
            default:
                throw Error(at, "item assignment", $"item assignment on {Describe(container)} cannot be captured", "assign items of tensors or of lists made in the function");
        }
    }

    private void CheckListWrite(ListVal list, Span at)
    {
        if (list.Owner is null)
            throw Error(at, "list mutation", "this changes a list that comes from outside the function", "build a new list and return it");
        if (list.Owner != _scope)
            throw Error(at, "list mutation", "this changes a list made outside the tensor-dependent branch or loop it is in", "build the list outside, or return the values from the branch");
    }

    private Arg IndexArg(AstValue index, Span at) => index switch
    {
        TupleVal t => new ListArg(t.Items.Select(i => IndexArg(i, at)).ToEquatableList(), IsTuple: true),
        _ => ToArg(index, at),
    };

    // ---- graph arguments and results ----

    private RefArg Use(TensorVal t) => _scope.Use(t);

    private Arg ToArg(AstValue value, Span at) => value switch
    {
        TensorVal t => Use(t),
        ConstVal c => ConstArg(c.Value, at),
        TupleVal t => new ListArg(t.Items.Select(i => ToArg(i, at)).ToEquatableList(), IsTuple: true),
        ListVal l => new ListArg(l.Items.Select(i => ToArg(i, at)).ToEquatableList()),
        UndefinedVal u => throw Error(at, "undefined", u.Why, "assign the variable on every path before using it"),
        _ => throw ArbitraryObject(value, "passing", at),
    };

    private Arg ConstArg(PyObject value, Span at)
    {
        if (value.IsNone) return NoneArg.Instance;
        if (value.IsBool) return new BoolArg(value.ToBoolean());
        if (value.IsInt) return new IntArg(value.ToInt64());
        if (value.IsFloat) return new FloatArg(value.ToDouble());
        if (value.IsStr) return new StrArg(value.AsString());
        if (_torch.AsDType(value) is { } d) return new DTypeArg(d);
        if (value.IsTuple || value.IsList || value.TypeName == "torch.Size")
            return new ListArg(value.ToItems().Select(i => { using (i) return ConstArg(i, at); }).ToEquatableList(), !value.IsList);
        switch (value.TypeName)
        {
            case "ellipsis": return EllipsisArg.Instance;
            case "slice":
                using (var start = value.GetAttr("start"))
                using (var stop = value.GetAttr("stop"))
                using (var step = value.GetAttr("step"))
                    return new SliceArg(ConstArg(start, at), ConstArg(stop, at), ConstArg(step, at));
            case "torch.device":
                return new StrArg(value.ToString());
        }
        throw Error(at, "python object", $"a {value.TypeName} cannot be an argument of a graph op", "pass tensors, numbers, strings or dtypes");
    }

    /// <summary>How the return value is rebuilt; tensors become graph outputs (each once).</summary>
    private ResultSpec Spec(AstValue value, List<string> outputs, Span at)
    {
        switch (value)
        {
            case TensorVal t:
                var node = _root.Use(t).Name;
                var index = outputs.IndexOf(node);
                if (index < 0)
                {
                    outputs.Add(node);
                    index = outputs.Count - 1;
                }
                return new ResultSpec.Output(index);
            case ConstVal c: return new ResultSpec.Constant(c.Value.NewReference());
            case TupleVal t: return new ResultSpec.Tuple(t.Items.Select(i => Spec(i, outputs, at)).ToList()) { NamedType = t.NamedType?.NewReference() };
            case ListVal l: return new ResultSpec.List(l.Items.Select(i => Spec(i, outputs, at)).ToList());
            case ObjVal o: return new ResultSpec.Constant(o.Object.NewReference());
            case UndefinedVal u: throw Error(at, "undefined", u.Why, "assign the variable on every path before returning it");
            default: throw Error(at, "return", $"returning {Describe(value)} cannot be captured", "return tensors, numbers, tuples or lists");
        }
    }

    private static AstValue None(Span at) => new ConstVal(Py.None);

    private static string Describe(AstValue value) => value switch
    {
        TensorVal t => $"a tensor {t.Meta}",
        ConstVal c => $"a {c.Value.TypeName} ({c.Value.Repr()})",
        TupleVal t => $"a tuple of {t.Items.Count}",
        ListVal l => $"a list of {l.Items.Count}",
        ObjVal { Kind: ObjKind.NnModule } m => $"the module {m.Name} ({m.Object.TypeName})",
        ObjVal o => $"{o.Name} (a {o.Object.TypeName})",
        MethodVal m => $"the method {m.Name}",
        UndefinedVal => "an undefined variable",
        _ => value.GetType().Name,
    };
}
