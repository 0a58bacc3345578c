namespace Capture.Graphs;

// Views share their input's storage: their metadata carries the real strides (reshape and flatten
// fall back to a contiguous copy when no view is possible, as in torch).
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> ViewOps()
    {
        yield return Method("view", "Tensor self, int... size", OpCategory.View, c => ViewOrReshape(c, mustView: true));
        yield return Def("torch.reshape", "Tensor self, int... shape", OpCategory.View, c => ViewOrReshape(c, mustView: false), "reshape");
        yield return Def("torch.permute", "Tensor self, int... dims", OpCategory.View, Permute, "permute");
        yield return Def("torch.transpose", "Tensor self, int dim0, int dim1", OpCategory.View, Transpose, "transpose");
        yield return Def("torch.t", "Tensor self", OpCategory.View, T, "t");
        yield return Method("contiguous", "Tensor self", OpCategory.View, c => c.Result(c.Tensor("self").Shape, c.Tensor("self").DType));
        yield return Method("expand", "Tensor self, int... size", OpCategory.View, Expand);
        yield return Def("torch.squeeze", "Tensor self, int? dim=None", OpCategory.View, Squeeze, "squeeze");
        yield return Def("torch.unsqueeze", "Tensor self, int dim", OpCategory.View, Unsqueeze, "unsqueeze");
        yield return Def("torch.flatten", "Tensor self, int start_dim=0, int end_dim=-1", OpCategory.View, Flatten, "flatten");
        yield return Method("unflatten", "Tensor self, int dim, int[] sizes", OpCategory.View, Unflatten);
    }

    /// <summary>torch.infer_size: resolves one -1 and checks the element count (sizes may be symbolic).</summary>
    private static Dim[] InferSize(OpCall c, IReadOnlyList<SizeOrInt> shape, Dim numel)
    {
        var result = new Dim[shape.Count];
        int? infer = null;
        var product = Dim.Of(1);
        for (var i = 0; i < shape.Count; i++)
        {
            if (shape[i].Int == -1)
            {
                if (infer is not null) throw c.Error("only one dimension can be inferred");
                infer = i;
                continue;
            }
            if (shape[i].Int < 0) throw c.Error($"invalid shape dimension {shape[i].Int}");
            result[i] = shape[i].AsDim;
            product *= result[i];
        }
        var text = "[" + string.Join(", ", shape.Select(s => s.Size?.ToString() ?? s.Int!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";
        var why = $"{c.Op.Name}: the element count of {text}";
        if (infer is { } at)
        {
            if (product.Value == 0) throw c.Error($"shape '{text}' is invalid for input of size {numel}");
            if (Dim.ExactDivide(numel, product) is { } exact) result[at] = exact;
            else if (!Sizes.Divides(product, numel, why)) throw c.Error($"shape '{text}' is invalid for input of size {numel}");
            else result[at] = Dim.FloorDiv(numel, product);
        }
        else if (!Sizes.Equal(product, numel, why)) throw c.Error($"shape '{text}' is invalid for input of size {numel}");
        return result;
    }

    /// <summary>ATen's computeStride: the strides of a view of (sizes, strides) as newShape, or null.</summary>
    internal static Dim[]? ComputeViewStrides(IReadOnlyList<Dim> sizes, IReadOnlyList<Dim> strides, IReadOnlyList<Dim> newShape)
    {
        const string why = "whether a view is possible";
        var newStrides = new Dim[newShape.Count];
        if (sizes.Count == 0 || sizes.Any(s => s.Value == 0))
        {
            if (sizes.SequenceEqual(newShape)) return strides.ToArray();
            return Shape.Of(newShape).ContiguousStrideDims().ToArray();
        }
        var viewD = newShape.Count - 1;
        var chunkBaseStride = strides[^1];
        Dim tensorNumel = 1, viewNumel = 1;
        for (var tensorD = sizes.Count - 1; tensorD >= 0; tensorD--)
        {
            tensorNumel *= sizes[tensorD];
            if (tensorD == 0 || (!Sizes.IsOne(sizes[tensorD - 1]) && !Sizes.Equal(strides[tensorD - 1], tensorNumel * chunkBaseStride, why)))
            {
                // size-oblivious, as ATen's own symbolic computeStride: a dim of size 1 is consumed either way
                while (viewD >= 0 && (Sizes.CompareOblivious(viewNumel, SizeComparison.Lt, tensorNumel, why) || Sizes.IsOne(newShape[viewD])))
                {
                    newStrides[viewD] = viewNumel * chunkBaseStride;
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (!Sizes.Equal(viewNumel, tensorNumel, why)) return null;
                if (tensorD > 0)
                {
                    chunkBaseStride = strides[tensorD - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        return viewD == -1 ? newStrides : null;
    }

    private static TensorMeta Reshaped(OpCall c, TensorMeta t, IReadOnlyList<SizeOrInt> requested, bool mustView)
    {
        var shape = InferSize(c, requested, t.Shape.Elements);
        var strides = t.StrideDims is { } known ? ComputeViewStrides(t.Shape.Dims, known, shape)
            : throw new NotSupportedException($"{c.Op.Name}: the input's strides are not known");
        if (strides is not null) return c.View(t, Shape.Of(shape), strides);
        if (mustView)
            throw c.Error("view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.");
        return c.Result(Shape.Of(shape), t.DType);
    }

    private static IReadOnlyList<SizeOrInt> AsRequested(IEnumerable<Dim> dims) => dims.Select(d => new SizeOrInt(d, null)).ToArray();

    private static ValueMeta ViewOrReshape(OpCall c, bool mustView) =>
        Reshaped(c, c.Tensor("self"), c.SizesOrInts(c.Op.Schema.Params[1].Name), mustView);

    private static ValueMeta Permute(OpCall c)
    {
        var t = c.Tensor("self");
        var dims = c.Ints("dims").Select(d => c.Dim(t, d)).ToArray();
        if (dims.Length != t.Rank) throw c.Error($"number of dims don't match in permute (got {dims.Length}, tensor has {t.Rank})");
        if (dims.Distinct().Count() != dims.Length) throw c.Error("repeated dim in permute");
        return c.View(t, Shape.Of(dims.Select(d => t.Shape[d])), t.StrideDims is { } s ? dims.Select(d => s[d]).ToArray() : null);
    }

    private static TensorMeta Swap(OpCall c, TensorMeta t, int a, int b)
    {
        var dims = t.Shape.Dims.ToArray();
        (dims[a], dims[b]) = (dims[b], dims[a]);
        var strides = t.StrideDims?.ToArray();
        if (strides is not null && t.Rank > 0) (strides[a], strides[b]) = (strides[b], strides[a]);
        return c.View(t, Shape.Of(dims), strides);
    }

    private static ValueMeta Transpose(OpCall c)
    {
        var t = c.Tensor("self");
        if (t.Rank == 0) { c.Dim(t, c.Int("dim0")); c.Dim(t, c.Int("dim1")); return c.View(t, t.Shape, t.StrideDims); }
        return Swap(c, t, c.Dim(t, c.Int("dim0")), c.Dim(t, c.Int("dim1")));
    }

    private static ValueMeta T(OpCall c)
    {
        var t = c.Tensor("self");
        if (t.Rank > 2) throw c.Error($"t() expects a tensor with <= 2 dimensions, but self is {t.Rank}D");
        return t.Rank < 2 ? c.View(t, t.Shape, t.StrideDims) : Swap(c, t, 0, 1);
    }

    private static ValueMeta Expand(OpCall c)
    {
        var t = c.Tensor("self");
        var sizes = c.SizesOrInts("size");
        var text = "[" + string.Join(", ", sizes.Select(s => s.Size?.ToString() ?? s.Int!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";
        if (sizes.Count < t.Rank)
            throw c.Error($"the number of sizes provided ({sizes.Count}) must be greater or equal to the number of dimensions in the tensor ({t.Rank})");
        var dims = new Dim[sizes.Count];
        var strides = new Dim[sizes.Count];
        for (var i = sizes.Count - 1; i >= 0; i--)
        {
            var offset = sizes.Count - 1 - i;
            var srcDim = t.Rank - 1 - offset;
            var size = sizes[i];
            if (srcDim < 0)
            {
                if (size.Int < 0) throw c.Error($"The expanded size of the tensor ({size.Int}) isn't allowed in a leading, non-existing dimension {i}");
                dims[i] = size.AsDim;
                strides[i] = 0;
                continue;
            }
            var existing = t.Shape[srcDim];
            if (size.Int == -1) { dims[i] = existing; strides[i] = t.StrideDims?[srcDim] ?? 0; continue; }
            if (size.Int < 0) throw c.Error($"The expanded size of the tensor ({size.Int}) isn't allowed");
            if (existing != size.AsDim && (Sizes.IsOne(existing) || !Sizes.Equal(existing, size.AsDim, "expand: the existing size")))
            {
                if (!Sizes.IsOne(existing, "expand: whether the existing size is 1"))
                    throw c.Error($"The expanded size of the tensor ({size.AsDim}) must match the existing size ({existing}) at non-singleton dimension {i}.  Target sizes: {text}.  Tensor sizes: {t.Shape}");
                dims[i] = size.AsDim;
                strides[i] = 0;
                continue;
            }
            dims[i] = existing;
            strides[i] = t.StrideDims?[srcDim] ?? 0;
        }
        return c.View(t, Shape.Of(dims), t.StrideDims is null ? null : strides);
    }

    private static ValueMeta Squeeze(OpCall c)
    {
        var t = c.Tensor("self");
        var keep = Enumerable.Range(0, t.Rank).ToList();
        if (c.OptInt("dim") is { } dim)
        {
            var d = c.Dim(t, dim);
            if (t.Rank > 0 && Sizes.IsOne(t.Shape[d], "squeeze: whether the size is 1")) keep.Remove(d);
        }
        else keep.RemoveAll(i => Sizes.IsOne(t.Shape[i], "squeeze: whether the size is 1"));
        return c.View(t, Shape.Of(keep.Select(i => t.Shape[i])), t.StrideDims is { } s ? keep.Select(i => s[i]).ToArray() : null);
    }

    private static ValueMeta Unsqueeze(OpCall c)
    {
        var t = c.Tensor("self");
        var dim = (int)c.Int("dim");
        if (dim < -(t.Rank + 1) || dim > t.Rank)
            throw c.Error($"Dimension out of range (expected to be in range of [{-(t.Rank + 1)}, {t.Rank}], but got {dim})");
        if (dim < 0) dim += t.Rank + 1;
        var dims = t.Shape.Dims.ToList();
        dims.Insert(dim, Dim.Of(1));
        Dim[]? strides = null;
        if (t.StrideDims is { } s)
        {
            var list = s.ToList();
            list.Insert(dim, dim >= t.Rank ? Dim.Of(1) : t.Shape[dim] * s[dim]);
            strides = list.ToArray();
        }
        return c.View(t, Shape.Of(dims), strides);
    }

    private static ValueMeta Flatten(OpCall c)
    {
        var t = c.Tensor("self");
        if (t.Rank == 0) return c.View(t, new Shape(1L), [Dim.Of(1)]);
        int start = c.Dim(t, c.Int("start_dim")), end = c.Dim(t, c.Int("end_dim"));
        if (start > end) throw c.Error("flatten() has invalid args: start_dim cannot come after end_dim");
        if (start == end) return c.View(t, t.Shape, t.StrideDims);
        var sizes = t.Shape.Dims;
        var shape = sizes.Take(start).Append(Dim.Product(sizes.Skip(start).Take(end - start + 1))).Concat(sizes.Skip(end + 1));
        return Reshaped(c, t, AsRequested(shape), mustView: false);
    }

    private static ValueMeta Unflatten(OpCall c)
    {
        var t = c.Tensor("self");
        var dim = c.Dim(t, c.Int("dim"));
        var size = t.Shape[dim];
        var requested = c.SizesOrInts("sizes");
        if (requested.Count == 0) throw c.Error("unflatten: sizes must be non-empty");
        Dim[] sizes;
        try { sizes = InferSize(c, requested, size); }
        catch (ShapeError) { throw c.Error($"unflatten: Provided sizes [{string.Join(", ", requested.Select(r => r.Size?.ToString() ?? r.Int.ToString()))}] don't multiply up to the size of dim {dim} ({size}) in the input tensor"); }
        var all = t.Shape.Dims;
        return Reshaped(c, t, AsRequested(all.Take(dim).Concat(sizes).Concat(all.Skip(dim + 1))), mustView: true);
    }
}
