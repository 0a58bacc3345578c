namespace Capture.Graphs;

// Indexing (x[...] with ints, slices, None, ...), narrowing, splitting, joining and reordering.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> IndexingOps()
    {
        yield return Def("operator.getitem", "Any self, Any index", OpCategory.View, GetItem);
        yield return Def("torch.narrow", "Tensor self, int dim, int start, int length", OpCategory.View, Narrow, "narrow");
        yield return Def("torch.chunk", "Tensor self, int chunks, int dim=0", OpCategory.View, Chunk, "chunk");
        yield return Def("torch.split", "Tensor self, Any split_size_or_sections, int dim=0", OpCategory.View, Split, "split");
        yield return new OpDef
        {
            Name = "operator.setitem",
            Schema = Schema.Parse("Tensor self, Any index, Any value"),
            Category = OpCategory.Pointwise,
            MutatedArg = 0,
            Rule = SetItem,
            Note = "x[index] = value: writes into x (the indexed view of it), returns None",
        };
        yield return Def("torch.unbind", "Tensor self, int dim=0", OpCategory.View, Unbind, "unbind");
        yield return Def("torch.cat", "Tensor[] tensors, int dim=0", OpCategory.Pointwise, Cat);
        yield return Def("torch.stack", "Tensor[] tensors, int dim=0", OpCategory.Pointwise, Stack);
        yield return Method("repeat", "Tensor self, int... repeats", OpCategory.Pointwise, Repeat);
        yield return Def("torch.flip", "Tensor self, int... dims", OpCategory.Pointwise, Flip, "flip");
        yield return Def("torch.roll", "Tensor self, int[] shifts, int[] dims=[]", OpCategory.Pointwise, Roll, "roll");
    }

    // x[index] = value: the value broadcasts to the indexed view's shape; any dtype casts (copy_)
    private static ValueMeta SetItem(OpCall c)
    {
        var target = (TensorMeta)c.Bind(Ops.GetItem, [c.Raw("self"), c.Raw("index")]).Infer();
        switch (c.MetaOf(c.Raw("value")))
        {
            case TensorMeta v:
                var shape = Broadcasting.Broadcast("setitem", v.Shape, target.Shape);
                if (shape != target.Shape)
                    throw c.Error($"shape mismatch: value tensor of shape {v.Shape} cannot be broadcast to indexing result of shape {target.Shape}");
                break;
            case null when c.Raw("value") is IntArg or FloatArg or BoolArg:
                break;
            default:
                throw new NotSupportedException($"setitem with a {c.Raw("value")} value");
        }
        return NoneMeta.Instance;
    }

    // unbind: one view per index along dim, that dim removed (select's strides)
    private static ValueMeta Unbind(OpCall c)
    {
        var t = c.Tensor("self");
        var dim = c.Dim(t, c.Int("dim"));
        var count = Sizes.Value(t.Shape[dim], "unbind: as many tensors as the size");
        var keep = Enumerable.Range(0, t.Rank).Where(d => d != dim).ToList();
        var view = c.View(t, Shape.Of(keep.Select(d => t.Shape[d])), t.StrideDims is { } s ? keep.Select(d => s[d]).ToArray() : null);
        return new TupleMeta(Enumerable.Repeat((ValueMeta)view, (int)count).ToEquatableList());
    }

    private static ValueMeta GetItem(OpCall c)
    {
        if (c.MetaOf(c.Raw("self")) is TupleMeta tuple)
        {
            var i = c.Int("index");
            if (i < -tuple.Items.Count || i >= tuple.Items.Count) throw c.Error("tuple index out of range");
            return tuple.Items[(int)(i < 0 ? i + tuple.Items.Count : i)];
        }
        var t = c.Tensor("self");
        var index = c.Raw("index") is ListArg { IsTuple: true } l ? l.Items.ToList() : [c.Raw("index")];
        foreach (var item in index.Where(i => i is RefArg or ListArg or BoolArg))
            throw new NotSupportedException($"indexing with {(item is RefArg ? "a tensor" : item is BoolArg ? "a bool" : "a list")} (advanced indexing) is not supported yet: index with ints, slices, None and ...");
        if (index.Count(i => i is IntArg or SliceArg) > t.Rank) throw c.Error($"too many indices for tensor of dimension {t.Rank}");
        var sizes = t.Shape.Dims.ToList();
        var strides = (t.StrideDims ?? throw new NotSupportedException("indexing a tensor whose strides are not known")).ToList();
        foreach (var (item, dim) in WalkIndex(index, t.Rank))
        {
            switch (item)
            {
                case NoneArg:
                    strides.Insert(dim, dim < sizes.Count ? sizes[dim] * strides[dim] : Dim.Of(1));
                    sizes.Insert(dim, Dim.Of(1));
                    break;
                case IntArg { Value: var i }:
                    var inside = i >= 0
                        ? Sizes.Compare(Dim.Of(i), SizeComparison.Lt, sizes[dim], "indexing: an index within the size")
                        : Sizes.Compare(Dim.Of(-i), SizeComparison.Le, sizes[dim], "indexing: an index within the size");
                    if (!inside) throw c.Error($"index {i} is out of bounds for dimension {dim} with size {sizes[dim]}");
                    sizes.RemoveAt(dim);
                    strides.RemoveAt(dim);
                    break;
                case SliceArg s:
                    var (length, step) = SliceLength(c, s, sizes[dim]);
                    sizes[dim] = length;
                    strides[dim] *= Dim.Of(step);
                    break;
                default:
                    throw c.Error($"invalid index {item}");
            }
        }
        return c.View(t, Shape.Of(sizes), strides);
    }

    /// <summary>
    /// ATen's applySlicing: a pointer walks the dims of the result; `...` moves it past the dims no
    /// other index names (a second `...` moves it again), an int removes the dim under it, a slice
    /// keeps it, None adds one. Yields every item but `...` with the dim it applies to.
    /// </summary>
    internal static IEnumerable<(Arg Item, int Dim)> WalkIndex(IReadOnlyList<Arg> index, int rank)
    {
        var specified = index.Count(i => i is IntArg or SliceArg);
        var dim = 0;
        foreach (var item in index)
        {
            if (item is EllipsisArg)
            {
                dim += rank - specified;
                continue;
            }
            yield return (item, dim);
            if (item is not IntArg) dim++;
        }
    }

    /// <summary>Python's slice.indices for a positive step; torch rejects other steps.</summary>
    private static (Dim Length, long Step) SliceLength(OpCall c, SliceArg s, Dim size)
    {
        var (start, stop, step) = SliceBounds(s, size);
        if (step <= 0) throw c.Error("step must be greater than zero (negative slice steps are not supported by torch: use torch.flip)");
        return (Sizes.Compare(stop, SizeComparison.Le, start, "slicing: an empty slice") ? Dim.Of(0) : Dim.FloorDiv(stop - start + Dim.Of(step - 1), Dim.Of(step)), step);
    }

    /// <summary>A slice's start, stop and step over a dim of <paramref name="size"/>, bounds clamped as Python's slice.indices.</summary>
    internal static (long Start, long Stop, long Step) SliceBounds(SliceArg s, long size)
    {
        var (start, stop, step) = SliceBounds(s, Dim.Of(size));
        return (start.Value!.Value, stop.Value!.Value, step);
    }

    /// <summary>
    /// <see cref="SliceBounds(SliceArg, long)"/> over a size that may be symbolic, with bounds that may
    /// be symbolic sizes (<c>x[:T]</c>): clamping compares them (a guard such as <c>s0 &lt;= 64</c>).
    /// </summary>
    internal static (Dim Start, Dim Stop, long Step) SliceBounds(SliceArg s, Dim size)
    {
        const string why = "slicing: a bound clamped to the size";
        Dim Bound(Arg a, Dim fallback) => a switch
        {
            NoneArg => fallback,
            IntArg { Value: >= 0 and var v } => Sizes.Min(Dim.Of(v), size, why),
            IntArg { Value: var v } => Sizes.Compare(Dim.Of(-v), SizeComparison.Ge, size, why) ? Dim.Of(0) : size - Dim.Of(-v),
            SizeArg { Value: var e } => Sizes.Min(Dim.Of(e), size, why),
            _ => throw new NotSupportedException($"slicing with a non-constant bound ({a}) is not supported yet"),
        };
        var step = s.Step switch
        {
            NoneArg => 1,
            IntArg { Value: var v } => v,
            _ => throw new NotSupportedException($"slicing with a non-constant step ({s.Step}) is not supported yet"),
        };
        return (Bound(s.Start, Dim.Of(0)), Bound(s.Stop, size), step);
    }

    private static TensorMeta Slice(OpCall c, TensorMeta t, int dim, Dim length)
    {
        var dims = t.Shape.Dims.ToArray();
        dims[dim] = length;
        return c.View(t, Shape.Of(dims), t.StrideDims);
    }

    private static ValueMeta Narrow(OpCall c)
    {
        var t = c.Tensor("self");
        if (t.Rank == 0) throw c.Error("narrow() cannot be applied to a 0-dim tensor.");
        var dim = c.Dim(t, c.Int("dim"));
        var size = t.Shape[dim];
        var length = c.Size("length");
        const string why = "narrow: start and length within the size";
        Dim from;
        if (c.Raw("start") is SizeArg symbolic) from = Dim.Of(symbolic.Value); // a start computed from a dynamic size (x[:, [-1]])
        else
        {
            var start = c.Int("start");
            if (start < 0 ? Sizes.Compare(Dim.Of(-start), SizeComparison.Gt, size, why) : Sizes.Compare(Dim.Of(start), SizeComparison.Gt, size, why))
                throw c.Error($"start out of range (expected to be in range of [-{size}, {size}], but got {start})");
            from = start < 0 ? size - Dim.Of(-start) : Dim.Of(start);
        }
        if (Sizes.Compare(from + length, SizeComparison.Gt, size, why)) throw c.Error($"start ({from}) + length ({length}) exceeds dimension size ({size}).");
        return Slice(c, t, dim, length);
    }

    private static ValueMeta Pieces(OpCall c, TensorMeta t, int dim, IEnumerable<Dim> lengths) =>
        new TupleMeta(lengths.Select(n => (ValueMeta)Slice(c, t, dim, n)).ToEquatableList());

    private static ValueMeta Chunk(OpCall c)
    {
        var t = c.Tensor("self");
        if (t.Rank == 0) throw c.Error("chunk expects at least a 1-dimensional tensor");
        var chunks = c.Int("chunks");
        if (chunks <= 0) throw c.Error($"chunk expects `chunks` to be greater than 0, got: {chunks}");
        var dim = c.Dim(t, c.Int("dim"));
        var size = t.Shape[dim];
        if (size.Value == 0) return Pieces(c, t, dim, Enumerable.Repeat(Dim.Of(0), (int)chunks));
        return Pieces(c, t, dim, SplitLengths(c, size, Dim.FloorDiv(size + Dim.Of(chunks - 1), Dim.Of(chunks))));
    }

    /// <summary>
    /// The lengths of the pieces of a split: full pieces, then what is left. The number of pieces
    /// must be known: with symbolic sizes it is decided from the call's values, and guarded.
    /// </summary>
    private static IEnumerable<Dim> SplitLengths(OpCall c, Dim size, Dim splitSize)
    {
        const string why = "split: the number of pieces";
        var lengths = new List<Dim>();
        var offset = Dim.Of(0);
        do
        {
            var rest = size - offset;
            if (Sizes.Compare(rest, SizeComparison.Le, splitSize, why)) { lengths.Add(rest); break; }
            lengths.Add(splitSize);
            offset += splitSize;
            if (lengths.Count > 1 << 16) throw new NotSupportedException($"{c.Op.Name}: more than {1 << 16} pieces");
        }
        while (true);
        return lengths;
    }

    private static ValueMeta Split(OpCall c)
    {
        var t = c.Tensor("self");
        if (t.Rank == 0) throw c.Error("split expects at least a 1-dimensional tensor");
        var dim = c.Dim(t, c.Int("dim"));
        var size = t.Shape[dim];
        if (c.Raw("split_size_or_sections") is IntArg or SizeArg)
        {
            var splitSize = c.SizesOrInts("split_size_or_sections")[0];
            if (splitSize.Int < 0) throw c.Error($"split expects split_size be non-negative, but got split_size={splitSize.Int}");
            if (splitSize.Int == 0 && size.Value != 0) throw c.Error($"split_size can only be 0 if dimension size is 0, but got dimension size of {size}");
            return Pieces(c, t, dim, splitSize.Int == 0 ? [Dim.Of(0)] : size.Value == 0 ? [size] : SplitLengths(c, size, splitSize.AsDim));
        }
        var sections = c.SizesOrInts("split_size_or_sections");
        if (sections.Any(s => s.Int < 0) || !Sizes.Equal(sections.Aggregate(Dim.Of(0), (n, s) => n + s.AsDim), size, "split: the sections' sum"))
            throw c.Error($"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size at dimension {dim}), but got split_sizes=[{string.Join(", ", sections.Select(s => s.Size?.ToString() ?? s.Int.ToString()))}]");
        return Pieces(c, t, dim, sections.Select(s => s.AsDim));
    }

    private static ValueMeta Cat(OpCall c)
    {
        var all = c.Tensors("tensors");
        if (all.Count == 0) throw c.Error("torch.cat(): expected a non-empty list of Tensors");
        // Legacy behaviour torch keeps: 1-D empty tensors are skipped whatever the others' shape.
        var tensors = all.Where(t => !(t.Rank == 1 && t.Shape[0].Value == 0)).ToList();
        var dtype = TypePromotion.ResultType(all.Select(t => (Operand)new Operand.Tensor(t)));
        if (tensors.Count == 0) return c.Result(all[0].Shape, dtype);
        var first = tensors[0];
        if (first.Rank == 0) throw c.Error("zero-dimensional tensor (at position 0) cannot be concatenated");
        var dim = c.Dim(first, c.Int("dim"));
        var total = Dim.Of(0);
        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            if (t.Rank != first.Rank)
                throw c.Error($"Tensors must have same number of dimensions: got {first.Rank} and {t.Rank}");
            for (var d = 0; d < t.Rank; d++)
                if (d != dim && !Sizes.Equal(t.Shape[d], first.Shape[d], "cat: sizes outside the dim"))
                    throw c.Error($"Sizes of tensors must match except in dimension {dim}. Expected size {first.Shape[d]} but got size {t.Shape[d]} for tensor number {all.ToList().IndexOf(t)} in the list.");
            total += t.Shape[dim];
        }
        var dims = first.Shape.Dims.ToArray();
        dims[dim] = total;
        // torch keeps the inputs' memory format when they all share it (channels-last feature maps)
        var result = c.Result(Shape.Of(dims), dtype);
        return tensors.All(Layout.SuggestsChannelsLast) ? Layout.FollowChannelsLast(result, first) : result;
    }

    private static ValueMeta Stack(OpCall c)
    {
        var tensors = c.Tensors("tensors");
        if (tensors.Count == 0) throw c.Error("stack expects a non-empty TensorList");
        for (var i = 1; i < tensors.Count; i++)
            if (!Sizes.Equal(tensors[i].Shape, tensors[0].Shape, "stack: equal shapes"))
                throw c.Error($"stack expects each tensor to be equal size, but got {tensors[0].Shape} at entry 0 and {tensors[i].Shape} at entry {i}");
        var rank = tensors[0].Rank + 1;
        var dim = c.Int("dim");
        if (dim < -rank || dim >= rank) throw c.Error($"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})");
        var dims = tensors[0].Shape.Dims.ToList();
        dims.Insert((int)(dim < 0 ? dim + rank : dim), Dim.Of(tensors.Count));
        return c.Result(Shape.Of(dims), TypePromotion.ResultType(tensors.Select(t => (Operand)new Operand.Tensor(t))));
    }

    private static ValueMeta Repeat(OpCall c)
    {
        var t = c.Tensor("self");
        var repeats = c.Ints("repeats");
        if (repeats.Count < t.Rank)
            throw c.Error("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
        if (repeats.Any(r => r < 0)) throw c.Error($"Trying to create tensor with negative dimension {repeats.First(r => r < 0)}: {repeats}");
        var padded = Enumerable.Repeat(Dim.Of(1), repeats.Count - t.Rank).Concat(t.Shape.Dims);
        return c.Result(Shape.Of(padded.Zip(repeats, (s, r) => s * Dim.Of(r))), t.DType);
    }

    private static ValueMeta Flip(OpCall c)
    {
        var t = c.Tensor("self");
        var dims = c.Ints("dims").Select(d => c.Dim(t, d)).ToArray();
        if (dims.Distinct().Count() != dims.Length) throw c.Error($"dims has duplicates, original flip dims size={dims.Length}, but unique flip dims size={dims.Distinct().Count()}");
        return c.Result(t.Shape, t.DType);
    }

    private static ValueMeta Roll(OpCall c)
    {
        var t = c.Tensor("self");
        var shifts = c.Ints("shifts");
        var dims = c.Ints("dims");
        if (dims.Count == 0 && shifts.Count != 1) throw c.Error($"shifts and dimensions must align. shifts: {shifts.Count}, dims:0");
        if (dims.Count != 0 && shifts.Count != dims.Count) throw c.Error($"shifts and dimensions must align. shifts: {shifts.Count}, dims:{dims.Count}");
        if (t.Rank == 0 && dims.Count > 0) throw c.Error($"Dimension specified as {dims[0]} but tensor has no dimensions");
        foreach (var d in dims) c.Dim(t, d);
        return c.Result(t.Shape, t.DType);
    }
}
