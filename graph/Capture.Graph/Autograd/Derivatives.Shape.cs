namespace Capture.Graphs;

// Views, indexing, joining and reordering: the gradient is the inverse movement of g (reshape
// back, inverse permutation, the slice scattered back into zeros, the pieces of a cat narrowed out).
public static partial class Derivatives
{
    private static void ShapeRules(Dictionary<OpDef, DerivativeRule> rules)
    {
        Add(rules, (b, c, y, g) => Grads(c, ("self", Reshape(b, g, Sizes(b, c.Raw("self"))))),
            Ops.View, Ops.Reshape, Ops.Flatten, Ops.Unflatten, Ops.Squeeze, Ops.Unsqueeze, Ops.Contiguous);
        Add(rules, (b, c, y, g) =>
        {
            var t = c.Tensor("self");
            var dims = c.Ints("dims").Select(d => t.Shape.WrapDim(d, c.Op.Name)).ToArray();
            var inverse = new long[dims.Length];
            for (var i = 0; i < dims.Length; i++) inverse[dims[i]] = i;
            return Grads(c, ("self", F(b, Ops.Permute, g, Arg.Ints(inverse))));
        }, Ops.Permute);
        Add(rules, (b, c, y, g) => Grads(c, ("self", F(b, Ops.Transpose, g, c.Raw("dim0"), c.Raw("dim1")))), Ops.Transpose);
        Add(rules, (b, c, y, g) => Grads(c, ("self", F(b, Ops.T, g))), Ops.T);
        // expand: the joint graph sums the broadcast gradient back to the input's shape
        Add(rules, (b, c, y, g) => Grads(c, ("self", g)), Ops.Expand);
        Add(rules, GetItemRule, Ops.GetItem);
        Add(rules, (b, c, y, g) =>
        {
            var sizes = Sizes(b, c.Raw("self"));
            var dim = c.Tensor("self").Shape.WrapDim(c.Int("dim"), c.Op.Name);
            var start = c.Raw("start") is SizeArg symbolic ? Dim.Of(symbolic.Value)
                : c.Int("start") is var v && v < 0 ? sizes[dim] - Dim.Of(-v) : Dim.Of(v);
            return Grads(c, ("self", F(b, Ops.SliceBackward, g, Arg.Sizes(sizes), (long)dim, Arg.Size(start), Arg.Size(start + c.Size("length")), 1L)));
        }, Ops.Narrow);
        Add(rules, (b, c, y, g) => Grads(c, ("self", F(b, Ops.Cat, g, c.Raw("dim")))), Ops.Chunk, Ops.Split);
        Add(rules, (b, c, y, g) => Grads(c, ("self", F(b, Ops.Stack, g, c.Raw("dim")))), Ops.Unbind);
        Add(rules, CatRule, Ops.Cat);
        Add(rules, (b, c, y, g) =>
        {
            var parts = F(b, Ops.Unbind, g, c.Raw("dim"));
            var count = ((ListArg)c.Raw("tensors")).Items.Count;
            return Grads(c, ("tensors", new ListArg(Enumerable.Range(0, count).Select(i => (Arg)b.Call(Ops.GetItem, parts, (long)i)).ToEquatableList())));
        }, Ops.Stack);
        Add(rules, RepeatRule, Ops.Repeat);
        Add(rules, (b, c, y, g) => Grads(c, ("self", F(b, Ops.Flip, g, c.Raw("dims")))), Ops.Flip);
        Add(rules, (b, c, y, g) => Grads(c, ("self", F(b, Ops.Roll, g, Arg.Ints(c.Ints("shifts").Select(s => -s)), c.Raw("dims")))), Ops.Roll);
        // dropout has no rule: the joint graph decomposes it (a bernoulli mask, saved for the backward)
        Add(rules, (b, c, y, g) =>
        {
            if (!c.IsNone("max_norm")) throw new NotSupportedException("embedding(max_norm=...) renormalizes the weight in place");
            var weight = Sizes(b, c.Raw("weight"));
            return Grads(c, ("weight", F(b, Ops.EmbeddingDenseBackward, g, c.Raw("input"), Arg.Size(weight[0]),
                c.OptInt("padding_idx") is { } p ? (p < 0 ? Arg.Size(weight[0] - Dim.Of(-p)) : p) : -1L, c.Raw("scale_grad_by_freq"))));
        }, Ops.Embedding);
    }

    // x[i, a:b, None, ...]: each index step is replayed on the shape, then undone in reverse order
    // (select_backward, slice_backward, squeeze)
    private static IReadOnlyList<Arg?> GetItemRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var t = c.Tensor("self");
        var index = c.Raw("index") is ListArg { IsTuple: true } l ? l.Items.ToList() : [c.Raw("index")];
        var sizes = Sizes(b, c.Raw("self")).ToList();
        var steps = new List<(List<Dim> Before, Func<Arg, Arg> Undo)>();
        foreach (var (item, at) in OpRegistry.WalkIndex(index, t.Rank))
        {
            var before = sizes.ToList();
            switch (item)
            {
                case NoneArg:
                    sizes.Insert(at, Dim.Of(1));
                    steps.Add((before, grad => F(b, Ops.Squeeze, grad, (long)at)));
                    break;
                case IntArg { Value: var i }:
                    sizes.RemoveAt(at);
                    steps.Add((before, grad => F(b, Ops.SelectBackward, grad, Arg.Sizes(before), (long)at, i < 0 ? Arg.Size(before[at] - Dim.Of(-i)) : i)));
                    break;
                case SliceArg s:
                    var (start, stop, step) = OpRegistry.SliceBounds(s, before[at]);
                    stop = Graphs.Sizes.Max(start, stop, "the gradient of a slice");
                    sizes[at] = Dim.FloorDiv(stop - start + Dim.Of(step - 1), Dim.Of(step));
                    steps.Add((before, grad => F(b, Ops.SliceBackward, grad, Arg.Sizes(before), (long)at, Arg.Size(start), Arg.Size(stop), step)));
                    break;
                default:
                    throw new NotSupportedException($"the gradient of indexing with {item}");
            }
        }
        var result = g;
        for (var i = steps.Count - 1; i >= 0; i--) result = steps[i].Undo(result);
        return Grads(c, ("self", result));
    }

    private static IReadOnlyList<Arg?> CatRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var tensors = ((ListArg)c.Raw("tensors")).Items;
        var rank = Meta(b, y).Rank;
        var dim = Meta(b, y).Shape.WrapDim(c.Int("dim"), c.Op.Name);
        var offset = Dim.Of(0);
        var grads = new List<Arg>();
        foreach (var tensor in tensors)
        {
            var sizes = Sizes(b, tensor);
            if (sizes.Count != rank) { grads.Add(ZerosLike(b, tensor)); continue; } // legacy empty [0] inputs take no part
            grads.Add(F(b, Ops.Narrow, g, (long)dim, Arg.Size(offset), Arg.Size(sizes[dim])));
            offset += sizes[dim];
        }
        return Grads(c, ("tensors", new ListArg(grads.ToEquatableList())));
    }

    // x.repeat(r0, r1, ...): g viewed as [r0, s0, r1, s1, ...] and summed over the r's
    private static IReadOnlyList<Arg?> RepeatRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var repeats = c.Ints("repeats");
        var sizes = Sizes(b, c.Raw("self"));
        var padded = Enumerable.Repeat(Dim.Of(1), repeats.Count - sizes.Count).Concat(sizes).ToArray();
        var split = repeats.Zip(padded).SelectMany(p => new[] { Dim.Of(p.First), p.Second }).ToArray();
        var summed = F(b, Ops.Sum, Reshape(b, g, split), Arg.Ints(Enumerable.Range(0, repeats.Count).Select(i => 2L * i)));
        return Grads(c, ("self", Reshape(b, summed, sizes)));
    }
}
