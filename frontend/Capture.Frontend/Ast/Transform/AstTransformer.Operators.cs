namespace Capture.Frontend;

// Operators on tensors become registry ops; on Python values they run for real (Python's own semantics).
// Conditions: `and`, `or`, `not` and chained comparisons on tensors become logical ops on one-element tensors.
public sealed partial class AstTransformer
{
    // ---- operators ----

    private AstValue Binary(string op, AstValue left, AstValue right, Span at)
    {
        var binary = PythonOperators.Binary[op];
        if (left is TensorVal || right is TensorVal)
        {
            foreach (var dunder in binary.Dunders) RequireTorchTensorAttribute(dunder, at);
            if (binary.TorchOp is null) throw Error(at, "operator", $"operator {op} on a tensor is not supported", "use the torch function for it");
            return Op(binary.TorchOp, [ToArg(left, at), ToArg(right, at)], [], at);
        }
        if (left is TupleVal lt && right is TupleVal rt && op == "+") return new TupleVal(lt.Items.Concat(rt.Items).ToList());
        if (left is ListVal ll && right is ListVal rl && op == "+") return new ListVal(ll.Items.Concat(rl.Items).ToList(), _scope);
        return PythonOperator(binary.Function, at, left, right);
    }

    private AstValue Unary(string op, AstValue operand, Span at)
    {
        if (operand is TensorVal t)
        {
            RequireTorchTensorAttribute("__" + PythonOperators.UnaryFunction(op) + "__", at);
            return op switch
            {
                "-" => Op(Ops.Neg, [Use(t)], [], at),
                "+" => t,
                "~" => Op("torch.bitwise_not", [Use(t)], [], at),
                _ => throw new InvalidOperationException(op),
            };
        }
        return PythonOperator(PythonOperators.UnaryFunction(op), at, operand);
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
                if (right is DictVal d && left is ConstVal key)
                    return new ConstVal(Py.Bool((key.Value.IsStr && d.Find(key.Value.AsString()) is not null) == (op == "in")));
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
        var comparison = PythonOperators.Comparisons[op];
        if (left is TensorVal || right is TensorVal)
            foreach (var dunder in comparison.Dunders) RequireTorchTensorAttribute(dunder, at);
        if (left is TensorVal || right is TensorVal)
            return left is TensorVal
                ? Op(comparison.TorchOp, [ToArg(left, at), ToArg(right, at)], [], at)
                : Op(comparison.SwappedTorchOp, [ToArg(right, at), ToArg(left, at)], [], at); // 2 < x is x > 2: torch takes the tensor first
        return PythonOperator(comparison.Function, at, left, right);
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
        try
        {
            var result = PythonOperators.Apply(function, values);
            if (function == "not_contains") return new ConstVal(result);
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
                return operand is TensorVal t ? Op(Ops.LogicalNot, [Use(Predicate(t, u.At))], [], u.At) : new ConstVal(Py.Bool(!Truth(operand, u.At)));
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
        predicates.Aggregate((a, b) => (TensorVal)Op(op == "and" ? Ops.LogicalAnd : Ops.LogicalOr, [Use(a), Use(b)], [], at));

    /// <summary>A one-element bool tensor with the truth value Python's bool(t) gives.</summary>
    private TensorVal Predicate(TensorVal t, Span at)
    {
        if (t.Meta.Shape.NumElements("truth value") != 1)
            throw Error(at, "ambiguous tensor condition", $"the truth value of a tensor of shape {t.Meta.Shape} is ambiguous (torch raises: Boolean value of Tensor with more than one value is ambiguous)",
                "reduce it first: cond.any(), cond.all(), or x.sum() > 0");
        return t.Meta.DType == DType.Bool ? t : (TensorVal)Op(Ops.Ne, [Use(t), 0L], [], at);
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

}
