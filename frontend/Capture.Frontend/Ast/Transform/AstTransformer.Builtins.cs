namespace Capture.Frontend;

// Python builtins: decided at capture time on Python values, turned into ops on tensors where
// Python's meaning is a tensor op (abs, sum), refused where they would need a tensor's value.
public sealed partial class AstTransformer
{
    private AstValue CallBuiltin(ObjVal function, string name, IReadOnlyList<AstValue> args, IReadOnlyList<KeyValuePair<string, AstValue>> kwargs, CallExpr call)
    {
        var at = call.At;
        switch (name)
        {
            case "print":
                if (args.Concat(kwargs.Select(k => k.Value)).Any(ContainsTensor))
                    throw Error(at, "print", "print() of a tensor needs the tensor's value while the graph runs; a graph cannot print",
                        "print outside the captured function, or use mode='bytecode' (which breaks the graph at the print)");
                throw Error(at, "print", "print() would run once, when the function is captured, not on every call", "print outside the captured function");
            case "len" when args.Count == 1:
                return args[0] switch
                {
                    TensorVal { Meta.Rank: > 0 } t => new ConstVal(Py.Int(t.Meta.Shape[0].Concrete("len"))),
                    TensorVal => throw Error(at, "len", "len() of a 0-d tensor", "len() needs at least one dimension"),
                    TupleVal t => new ConstVal(Py.Int(t.Items.Count)),
                    ListVal l => new ConstVal(Py.Int(l.Items.Count)),
                    DictVal d => new ConstVal(Py.Int(d.Items.Count)),
                    ObjVal { Kind: ObjectKind.NnModule } m => new ConstVal(Py.Int(AssumeLength(m))),
                    _ => CallForRealOrFail(function, args, kwargs, call),
                };
            case "range" when args.Any(a => a is TensorVal):
                throw Error(at, "range of a tensor", "range() over a tensor's value is only supported as the iterable of a for loop",
                    "write `for i in range(n):` with n a tensor, or use a shape (x.shape[0])");
            case "zip" when kwargs.Count == 0:
            {
                var sequences = args.Select(a => Unpack(a, at)).ToList();
                var count = sequences.Count == 0 ? 0 : sequences.Min(s => s.Count);
                return new TupleVal(Enumerable.Range(0, count).Select(i => (AstValue)new TupleVal(sequences.Select(s => s[i]).ToList())).ToList());
            }
            case "enumerate" when args.Count is 1 or 2 && kwargs.Count == 0:
            {
                var start = args.Count == 2 && args[1] is ConstVal { Value.IsInt: true } s ? s.Value.ToInt64() : 0;
                return new TupleVal(Unpack(args[0], at).Select((item, i) => (AstValue)new TupleVal([new ConstVal(Py.Int(start + i)), item])).ToList());
            }
            case "reversed" when args.Count == 1 && args[0] is not ConstVal:
                return new TupleVal(Unpack(args[0], at).Reverse().ToList());
            case "tuple" when args.Count == 1 && args[0] is not ConstVal:
                return new TupleVal(Unpack(args[0], at));
            case "list" when args.Count == 1 && args[0] is not ConstVal:
                return new ListVal(Unpack(args[0], at).ToList(), _scope);
            case "list" when args.Count == 0:
                return new ListVal([], _scope);
            case "isinstance" when args.Count == 2 && args[1] is ObjVal or ConstVal or TupleVal:
                return new ConstVal(Py.Bool(IsInstance(args[0], args[1], at)));
            case "all" or "any" when args.Count == 1 && args[0] is not ConstVal:
            {
                var items = Unpack(args[0], at);
                if (items.Any(i => i is TensorVal))
                    throw Error(at, "data-dependent", $"{name}() over tensors needs their values (data-dependent)", $"use torch.{name}(torch.stack(...))");
                return new ConstVal(Py.Bool(name == "all" ? items.All(i => Truth(i, at)) : items.Any(i => Truth(i, at))));
            }
            case "abs" when args is [TensorVal t]:
                return Op(Ops.Abs, [Use(t)], [], at);
            case "sum" when args.Count is 1 or 2 && args[0] is not ConstVal:
            {
                var total = args.Count == 2 ? args[1] : new ConstVal(Py.Int(0));
                foreach (var item in Unpack(args[0], at)) total = Binary("+", total, item, at);
                return total;
            }
            case "getattr" or "hasattr" when args.Count >= 2:
                return GetAttrBuiltin(name, args, at);
            case "setattr" or "delattr":
                throw Error(at, name, $"{name}() changes an object outside the graph", "return the value instead");
            case "int" or "float" or "bool" or "complex" when args is [TensorVal]:
                throw Error(at, "data-dependent", $"{name}() of a tensor needs the tensor's value while the graph runs (data-dependent)",
                    "keep the value a tensor (use it in torch ops, or as an if/while condition)");
            case "min" or "max" when args.Any(ContainsTensor):
                throw Error(at, "data-dependent", $"{name}() over tensors compares their values in Python (data-dependent)", $"use torch.{(name == "min" ? "minimum" : "maximum")}(a, b)");
            case "input" or "open" or "exec" or "eval" or "breakpoint" or "compile" or "globals" or "locals" or "vars" or "id" or "iter" or "next":
                throw Error(at, "unknown function", $"{name}() has effects or results outside what a graph can hold", "call it outside the captured function");
        }
        if (args.All(IsPythonValue) && kwargs.All(k => k.Value is ConstVal))
            return CallForRealOrFail(function, args, kwargs, call);
        throw UnknownFunction(call, function);
    }

    private AstValue CallForRealOrFail(ObjVal function, IReadOnlyList<AstValue> args, IReadOnlyList<KeyValuePair<string, AstValue>> kwargs, CallExpr call)
    {
        if (!args.All(IsPythonValue) || !kwargs.All(k => k.Value is ConstVal))
            throw UnknownFunction(call, function);
        var values = args.Select(a => a switch
        {
            TupleVal t => new ConstVal(Py.Tuple(t.Items.Cast<ConstVal>().Select(i => i.Value).ToList())),
            ListVal l => new ConstVal(Py.List(l.Items.Cast<ConstVal>().Select(i => i.Value).ToList())),
            _ => a,
        }).ToList();
        return CallForReal(function, values, kwargs, call.At);
    }

    private static bool IsPythonValue(AstValue value) =>
        value is ConstVal || value is TupleVal t && t.Items.All(i => i is ConstVal) || value is ListVal l && l.Items.All(i => i is ConstVal);

    private static bool ContainsTensor(AstValue value) => value switch
    {
        TensorVal => true,
        TupleVal t => t.Items.Any(ContainsTensor),
        ListVal l => l.Items.Any(ContainsTensor),
        _ => false,
    };

    private bool IsInstance(AstValue value, AstValue classes, Span at)
    {
        var cls = classes switch
        {
            ObjVal o => o.Object,
            ConstVal c => c.Value,
            TupleVal t => Py.Tuple(t.Items.Select(i => i is ObjVal o ? o.Object : i is ConstVal c ? c.Value : throw Error(at, "isinstance", "isinstance() needs classes", "pass classes")).ToList()),
            _ => throw new InvalidOperationException(),
        };
        using var builtins = Py.Builtins;
        switch (value)
        {
            case TensorVal:
            {
                using var torch = Py.Import("torch");
                using var tensor = torch.GetAttr("Tensor");
                using var issubclass = builtins.GetAttr("issubclass");
                using var result = issubclass.Call(tensor, cls);
                return result.IsTrue();
            }
            case ConstVal c: return c.Value.IsInstance(cls);
            case ObjVal o: return o.Object.IsInstance(cls);
            case TupleVal or ListVal:
            {
                using var type = builtins.GetAttr(value is TupleVal ? "tuple" : "list");
                using var issubclass = builtins.GetAttr("issubclass");
                using var result = issubclass.Call(type, cls);
                return result.IsTrue();
            }
            default:
                throw ArbitraryObject(value, "isinstance() of", at);
        }
    }

    /// <summary>getattr(obj, name[, default]) / hasattr(obj, name) with a name fixed by the code, not by the caller's data.</summary>
    private AstValue GetAttrBuiltin(string builtin, IReadOnlyList<AstValue> args, Span at)
    {
        if (args[1] is not ConstVal { Value.IsStr: true } name)
            throw Error(at, "dynamic attribute", $"{builtin}() with an attribute name that is not a string known at capture time ({Describe(args[1])})",
                "use a string literal, or obj.attr");
        if (name.Origin is { } origin)
            throw Error(at, "dynamic attribute", $"{builtin}() with an attribute name that comes from {origin}: the attribute read would depend on the caller's data",
                "read the attribute with a literal name (obj.attr or getattr(obj, \"attr\")), or pass the value itself as an argument");
        var attribute = name.Value.AsString();
        var owner = args[0];
        var present = owner switch
        {
            TensorVal => TensorHasAttribute(attribute),
            ConstVal c => c.Value.HasAttr(attribute),
            ObjVal o => o.Object.HasAttr(attribute),
            _ => false,
        };
        if (builtin == "hasattr") return new ConstVal(Py.Bool(present));
        if (!present && args.Count == 3) return args[2];
        return GetAttribute(owner, attribute, at);
    }

    private static bool TensorHasAttribute(string name)
    {
        using var torch = Py.Import("torch");
        using var tensor = torch.GetAttr("Tensor");
        return tensor.HasAttr(name);
    }
}
