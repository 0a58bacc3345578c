namespace Capture.Graphs.Tests;

// Invariants over the whole registry, so that a new op cannot be added half-described.
public sealed class RegistryTests
{
    [Fact]
    public void RegistryCoversTheIssuesOpList()
    {
        string[] required =
        [
            "torch.neg", "torch.abs", "torch.exp", "torch.log", "torch.sqrt", "torch.rsqrt", "torch.sin", "torch.cos", "torch.tanh",
            "torch.sigmoid", "torch.relu", "torch.nn.functional.gelu", "torch.nn.functional.silu", "torch.erf", "torch.reciprocal",
            "torch.floor", "torch.ceil", "torch.round", "torch.sign", "torch.logical_not", "torch.add", "torch.sub", "torch.mul", "torch.div",
            "torch.pow", "torch.maximum", "torch.minimum", "torch.eq", "torch.ne", "torch.lt", "torch.le", "torch.gt", "torch.ge",
            "torch.logical_and", "torch.logical_or", "torch.where", "torch.clamp", "torch.masked_fill", "torch.sum", "torch.mean",
            "torch.amax", "torch.amin", "torch.max", "torch.min", "torch.argmax", "torch.prod", "torch.var", "torch.std", "torch.softmax",
            "torch.log_softmax", "torch.logsumexp", "torch.any", "torch.all", "torch.matmul", "torch.mm", "torch.bmm", "torch.addmm",
            "torch.nn.functional.linear", "torch.baddbmm", "torch.nn.functional.layer_norm", "torch.nn.functional.batch_norm",
            "torch.nn.functional.group_norm", "torch.nn.functional.conv1d", "torch.nn.functional.conv2d", "torch.nn.functional.max_pool2d",
            "torch.nn.functional.avg_pool2d", "torch.nn.functional.adaptive_avg_pool2d", "torch.nn.functional.embedding",
            "torch.nn.functional.dropout", "Tensor.view", "torch.reshape", "torch.permute", "torch.transpose", "torch.t", "Tensor.contiguous",
            "Tensor.expand", "torch.squeeze", "torch.unsqueeze", "torch.flatten", "Tensor.unflatten", "operator.getitem", "torch.narrow",
            "torch.chunk", "torch.split", "torch.cat", "torch.stack", "Tensor.repeat", "torch.flip", "torch.roll", "torch.zeros", "torch.ones",
            "torch.full", "torch.arange", "torch.empty", "torch.zeros_like", "torch.ones_like", "torch.full_like", "torch.empty_like",
            "torch.rand", "torch.randn", "Tensor.to", "Tensor.float", "Tensor.long", "Tensor.bool", "Tensor.type_as",
            "Tensor.add_", "Tensor.mul_", "Tensor.relu_", "Tensor.copy_",
        ];
        var missing = required.Where(name => !OpRegistry.TryGet(name, out _)).ToList();
        Assert.True(missing.Count == 0, "missing from the registry: " + string.Join(", ", missing));
    }

    // Code names ops through Ops: every registry op has its field, each field is the registry's own op.
    [Fact]
    public void EveryOpHasItsFieldInOps()
    {
        var fields = typeof(Ops).GetFields().Select(f => (f.Name, Op: (OpDef)f.GetValue(null)!)).ToList();
        Assert.All(fields, f => Assert.Same(OpRegistry.Get(f.Op.Name), f.Op));
        var named = fields.Select(f => f.Op.Name).ToHashSet();
        var missing = OpRegistry.All.Select(op => op.Name).Where(n => !named.Contains(n)).Order().ToList();
        Assert.True(missing.Count == 0, "registry ops without a field in Ops: " + string.Join(", ", missing));
        Assert.Equal(fields.Count, named.Count);
    }

    [Fact]
    public void EveryOpHasARuleAndASchemaThatReparses()
    {
        foreach (var op in OpRegistry.All)
        {
            Assert.NotNull(op.Rule);
            Assert.Equal(op.Schema, Schema.Parse(op.Schema.ToString()));
        }
    }

    [Fact]
    public void RandomOpsSayHowCapturesTreatThem() =>
        Assert.All(OpRegistry.All.Where(op => op.Category == OpCategory.Random), op => Assert.Contains("guard", op.Note));

    [Fact]
    public void InPlaceOpsRecordWhatTheyWriteAndWhatTheyCompute()
    {
        // operator.setitem (x[i] = v) is a statement, not a Tensor method: it writes and returns None
        var inPlace = OpRegistry.All.Where(op => op.IsInPlace && op != Ops.SetItem).ToList();
        Assert.Equal(0, Ops.SetItem.MutatedArg);
        Assert.True(inPlace.Count >= 15);
        Assert.All(inPlace, op =>
        {
            Assert.Equal(0, op.MutatedArg);
            Assert.EndsWith("_", op.MethodName ?? op.Name); // a method (x.relu_()) or a function (torch._C._nn.hardtanh_)
            Assert.NotNull(op.FunctionalName);
        });
        Assert.All(OpRegistry.All.Where(op => !op.IsInPlace), op => Assert.Null(op.FunctionalName));
    }

    [Fact]
    public void MethodOnlyOpsAreNamedAsTensorMethods() =>
        Assert.All(OpRegistry.All.Where(op => !op.IsFunction), op => Assert.Equal("Tensor." + op.MethodName, op.Name));

    [Fact]
    public void TypePromotionFollowsTorch()
    {
        Operand T(string meta) => new Operand.Tensor((TensorMeta)MetaText.Parse(meta));
        Operand N(ScalarKind k) => new Operand.Number(k);
        Assert.Equal(DType.Float32, TypePromotion.ResultType(T("i64[3]"), N(ScalarKind.Float)));
        Assert.Equal(DType.Int32, TypePromotion.ResultType(T("i32[3]"), N(ScalarKind.Int)));
        Assert.Equal(DType.Int32, TypePromotion.ResultType(T("i32[3]"), T("i64[]")));
        Assert.Equal(DType.Float64, TypePromotion.ResultType(T("i32[3]"), T("f64[]")));
        Assert.Equal(DType.Float16, TypePromotion.ResultType(T("f16[3]"), T("f64[]")));
        Assert.Equal(DType.Int64, TypePromotion.ResultType(T("b8[3]"), N(ScalarKind.Int)));
        Assert.Equal(DType.Float32, TypePromotion.Promote(DType.Float16, DType.BFloat16));
    }
}
