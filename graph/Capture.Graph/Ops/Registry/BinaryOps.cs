namespace Capture.Graphs;

// Binary and ternary pointwise ops: broadcasting and torch's type promotion.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> BinaryOps()
    {
        yield return Def("torch.add", "Number|Tensor self, Number|Tensor other, *, Number alpha=1", OpCategory.Pointwise, AddSub, "add");
        yield return Def("torch.sub", "Number|Tensor self, Number|Tensor other, *, Number alpha=1", OpCategory.Pointwise, AddSub, "sub");
        yield return Def("torch.mul", "Number|Tensor self, Number|Tensor other", OpCategory.Pointwise, c => Promoted(c, "self", "other"), "mul");
        yield return Def("torch.div", "Number|Tensor self, Number|Tensor other, *, str? rounding_mode=None", OpCategory.Pointwise, Div, "div");
        yield return Def("torch.pow", "Number|Tensor self, Number|Tensor exponent", OpCategory.Pointwise, Pow, "pow");
        yield return Def("torch.maximum", "Tensor self, Tensor other", OpCategory.Pointwise, c => Promoted(c, "self", "other"), "maximum");
        yield return Def("torch.minimum", "Tensor self, Tensor other", OpCategory.Pointwise, c => Promoted(c, "self", "other"), "minimum");
        foreach (var cmp in new[] { "eq", "ne", "lt", "le", "gt", "ge" })
            yield return Def($"torch.{cmp}", "Tensor self, Number|Tensor other", OpCategory.Pointwise, Comparison, cmp);
        yield return Def("torch.logical_and", "Tensor self, Tensor other", OpCategory.Pointwise, Comparison, "logical_and");
        yield return Def("torch.logical_or", "Tensor self, Tensor other", OpCategory.Pointwise, Comparison, "logical_or");
        yield return Def("torch.where", "Tensor condition, Number|Tensor self, Number|Tensor other", OpCategory.Pointwise, Where);
        yield return Def("torch.clamp", "Tensor self, Number|Tensor? min=None, Number|Tensor? max=None", OpCategory.Pointwise, Clamp, "clamp");
        yield return Def("torch.masked_fill", "Tensor self, Tensor mask, Number|Tensor value", OpCategory.Pointwise, MaskedFill, "masked_fill");
    }

    private static Shape BroadcastOperands(OpCall c, params string[] names) =>
        Broadcasting.Broadcast(c.Op.Name, names.Where(n => c.IsTensor(n)).Select(n => c.Tensor(n).Shape));

    private static DType PromotedType(OpCall c, params string[] names) =>
        TypePromotion.ResultType(names.Where(n => !c.IsNone(n)).Select(c.Operand));

    private static TensorMeta Promoted(OpCall c, params string[] names) =>
        c.PointwiseResult(BroadcastOperands(c, names), PromotedType(c, names));

    private static ValueMeta AddSub(OpCall c)
    {
        if (c.BaseOp == Ops.Sub && new[] { "self", "other" }.Any(n => c.Operand(n) is Operand.Tensor { Meta.DType: DType.Bool } or Operand.Number { Kind: ScalarKind.Bool }))
            throw c.Error("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.");
        var result = Promoted(c, "self", "other");
        if (!result.DType.IsFloatingPoint() && c.Raw("alpha") is FloatArg)
            throw c.Error("For integral input tensors, argument alpha must not be a floating point number.");
        if (result.DType != DType.Bool && c.Raw("alpha") is BoolArg)
            throw c.Error("Boolean alpha only supported for Boolean results.");
        return result;
    }

    private static ValueMeta Div(OpCall c)
    {
        var result = Promoted(c, "self", "other");
        return c.Str("rounding_mode") switch
        {
            null => result.DType.IsFloatingPoint() ? result : result.With(result.Shape, TypePromotion.DefaultFloat),
            "trunc" or "floor" when result.DType == DType.Bool => throw c.Error("\"div_floor_cpu\" not implemented for 'Bool'"),
            "trunc" or "floor" => result,
            var mode => throw c.Error($"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{mode}'"),
        };
    }

    private static ValueMeta Pow(OpCall c)
    {
        if (!c.IsTensor("self") && !c.IsTensor("exponent")) throw c.Error("at least one argument must be a Tensor");
        var result = Promoted(c, "self", "exponent");
        if (!result.DType.IsFloatingPoint() && c.Raw("exponent") is IntArg { Value: < 0 })
            throw c.Error("Integers to negative integer powers are not allowed.");
        return result;
    }

    private static ValueMeta Comparison(OpCall c) => c.PointwiseResult(BroadcastOperands(c, "self", "other"), DType.Bool);

    private static ValueMeta Where(OpCall c)
    {
        var condition = c.Tensor("condition");
        if (condition.DType != DType.Bool)
            throw c.Error($"where expected condition to be a boolean tensor, but got a tensor with dtype {condition.DType.TorchName()}");
        return c.PointwiseResult(BroadcastOperands(c, "condition", "self", "other"), PromotedType(c, "self", "other"));
    }

    private static ValueMeta Clamp(OpCall c)
    {
        if (c.IsNone("min") && c.IsNone("max")) throw c.Error("At least one of 'min' or 'max' must not be None");
        return Promoted(c, "self", "min", "max");
    }

    private static ValueMeta MaskedFill(OpCall c)
    {
        var self = c.Tensor("self");
        if (c.Tensor("mask").DType != DType.Bool) throw c.Error("masked_fill_ only supports boolean masks, but got mask with dtype " + c.Tensor("mask").DType.TorchName());
        if (c.IsTensor("value") && c.Tensor("value").Rank != 0)
            throw c.Error($"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {c.Tensor("value").Rank} dimension(s).");
        return c.Result(BroadcastOperands(c, "self", "mask"), self.DType);
    }
}
