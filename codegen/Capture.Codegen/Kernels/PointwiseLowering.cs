using Capture.Graph;

namespace Capture.Codegen;

using Graph = Capture.Graph.Graph;

// Lowering of a pointwise fusion group to a kernel: one statement per node, arguments read from the
// group's own earlier statements or loaded from operands, Python numbers as constants in the
// computation's type. Arithmetic computes in the node's dtype (torch's: operands are converted to
// the result type first); comparisons compute in the promoted type of their tensor operands.
// A group with an op, dtype or argument this does not cover is not lowered (null): the backend
// runs its nodes through torch, never something approximate.
public static class PointwiseLowering
{
    private static readonly Dictionary<string, string> Functions = new()
    {
        ["torch.add"] = "add", ["torch.sub"] = "sub", ["torch.mul"] = "mul", ["torch.div"] = "div",
        ["torch.neg"] = "neg", ["torch.abs"] = "abs", ["torch.relu"] = "relu", ["torch.nn.functional.relu"] = "relu",
        ["torch.exp"] = "exp", ["torch.log"] = "log", ["torch.tanh"] = "tanh", ["torch.sigmoid"] = "sigmoid",
        ["torch.sqrt"] = "sqrt", ["torch.rsqrt"] = "rsqrt", ["torch.sin"] = "sin", ["torch.cos"] = "cos",
        ["torch.maximum"] = "maximum", ["torch.minimum"] = "minimum", ["torch.where"] = "where",
        ["torch.eq"] = "eq", ["torch.ne"] = "ne", ["torch.lt"] = "lt", ["torch.le"] = "le", ["torch.gt"] = "gt", ["torch.ge"] = "ge",
        ["torch.pow"] = "pow", ["Tensor.to"] = "cast", ["Tensor.float"] = "cast", ["Tensor.double"] = "cast", ["Tensor.long"] = "cast",
    };

    private static readonly HashSet<string> Comparisons = ["eq", "ne", "lt", "le", "gt", "ge"];
    private static readonly HashSet<string> FloatOnly = ["exp", "log", "tanh", "sigmoid", "sqrt", "rsqrt", "sin", "cos", "pow", "div"];

    public static bool Supports(DType dtype) => dtype is DType.Float32 or DType.Float64 or DType.Int64 or DType.Int32 or DType.Bool;

    public static Kernel? Lower(Graph graph, FusionGroup group, string name)
    {
        if (group.Kind != FusionKind.Pointwise || group.Domain is not { IsConcrete: true } domain) return null;
        var operands = new List<KOperand>();
        var operandOf = new Dictionary<string, int>();
        var statements = new List<KStatement>();
        var statementOf = new Dictionary<string, int>();
        foreach (var name_ in group.Nodes)
        {
            if (graph[name_] is not CallOp { Meta: TensorMeta meta } call || !Supports(meta.DType)) return null;
            var value = LowerCall(call, meta.DType, graph, arg =>
            {
                switch (arg)
                {
                    case RefArg r when statementOf.TryGetValue(r.Name, out var s):
                        return new KTemp(s, statements[s].Value.Type);
                    case RefArg r when graph[r.Name].Meta is TensorMeta t && Supports(t.DType):
                        if (!operandOf.TryGetValue(r.Name, out var o))
                        {
                            o = operandOf[r.Name] = operands.Count;
                            operands.Add(new KOperand(r.Name, t.DType, IsOutput: false, InnerStride(t, domain)));
                        }
                        return new KLoad(o, t.DType);
                    default:
                        return null;
                }
            });
            if (value is null) return null;
            statementOf[call.Name] = statements.Count;
            statements.Add(new KStatement(call.Name, value));
        }
        var stores = new List<(int, int)>();
        foreach (var output in group.Outputs)
        {
            stores.Add((statementOf[output], operands.Count));
            var meta = (TensorMeta)graph[output].Meta;
            operands.Add(new KOperand(output, meta.DType, IsOutput: true, InnerStride(meta, domain)));
        }
        return new Kernel(name, group.Id, domain.Concrete().ToEquatableList(), operands.ToEquatableList(), statements.ToEquatableList(), stores.ToEquatableList());
    }

    private static KExpr? LowerCall(CallOp call, DType result, Graph graph, Func<Arg, KExpr?> operand)
    {
        if (!Functions.TryGetValue(call.Op.Name, out var function)) return null;
        var kwargs = call.Kwargs.ToDictionary(k => k.Name, k => k.Value);
        // alpha scales the second operand, rounding_mode changes division, inplace writes: not here
        if (kwargs.Keys.Any(k => k is not ("inplace" or "dtype")) || kwargs.TryGetValue("inplace", out var inplace) && inplace is not BoolArg { Value: false })
            return null;
        var args = function == "cast" ? call.Args.Take(1).ToList() : call.Args.ToList();
        if (call.Op.Name == "Tensor.to" && !(call.Args.Count == 2 && call.Args[1] is DTypeArg)) return null; // to(device), to(other)
        if (function == "cast") return operand(args[0]) is { } source ? Cast(source, result) : null;

        var computeType = Comparisons.Contains(function)
            ? args.Select(a => graph.MetaOf(a)).OfType<TensorMeta>().Select(t => t.DType).Aggregate(TypePromotion.Promote)
            : result;
        if (!Supports(computeType) || FloatOnly.Contains(function) && !computeType.IsFloatingPoint()) return null;
        var lowered = new List<KExpr>();
        for (var i = 0; i < args.Count; i++)
        {
            var type = function == "where" && i == 0 ? DType.Bool : computeType;
            KExpr? e = args[i] switch
            {
                IntArg n => new KConst(n.Value, type),
                FloatArg f => new KConst(f.Value, type),
                BoolArg b => new KConst(b.Value ? 1 : 0, type),
                var a => operand(a) is { } loaded ? Cast(loaded, type) : null,
            };
            if (e is null) return null;
            lowered.Add(e);
        }
        return new KCall(function, lowered.ToEquatableList(), Comparisons.Contains(function) ? DType.Bool : result);
    }

    /// <summary>The operand's stride along the domain's innermost dim, broadcast (aligned right: 0 where it has size 1 or no dim).</summary>
    private static long? InnerStride(TensorMeta t, Shape domain)
    {
        if (domain.Rank == 0) return null;
        if (t.Rank == 0 || t.Shape.Dims[^1].Value == 1) return 0;
        return t.Strides is { Count: > 0 } s ? s[^1] : null;
    }

    private static KExpr Cast(KExpr value, DType type) => value.Type == type ? value : new KCast(value, type);
}
