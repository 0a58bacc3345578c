using System.Collections.Frozen;

namespace Capture.Graphs;

/// <summary>
/// The derivative rules (vector-Jacobian products) of the registry's ops, as graph-building
/// functions: given the call, its output and the gradient flowing into that output, a rule emits
/// the gradient of each schema parameter (null where a parameter takes none; a list for a Tensor[]
/// parameter). Rules may return a gradient in the broadcast shape or the result's dtype: the joint
/// graph sums it back to the argument's shape and converts it to the argument's dtype. Each op
/// family has its own partial file; composite ops without a rule are differentiated through their
/// registry decomposition. OpRegistry attaches these to <see cref="OpDef.Derivative"/>.
/// </summary>
public static partial class Derivatives
{
    private static readonly FrozenDictionary<OpDef, DerivativeRule> Rules = Build();

    private static FrozenDictionary<OpDef, DerivativeRule> Build()
    {
        var rules = new Dictionary<OpDef, DerivativeRule>();
        PointwiseRules(rules);
        ReductionRules(rules);
        ShapeRules(rules);
        LinearAlgebraRules(rules);
        return rules.ToFrozenDictionary();
    }

    /// <summary>The rule for an op, or null where there is none.</summary>
    public static DerivativeRule? For(OpDef op) => Rules.GetValueOrDefault(op);

    /// <summary>Ops whose results carry no gradient (comparisons, indices, creation): not an omission.</summary>
    /// Backward kernels count among them: a compiled backward is differentiated once (no double backward).
    public static bool IsNonDifferentiable(OpDef op) =>
        op.Category is OpCategory.Creation or OpCategory.GlobalState or OpCategory.Library || NonDifferentiable.Contains(op)
        || op.Name.StartsWith("torch.ops.aten.", StringComparison.Ordinal) && op.Name.EndsWith("_backward", StringComparison.Ordinal);

    private static readonly FrozenSet<OpDef> NonDifferentiable = FrozenSet.ToFrozenSet<OpDef>([
        Ops.Eq, Ops.Ne, Ops.Lt, Ops.Le, Ops.Gt, Ops.Ge, Ops.LogicalAnd, Ops.LogicalOr,
        Ops.LogicalNot, Ops.Argmax, Ops.Argmin, Ops.Any, Ops.All,
        // torch takes the two fused fast paths only with grad off: no graph differentiates them
        Ops.MaxPool2dWithIndices, Ops.TransformerEncoderLayerFwd, Ops.NativeMultiHeadAttention, Ops.Long, Ops.Int, Ops.Bool,
    ]);

    private static void Add(Dictionary<OpDef, DerivativeRule> rules, DerivativeRule rule, params OpDef[] ops)
    {
        foreach (var op in ops) rules.Add(op, rule);
    }

    /// <summary>Gradients by parameter name, laid out in the op's schema order.</summary>
    private static IReadOnlyList<Arg?> Grads(OpCall c, params (string Param, Arg? Grad)[] grads)
    {
        var result = new Arg?[c.Op.Schema.Params.Count];
        foreach (var (param, grad) in grads)
        {
            var index = c.Op.Schema.Params.ToList().FindIndex(p => p.Name == param);
            if (index < 0) throw new InvalidOperationException($"{c.Op.Name} has no parameter '{param}'");
            result[index] = grad;
        }
        return result;
    }

    // Small graph-building helpers: every rule is written with these.
    private static RefArg F(GraphBuilder b, OpDef op, params Arg[] args) => b.Call(op, args);

    private static RefArg M(GraphBuilder b, OpDef method, params Arg[] args) => b.Call(method, args, method: true);

    internal static TensorMeta Meta(GraphBuilder b, Arg arg) =>
        b.MetaOf(arg) as TensorMeta ?? throw new NotSupportedException($"a gradient needs a tensor, got {arg}");

    /// <summary>A value's sizes (symbolic ones as they are: rules build their ops with them as size arguments).</summary>
    private static IReadOnlyList<Dim> Sizes(GraphBuilder b, Arg arg) => Meta(b, arg).Shape.Dims;

    private static RefArg Mul(GraphBuilder b, Arg x, Arg y) => F(b, Ops.Mul, x, y);
    private static RefArg Div(GraphBuilder b, Arg x, Arg y) => F(b, Ops.Div, x, y);
    private static RefArg AddT(GraphBuilder b, Arg x, Arg y) => F(b, Ops.Add, x, y);
    private static RefArg SubT(GraphBuilder b, Arg x, Arg y) => F(b, Ops.Sub, x, y);
    private static RefArg Neg(GraphBuilder b, Arg x) => F(b, Ops.Neg, x);

    /// <summary>1 - x, written tensor first (torch.sub takes no number first).</summary>
    private static RefArg OneMinus(GraphBuilder b, Arg x) => AddT(b, Neg(b, x), 1.0);

    private static RefArg Where(GraphBuilder b, Arg condition, Arg x, Arg y) => F(b, Ops.Where, condition, x, y);

    private static RefArg ZerosLike(GraphBuilder b, Arg x) => F(b, Ops.ZerosLike, x);

    /// <summary>x reshaped to sizes (x itself when it already has them).</summary>
    internal static Arg Reshape(GraphBuilder b, Arg x, IReadOnlyList<Dim> sizes) =>
        Sizes(b, x).SequenceEqual(sizes) ? x : F(b, Ops.Reshape, x, Arg.Sizes(sizes));

    /// <summary>Sums a broadcast gradient back to <paramref name="sizes"/> (torch's sum_to).</summary>
    internal static Arg SumTo(GraphBuilder b, Arg grad, IReadOnlyList<Dim> sizes)
    {
        var have = Sizes(b, grad);
        if (have.SequenceEqual(sizes)) return grad;
        var leading = have.Count - sizes.Count;
        if (leading < 0) throw new NotSupportedException($"a gradient of shape [{string.Join(", ", have)}] cannot be summed to [{string.Join(", ", sizes)}]");
        var dims = Enumerable.Range(0, have.Count).Where(d => d < leading || Graphs.Sizes.IsOne(sizes[d - leading]) && !Graphs.Sizes.IsOne(have[d])).Select(d => (long)d).ToList();
        Arg summed = dims.Count == 0 ? grad : F(b, Ops.Sum, grad, Arg.Ints(dims), true);
        return Reshape(b, summed, sizes);
    }

    /// <summary>A reduced gradient brought back to the input's shape: reduced dims re-inserted, then expanded.</summary>
    private static Arg Unreduce(GraphBuilder b, Arg grad, IReadOnlyList<Dim> inputSizes, IReadOnlyList<int> dims, bool keepdim)
    {
        var g = grad;
        if (!keepdim)
            g = Reshape(b, g, inputSizes.Select((s, d) => dims.Contains(d) ? Dim.Of(1) : s).ToArray());
        return Sizes(b, g).SequenceEqual(inputSizes) ? g : M(b, Ops.Expand, g, Arg.Sizes(inputSizes));
    }

    /// <summary>The dims a reduction's dim argument names (None or [] for all), wrapped.</summary>
    private static int[] ReducedDims(OpCall c, TensorMeta t, string param = "dim")
    {
        var dims = c.IsNone(param) ? [] : c.Ints(param);
        return dims.Count == 0
            ? Enumerable.Range(0, t.Rank).ToArray()
            : dims.Select(d => t.Rank == 0 ? 0 : t.Shape.WrapDim(d, c.Op.Name)).Distinct().ToArray();
    }

    private static long Count(TensorMeta t, IReadOnlyList<int> dims) =>
        t.Rank == 0 ? 1 : dims.Aggregate(1L, (n, d) => n * t.Shape[d].Concrete("a derivative rule"));

    /// <summary>The number of elements a reduction over <paramref name="dims"/> reduces, as a divisor: a float, or a size argument when dynamic.</summary>
    private static Arg CountArg(TensorMeta t, IReadOnlyList<int> dims)
    {
        var count = t.Rank == 0 ? Dim.Of(1) : Dim.Product(dims.Select(d => t.Shape[d]));
        return count.Value is { } n ? (double)n : Arg.Size(count);
    }
}
