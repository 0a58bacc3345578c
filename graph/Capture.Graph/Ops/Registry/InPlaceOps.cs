namespace Capture.Graphs;

// In-place variants (x.add_(y), torch.relu_(x)...). Each writes into and returns its first
// argument: the result aliases it (MutatedArg = 0). The functional rule gives the computed value,
// which must broadcast to the destination's shape and be castable to its dtype, as torch requires.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> InPlaceOps()
    {
        foreach (var name in new[] { "add", "sub", "mul", "div", "clamp", "masked_fill", "pow", "neg", "abs", "exp", "sqrt", "sigmoid", "tanh", "relu" })
            yield return InPlace(name + "_", Get("torch." + name));
        yield return InPlace("copy_", new OpDef { Name = "copy", Schema = Schema.Parse("Tensor self, Tensor src, bool non_blocking=False"), Category = OpCategory.Pointwise,
            Rule = c => c.Result(BroadcastOperands(c, "self", "src"), c.Tensor("self").DType) });
        yield return InPlace("fill_", new OpDef { Name = "fill", Schema = Schema.Parse("Tensor self, Number|Tensor value"), Category = OpCategory.Pointwise,
            Rule = c => c.IsTensor("value") && c.Tensor("value").Rank != 0
                ? throw c.Error($"fill_ only supports 0-dimension value tensor but got tensor with {c.Tensor("value").Rank} dimensions.")
                : c.Tensor("self") });
        yield return InPlace("zero_", new OpDef { Name = "zero", Schema = Schema.Parse("Tensor self"), Category = OpCategory.Pointwise, Rule = c => c.Tensor("self") });
    }

    private static OpDef InPlace(string method, OpDef functional, string? name = null) => new()
    {
        Name = name ?? "Tensor." + method,
        MethodName = name is null ? method : null,
        Schema = functional.Schema,
        Category = functional.Category,
        MutatedArg = 0,
        FunctionalName = functional.Name,
        Rule = c =>
        {
            var self = c.Tensor(functional.Schema.Params[0].Name);
            var computed = (TensorMeta)functional.Rule!(c);
            if (!Sizes.Equal(computed.Shape, self.Shape, $"{c.Op.Name}: the result's shape against self's"))
                throw c.Error($"output with shape {self.Shape} doesn't match the broadcast shape {computed.Shape}");
            if (!TypePromotion.CanCast(computed.DType, self.DType))
                throw c.Error($"result type {Capitalized(computed.DType)} can't be cast to the desired output type {Capitalized(self.DType)}");
            return self;
        },
    };

    private static string Capitalized(DType d) => d switch
    {
        DType.Float32 => "Float",
        DType.Float64 => "Double",
        DType.Float16 => "Half",
        DType.BFloat16 => "BFloat16",
        DType.Int64 => "Long",
        DType.Int32 => "Int",
        _ => "Bool",
    };
}
