namespace Capture.Graphs;

// Matrix products. No type promotion here: torch requires equal dtypes.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> LinearAlgebraOps()
    {
        yield return Def("torch.matmul", "Tensor self, Tensor other", OpCategory.Extern, Matmul, "matmul");
        yield return Def("torch.mm", "Tensor self, Tensor mat2", OpCategory.Extern, c => Mm(c, c.Tensor("self"), c.Tensor("mat2")), "mm");
        yield return Def("torch.bmm", "Tensor self, Tensor mat2", OpCategory.Extern, Bmm, "bmm");
        yield return Def("torch.addmm", "Tensor self, Tensor mat1, Tensor mat2, *, Number beta=1, Number alpha=1", OpCategory.Extern, AddMm, "addmm",
            (b, c) => b.Call(Ops.Add, b.Call(Ops.Mul, c.Raw("self"), c.Raw("beta")),
                b.Call(Ops.Mul, b.Call(Ops.Mm, c.Raw("mat1"), c.Raw("mat2")), c.Raw("alpha"))));
        yield return Def("torch.baddbmm", "Tensor self, Tensor batch1, Tensor batch2, *, Number beta=1, Number alpha=1", OpCategory.Extern, BaddBmm, "baddbmm");
        yield return Def("torch.nn.functional.linear", "Tensor input, Tensor weight, Tensor? bias=None", OpCategory.Extern, Linear,
            decompose: (b, c) =>
            {
                var y = b.Call(Ops.Matmul, c.Raw("input"), b.Call(Ops.T, [c.Raw("weight")]));
                return c.IsNone("bias") ? y : b.Call(Ops.Add, y, c.Raw("bias"));
            });
    }

    private static void SameDType(OpCall c, TensorMeta a, TensorMeta b)
    {
        if (a.DType != b.DType)
            throw c.Error($"expected scalar type {a.DType.TorchName()} but found {b.DType.TorchName()} (matrix products need equal dtypes)");
    }

    private static void Inner(OpCall c, Dim k1, Dim k2, TensorMeta a, TensorMeta b)
    {
        if (!Sizes.Equal(k1, k2, $"{c.Op.Name}: the inner sizes"))
            throw c.Error($"mat1 and mat2 shapes cannot be multiplied ({string.Join("x", a.Shape.Dims.TakeLast(2))} and {string.Join("x", b.Shape.Dims.TakeLast(2))})");
    }

    private static ValueMeta Mm(OpCall c, TensorMeta a, TensorMeta b)
    {
        if (a.Rank != 2) throw c.Error($"self must be a matrix, got {a.Rank}-D");
        if (b.Rank != 2) throw c.Error($"mat2 must be a matrix, got {b.Rank}-D");
        SameDType(c, a, b);
        Inner(c, a.Shape[1], b.Shape[0], a, b);
        return c.Result(Shape.Of(a.Shape[0], b.Shape[1]), a.DType);
    }

    private static ValueMeta Bmm(OpCall c)
    {
        TensorMeta a = c.Tensor("self"), b = c.Tensor("mat2");
        if (a.Rank != 3 || b.Rank != 3) throw c.Error($"batch1 and batch2 must be 3D tensors, got {a.Rank}-D and {b.Rank}-D");
        SameDType(c, a, b);
        if (!Sizes.Equal(a.Shape[0], b.Shape[0], "bmm: batch sizes")) throw c.Error($"batch1 and batch2 must have same number of batches, got {a.Shape[0]} and {b.Shape[0]}");
        Inner(c, a.Shape[2], b.Shape[1], a, b);
        return c.Result(Shape.Of(a.Shape[0], a.Shape[1], b.Shape[2]), a.DType);
    }

    // matmul's rank cases: 1x1 dot, 2x2 mm, 1-D operands get a dim added then removed, and batch
    // dims broadcast.
    private static ValueMeta Matmul(OpCall c)
    {
        TensorMeta a = c.Tensor("self"), b = c.Tensor("other");
        if (a.Rank == 0 || b.Rank == 0)
            throw c.Error($"both arguments to matmul need to be at least 1D, but they are {a.Rank}D and {b.Rank}D");
        SameDType(c, a, b);
        if (a.Rank == 1 && b.Rank == 1)
        {
            if (!Sizes.Equal(a.Shape[0], b.Shape[0], "matmul: the vectors' sizes"))
                throw c.Error($"inconsistent tensor size, expected tensor [{a.Shape[0]}] and src [{b.Shape[0]}] to have the same number of elements, but got {a.Shape[0]} and {b.Shape[0]} elements respectively");
            return c.Result(Shape.Scalar, a.DType);
        }
        var left = a.Rank == 1 ? Shape.Of(a.Shape.Dims.Prepend(Dim.Of(1))) : a.Shape;
        var right = b.Rank == 1 ? Shape.Of(b.Shape.Dims.Append(Dim.Of(1))) : b.Shape;
        Inner(c, left[left.Rank - 1], right[right.Rank - 2], a, b);
        var batch = Broadcasting.Broadcast(c.Op.Name, Shape.Of(left.Dims.SkipLast(2)), Shape.Of(right.Dims.SkipLast(2)));
        var dims = batch.Dims.ToList();
        if (a.Rank > 1) dims.Add(left[left.Rank - 2]);
        if (b.Rank > 1) dims.Add(right[right.Rank - 1]);
        return c.Result(Shape.Of(dims), a.DType);
    }

    private static ValueMeta AddMm(OpCall c)
    {
        var product = (TensorMeta)Mm(c, c.Tensor("mat1"), c.Tensor("mat2"));
        var self = c.Tensor("self");
        var shape = Broadcasting.Broadcast(c.Op.Name, self.Shape, product.Shape);
        if (!Sizes.Equal(shape, product.Shape, "addmm: self broadcast to the product")) throw c.Error($"self of shape {self.Shape} cannot be broadcast to the product's shape {product.Shape}");
        SameDType(c, self, product);
        return product;
    }

    private static ValueMeta BaddBmm(OpCall c)
    {
        TensorMeta a = c.Tensor("batch1"), b = c.Tensor("batch2"), self = c.Tensor("self");
        if (a.Rank != 3 || b.Rank != 3) throw c.Error("batch1 and batch2 must be 3D tensors");
        SameDType(c, a, b);
        SameDType(c, self, a);
        Inner(c, a.Shape[2], b.Shape[1], a, b);
        var shape = Shape.Of(a.Shape[0], a.Shape[1], b.Shape[2]);
        if (!Sizes.Equal(Broadcasting.Broadcast(c.Op.Name, self.Shape, shape), shape, "baddbmm: self broadcast to the product"))
            throw c.Error($"self of shape {self.Shape} cannot be broadcast to {shape}");
        return c.Result(shape, a.DType);
    }

    private static ValueMeta Linear(OpCall c)
    {
        TensorMeta x = c.Tensor("input"), w = c.Tensor("weight");
        if (w.Rank is not (1 or 2)) throw c.Error($"weight must be 1-D or 2-D, got {w.Rank}-D");
        if (x.Rank == 0) throw c.Error("input must be at least 1-D");
        SameDType(c, x, w);
        var inFeatures = w.Shape[w.Rank - 1];
        if (!Sizes.Equal(x.Shape[x.Rank - 1], inFeatures, "linear: in_features"))
            throw c.Error($"mat1 and mat2 shapes cannot be multiplied ({string.Join("x", x.Rank == 1 ? [Dim.Of(1), x.Shape[0]] : new[] { Dim.Product(x.Shape.Dims.SkipLast(1)), x.Shape[x.Rank - 1] })} and {inFeatures}x{(w.Rank == 2 ? w.Shape[0] : Dim.Of(1))})");
        var dims = x.Shape.Dims.SkipLast(1).ToList();
        if (w.Rank == 2) dims.Add(w.Shape[0]);
        var shape = Shape.Of(dims);
        if (c.OptTensor("bias") is { } bias)
        {
            SameDType(c, x, bias);
            if (!Sizes.Equal(Broadcasting.Broadcast(c.Op.Name, bias.Shape, shape), shape, "linear: bias broadcast to the output"))
                throw c.Error($"bias of shape {bias.Shape} cannot be broadcast to the output's shape {shape}");
        }
        return c.Result(shape, x.DType);
    }
}
