namespace Capture.Graphs;

// Algebraic simplification: a table of rewrite rules, one per line with its algebra, applied to a
// fixpoint. A rule sees one pure call (its arguments already rewritten) and gives a simpler value:
// an existing one, or new nodes made through the builder. Every rewrite must leave the value's
// metadata exactly as it was (shape, dtype, strides, requires_grad), so `x * 1` on an int tensor
// (a float result) stays. A rule that answers with an existing value makes the result alias it:
// for ops that are not views that is only done in graphs without writes, and never for a value
// the graph returns (the caller may rely on getting a new tensor).
//   before: a = torch.mul(x, 1); b = torch.pow(a, 2)      after: b = torch.mul(x, x)
//
// Left out on purpose, because they change results in floating point: exp(log(x)) -> x (x < 0 gives
// nan, not x), log(exp(x)) -> x (overflow), x - x -> 0 (inf and nan give nan).
public sealed class SimplifyAlgebraPass : IGraphPass
{
    private const int MaxSweeps = 8;

    public string Name => "simplify algebra";

    private delegate Arg? Rewrite(CallOp call, RuleContext r);

    // Rules marked `Aliases` may answer with a view of x where the old value was a copy (a reshape
    // that copied): like identities on ops that are not views, they wait for a graph without writes.
    private const bool Aliases = true;

    private static readonly (string Algebra, OpDef Op, Rewrite Apply, bool MayAlias)[] Rules =
    [
        ("x * 1 -> x",                                   Ops.Mul,        (c, r) => r.Is(c, 1, 1) ? c.Args[0] : r.Is(c, 0, 1) ? c.Args[1] : null, false),
        ("x + 0 -> x",                                   Ops.Add,        (c, r) => c.Kwargs.Count > 0 ? null : r.Is(c, 1, 0) ? c.Args[0] : r.Is(c, 0, 0) ? c.Args[1] : null, false),
        ("x - 0 -> x",                                   Ops.Sub,        (c, r) => c.Kwargs.Count == 0 && r.Is(c, 1, 0) ? c.Args[0] : null, false),
        ("x / 1 -> x",                                   Ops.Div,        (c, r) => c.Kwargs.Count == 0 && r.Is(c, 1, 1) ? c.Args[0] : null, false),
        ("x / 2^k -> x * 2^-k   (exact: both round x * 2^-k once)", Ops.Div,        (c, r) => c.Kwargs.Count == 0 && c.Args.Count == 2 && Reciprocal(c.Args[1]) is { } inverse ? r.B.Call(Ops.Mul, c.Args[0], inverse) : null, false),
        ("-(-x) -> x",                                   Ops.Neg,        (c, r) => r.Producer(c.Args[0], Ops.Neg) is { } inner ? inner.Args[0] : null, false),
        ("x ** 1 -> x",                                  Ops.Pow,        (c, r) => r.Is(c, 1, 1) ? c.Args[0] : null, false),
        ("x ** 2 -> x * x   (torch's pow kernel does the same)", Ops.Pow,        (c, r) => r.Is(c, 1, 2) ? r.B.Call(Ops.Mul, c.Args[0], c.Args[0]) : null, false),
        ("x ** 0.5 -> sqrt(x)   (so does torch's pow kernel)",   Ops.Pow,        (c, r) => r.Is(c, 1, 0.5) ? r.B.Call(Ops.Sqrt, c.Args[0]) : null, false),
        ("transpose(transpose(x, a, b), a, b) -> x",     Ops.Transpose,  (c, r) => r.Producer(c.Args[0], Ops.Transpose) is { } inner && SameDims(inner, c) ? inner.Args[0] : null, false),
        ("t(t(x)) -> x",                                 Ops.T,          (c, r) => r.Producer(c.Args[0], Ops.T) is { } inner ? inner.Args[0] : null, false),
        ("view(view(x, s1), s2) -> view(x, s2)",         Ops.View,       (c, r) => r.Producer(c.Args[0], Ops.View) is { } inner ? r.Again(c, inner.Args[0]) : null, false),
        ("reshape(reshape(x, s1), s2) -> reshape(x, s2)", Ops.Reshape,    (c, r) => r.Producer(c.Args[0], Ops.Reshape) is { } inner ? r.Again(c, inner.Args[0]) : null, Aliases),
        ("view(reshape(x, s1), s2) -> view(x, s2)   (when x views as s2)", Ops.View,       (c, r) => r.Producer(c.Args[0], Ops.Reshape) is { } inner ? r.Again(c, inner.Args[0]) : null, Aliases),
        ("reshape(view(x, s1), s2) -> reshape(x, s2)",   Ops.Reshape,    (c, r) => r.Producer(c.Args[0], Ops.View) is { } inner ? r.Again(c, inner.Args[0]) : null, Aliases),
        ("view(x, x.shape) -> x",                        Ops.View,       (c, r) => r.SameAsInput(c), false),
        ("reshape(x, x.shape) -> x",                     Ops.Reshape,    (c, r) => r.SameAsInput(c), Aliases),
        ("expand(x, x.shape) -> x",                      Ops.Expand,     (c, r) => r.SameAsInput(c), false),
        ("contiguous(x) -> x   (x already contiguous)",  Ops.Contiguous, (c, r) => r.SameAsInput(c), false),
        ("squeeze(unsqueeze(x, d), d) -> x",             Ops.Squeeze,    (c, r) => r.Producer(c.Args[0], Ops.Unsqueeze) is { } inner && c.Args.Count == 2 && inner.Args[1].Equals(c.Args[1]) ? inner.Args[0] : null, false),
        // and, outside this table (dropout is not pure): dropout(x, training=False) -> x, dropout(x, 0) -> x
        ("cat([x]) -> x",                                Ops.Cat,        (c, r) => c.Args[0] is ListArg { Items: [var only] } ? only : null, false),
    ];

    /// <summary>1/v as a float constant when v is a power of two other than 1 (so that 1/v is exact); else null.</summary>
    private static Arg? Reciprocal(Arg divisor)
    {
        double v = divisor switch { IntArg i => i.Value, FloatArg f => f.Value, _ => 0 };
        if (v == 0 || Math.Abs(v) == 1 || !double.IsFinite(v)) return null;
        var exponent = Math.Log2(Math.Abs(v));
        if (exponent != Math.Round(exponent) || Math.Abs(exponent) > 100) return null;
        return new FloatArg(1 / v);
    }

    private static bool SameDims(CallOp a, CallOp b) =>
        a.Args.Count == 3 && b.Args.Count == 3 && (a.Args[1].Equals(b.Args[1]) && a.Args[2].Equals(b.Args[2]) || a.Args[1].Equals(b.Args[2]) && a.Args[2].Equals(b.Args[1]));

    public PassResult Run(Graph graph, PassContext context)
    {
        int added = 0, rewritten = 0;
        for (var sweep = 0; sweep < MaxSweeps; sweep++)
        {
            var (next, a, w) = Sweep(graph);
            if (w == 0) break;
            (graph, added, rewritten) = (next, added + a, rewritten + w);
        }
        return new PassResult(graph, Added: added, Rewritten: rewritten);
    }

    private static (Graph Graph, int Added, int Rewritten) Sweep(Graph graph)
    {
        var builder = new GraphBuilder();
        builder.Reserve(graph.Nodes.Select(n => n.Name));
        var returned = graph.Output.Inputs.ToHashSet();
        var writes = graph.Nodes.OfType<CallOp>().Any(c => c.Op.IsInPlace);
        var context = new RuleContext(builder);
        var renames = new Dictionary<string, string>();
        int added = 0, rewritten = 0;
        foreach (var original in graph.Nodes.Where(n => n is not Output))
        {
            var node = original.Rename(n => renames.GetValueOrDefault(n, n));
            if (node is CallOp dropout && InertDropout(dropout, builder) is { } input)
            {
                renames[dropout.Name] = input;
                rewritten++;
                continue;
            }
            if (node is CallOp call && OpEffects.IsPure(call.Op) && Simplify(call, context, returned.Contains(original.Name), writes) is { } simpler)
            {
                renames[call.Name] = simpler.Replacement;
                added += simpler.Added;
                rewritten++;
                continue;
            }
            builder.Add(node);
            if (node is CallOp made) context.Producers[made.Name] = made;
        }
        return (Rebuilt.WithOutput(builder, graph, renames), added, rewritten);
    }

    /// <summary>
    /// dropout(x, p, training=False) and dropout(x, 0, ...) -> x: what torch returns then is x itself
    /// (the same tensor, so the alias is eager's too). Null for any other call.
    /// </summary>
    private static string? InertDropout(CallOp call, GraphBuilder builder)
    {
        if (call.Op != Ops.Dropout) return null;
        var bound = OpCall.Bind(call.Op, call.Args, call.Kwargs, builder.MetaOf);
        var inert = !bound.Bool("training") || bound.Float("p") == 0;
        return inert && !bound.Bool("inplace") && bound.Raw("input") is RefArg x && builder.MetaOf(x).Equals(call.Meta) ? x.Name : null;
    }

    private static (string Replacement, int Added)? Simplify(CallOp call, RuleContext context, bool returned, bool graphWrites)
    {
        foreach (var (_, op, apply, mayAlias) in Rules)
        {
            if (op != call.Op) continue;
            var mark = context.B.Mark();
            context.B.Source = call.Source; // new nodes keep the user's line
            Arg? result;
            try { result = apply(call, context); }
            catch (ShapeError) { result = null; }
            var made = context.B.Mark() - mark;
            var existing = made == 0;
            var aliasSafe = !(mayAlias || existing && call.Op.Category != OpCategory.View) || !returned && !graphWrites;
            if (result is RefArg r && aliasSafe && context.B.MetaOf(r).Equals(call.Meta))
                return (r.Name, made);
            context.B.Truncate(mark);
        }
        return null;
    }

    /// <summary>What rules may use: the builder for new nodes, and who made each value so far.</summary>
    private sealed class RuleContext(GraphBuilder builder)
    {
        public GraphBuilder B { get; } = builder;
        public Dictionary<string, CallOp> Producers { get; } = [];

        /// <summary>Argument <paramref name="index"/> is the number <paramref name="value"/> (int or float).</summary>
        public bool Is(CallOp c, int index, double value) => c.Args.Count > index && c.Args[index] switch
        {
            IntArg i => i.Value == value,
            FloatArg f => f.Value == value,
            _ => false,
        };

        /// <summary>The call of <paramref name="op"/> that made <paramref name="arg"/>, if one did.</summary>
        public CallOp? Producer(Arg arg, OpDef op) =>
            arg is RefArg r && Producers.TryGetValue(r.Name, out var p) && p.Op == op ? p : null;

        /// <summary>The same call on another self argument (view of a view is a view of the base).</summary>
        public Arg Again(CallOp c, Arg self) => B.Call(c.Op, [self, .. c.Args.Skip(1)], c.Kwargs, method: c.IsMethod);

        /// <summary>The input itself, when the call changes nothing about it (its metadata is checked by the pass).</summary>
        public Arg? SameAsInput(CallOp c) => c.Args[0] is RefArg r && B.MetaOf(r).Equals(c.Meta) ? r : null;
    }
}
