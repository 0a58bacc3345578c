namespace Capture.Graphs;

// Reductions: the gradient is brought back to the input's shape (reduced dims re-inserted and
// expanded); amax/amin and full max/min share it evenly between ties, max/min along a dim give it
// to the index they returned, as torch does.
//   softmax: y * (g - sum(g*y))   log_softmax: g - exp(y) * sum(g)   logsumexp: g * exp(x - y)
public static partial class Derivatives
{
    private static void ReductionRules(Dictionary<OpDef, DerivativeRule> rules)
    {
        Add(rules, (b, c, y, g) =>
        {
            var t = c.Tensor("self");
            return Grads(c, ("self", Unreduce(b, g, Sizes(b, c.Raw("self")), ReducedDims(c, t), c.Bool("keepdim"))));
        }, Ops.Sum);
        Add(rules, (b, c, y, g) =>
        {
            var t = c.Tensor("self");
            var dims = ReducedDims(c, t);
            return Grads(c, ("self", Div(b, Unreduce(b, g, Sizes(b, c.Raw("self")), dims, c.Bool("keepdim")), CountArg(t, dims))));
        }, Ops.Mean);
        Add(rules, (b, c, y, g) => Grads(c, ("self", EvenlyToExtremes(b, c.Raw("self"), c.Op == Ops.Amax, g, ReducedDims(c, c.Tensor("self")), c.Bool("keepdim")))), Ops.Amax, Ops.Amin);
        Add(rules, MaxMinRule, Ops.Max, Ops.Min);
        Add(rules, VarStdRule, Ops.Var, Ops.Std);
        Add(rules, ProdRule, Ops.Prod);
        Add(rules, (b, c, y, g) =>
        {
            var dim = Arg.Ints(c.Int("dim"));
            return Grads(c, (FirstName(c), Mul(b, y, SubT(b, g, F(b, Ops.Sum, Mul(b, g, y), dim, true)))));
        }, Ops.Softmax, Ops.FunctionalSoftmax);
        Add(rules, (b, c, y, g) =>
        {
            var dim = Arg.Ints(c.Int("dim"));
            return Grads(c, (FirstName(c), SubT(b, g, Mul(b, F(b, Ops.Exp, y), F(b, Ops.Sum, g, dim, true)))));
        }, Ops.LogSoftmax, Ops.FunctionalLogSoftmax);
        Add(rules, (b, c, y, g) =>
        {
            var x = c.Raw("self");
            var dims = ReducedDims(c, c.Tensor("self"));
            var keep = c.Bool("keepdim");
            var sizes = Sizes(b, x);
            var yk = Unreduce(b, y, sizes, dims, keep);
            return Grads(c, ("self", Mul(b, Unreduce(b, g, sizes, dims, keep), F(b, Ops.Exp, SubT(b, x, yk)))));
        }, Ops.Logsumexp);
    }

    /// <summary>
    /// g shared evenly between the elements equal to the extreme (amax, amin, full max/min). The
    /// extreme is taken again from x as the backward has it, not the forward's result: where the
    /// partitioner recomputes x, its bits may differ from the forward's by an ulp (another kernel,
    /// another order of summation), and against the forward's extreme no element would be equal
    /// (0/0 gradients).
    /// </summary>
    private static Arg EvenlyToExtremes(GraphBuilder b, Arg x, bool max, Arg g, IReadOnlyList<int> dims, bool keepdim)
    {
        var sizes = Sizes(b, x);
        var extreme = F(b, max ? Ops.Amax : Ops.Amin, x, Arg.Ints(dims.Select(d => (long)d)), keepdim);
        var mask = F(b, Ops.Eq, x, Unreduce(b, extreme, sizes, dims, keepdim));
        var count = F(b, Ops.Sum, mask, Arg.Ints(dims.Select(d => (long)d)), true);
        return Div(b, Mul(b, Unreduce(b, g, sizes, dims, keepdim), mask), count);
    }

    private static IReadOnlyList<Arg?> MaxMinRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var x = c.Raw("self");
        var t = c.Tensor("self");
        if (c.IsNone("dim"))
            return Grads(c, ("self", EvenlyToExtremes(b, x, c.Op == Ops.Max, g, Enumerable.Range(0, t.Rank).ToArray(), false)));
        if (c.IsTensor("dim"))
        {
            // torch.max(a, b) is maximum(a, b)
            var other = c.Raw("dim");
            var tie = F(b, Ops.Eq, x, other);
            var half = Mul(b, g, 0.5);
            var wins = c.Op == Ops.Max ? Ops.Gt : Ops.Lt;
            return Grads(c,
                ("self", Where(b, tie, half, Where(b, F(b, wins, x, other), g, 0.0))),
                ("dim", Where(b, tie, half, Where(b, F(b, wins, other, x), g, 0.0))));
        }
        // along a dim: (values, indices); the values' gradient goes to the returned index only
        var dim = t.Rank == 0 ? 0 : t.Shape.WrapDim(c.Int("dim"), c.Op.Name);
        var gValues = ((ListArg)g).Items[0];
        var sizes = Sizes(b, x);
        if (t.Rank == 0) return Grads(c, ("self", gValues));
        var indices = Unreduce(b, b.Call(Ops.GetItem, y, 1L), sizes, [dim], c.Bool("keepdim"));
        var positions = Reshape(b, F(b, Ops.Arange, Arg.Size(sizes[dim])), sizes.Select((s, d) => d == dim ? s : Dim.Of(1)).ToArray());
        var chosen = F(b, Ops.Eq, positions, indices);
        return Grads(c, ("self", Where(b, chosen, Unreduce(b, gValues, sizes, [dim], c.Bool("keepdim")), 0.0)));
    }

    // var: g * 2 (x - mean) / (N - correction); std: g * (x - mean) / ((N - correction) * y)
    private static IReadOnlyList<Arg?> VarStdRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var x = c.Raw("self");
        var t = c.Tensor("self");
        var dims = ReducedDims(c, t);
        var keep = c.Bool("keepdim");
        var correction = !c.IsNone("correction") ? c.Float("correction") : c.IsNone("unbiased") || c.Bool("unbiased") ? 1.0 : 0.0;
        var n = Count(t, dims) - correction;
        var sizes = Sizes(b, x);
        var centered = SubT(b, x, F(b, Ops.Mean, x, Arg.Ints(dims.Select(d => (long)d)), true));
        var gk = Unreduce(b, g, sizes, dims, keep);
        var grad = c.Op == Ops.Var
            ? Mul(b, gk, Mul(b, centered, 2 / n))
            : Div(b, Mul(b, gk, centered), Mul(b, Unreduce(b, y, sizes, dims, keep), n));
        return Grads(c, ("self", grad));
    }

    // prod: each element takes g times the product of the others: y / x where x != 0; where x = 0,
    // the product of the non-zero others if it is the only zero of its slice, else 0
    private static IReadOnlyList<Arg?> ProdRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var x = c.Raw("self");
        var t = c.Tensor("self");
        var dims = c.IsNone("dim") ? Enumerable.Range(0, t.Rank).ToArray() : [t.Rank == 0 ? 0 : t.Shape.WrapDim(c.Int("dim"), c.Op.Name)];
        var keep = !c.IsNone("dim") && c.Bool("keepdim");
        var sizes = Sizes(b, x);
        var isZero = F(b, Ops.Eq, x, 0L);
        var nonZero = Where(b, isZero, 1.0, x);
        Arg othersProduct, zeroCount;
        if (c.IsNone("dim") || t.Rank == 0)
        {
            othersProduct = F(b, Ops.Prod, nonZero);
            zeroCount = F(b, Ops.Sum, isZero);
        }
        else
        {
            othersProduct = b.Call(Ops.Prod, [nonZero, (long)dims[0], true]);
            zeroCount = F(b, Ops.Sum, isZero, Arg.Ints(dims[0]), true);
        }
        var atZero = Where(b, F(b, Ops.Eq, zeroCount, 1L), othersProduct, 0.0);
        var yk = Unreduce(b, y, sizes, dims, keep);
        var others = Where(b, isZero, atZero, Div(b, yk, Where(b, isZero, 1.0, x)));
        return Grads(c, ("self", Mul(b, Unreduce(b, g, sizes, dims, keep), others)));
    }
}
