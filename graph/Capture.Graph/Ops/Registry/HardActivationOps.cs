namespace Capture.Graphs;

// The piecewise-linear activations torch binds in torch._C._nn (what F.hardtanh, F.relu6,
// F.hardswish and F.hardsigmoid call, and nn.ReLU6 in MobileNets), silu (what F.silu(inplace=True)
// calls in place: EfficientNet's), and their in-place forms (inplace=True). Each decomposes into comparisons, where and arithmetic in the order torch's CPU
// kernels compute, so a fused kernel gives eager's bits (NaN passes through as it does there):
//   hardtanh(x, lo, hi) = where(x < lo, lo, where(x > hi, hi, x))          relu6 = hardtanh(x, 0, 6)
//   hardsigmoid(x) = min(max(x + 3, 0), 6) / 6                               hardswish(x) = x * min(max(x + 3, 0), 6) / 6
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> HardActivationOps()
    {
        yield return Def("torch._C._nn.hardtanh", "Tensor self, Number min_val=-1, Number max_val=1", OpCategory.Pointwise, HardActivation,
            decompose: (b, c) => Clamped(b, c.Raw("self"), c.Raw("min_val"), c.Raw("max_val")));
        yield return Def("torch._C._nn.relu6", "Tensor self", OpCategory.Pointwise, HardActivation,
            decompose: (b, c) => Clamped(b, c.Raw("self"), new IntArg(0), new IntArg(6)));
        yield return Def("torch._C._nn.hardsigmoid", "Tensor self", OpCategory.Pointwise, HardActivation,
            decompose: (b, c) => b.Call(Ops.Div, Clamped(b, b.Call(Ops.Add, c.Raw("self"), 3L), new IntArg(0), new IntArg(6)), 6L));
        yield return Def("torch._C._nn.silu", "Tensor self", OpCategory.Pointwise, HardActivation,
            decompose: (b, c) => b.Call(Ops.Mul, c.Raw("self"), b.Call(Ops.Sigmoid, c.Raw("self"))));
        yield return Def("torch._C._nn.hardswish", "Tensor self", OpCategory.Pointwise, HardActivation,
            decompose: (b, c) => b.Call(Ops.Div, b.Call(Ops.Mul, c.Raw("self"), Clamped(b, b.Call(Ops.Add, c.Raw("self"), 3L), new IntArg(0), new IntArg(6))), 6L));
    }

    private static IEnumerable<OpDef> HardActivationInPlaceOps()
    {
        foreach (var name in new[] { "hardtanh", "relu6", "hardsigmoid", "hardswish", "silu" })
        {
            var functional = Get("torch._C._nn." + name);
            yield return InPlace(name + "_", functional, "torch._C._nn." + name + "_");
        }
    }

    private static ValueMeta HardActivation(OpCall c)
    {
        var self = c.Tensor("self");
        if (self.DType == DType.Bool && c.BaseOp is var op && (op == Ops.Hardtanh || op == Ops.Relu6))
            throw c.Error("Bool inputs not supported for hardtanh");
        return c.PointwiseResult(self.Shape, self.DType);
    }

    /// <summary>x held between lo and hi in x's dtype, NaN passed through: where(x &lt; lo, lo, where(x &gt; hi, hi, x)).</summary>
    private static Arg Clamped(GraphBuilder b, Arg x, Arg lo, Arg hi)
    {
        var dtype = ((TensorMeta)b.MetaOf(x)!).DType;
        Arg Bound(Arg v) => dtype.IsFloatingPoint() ? v switch { IntArg i => new FloatArg(i.Value), _ => v } : v;
        return b.Call(Ops.Where, b.Call(Ops.Lt, x, lo), Bound(lo), b.Call(Ops.Where, b.Call(Ops.Gt, x, hi), Bound(hi), x));
    }
}
