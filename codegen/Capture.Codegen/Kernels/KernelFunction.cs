namespace Capture.Codegen;

/// <summary>
/// The elementwise functions kernels compute. Lowering maps graph ops to them; the emitters switch
/// on them exhaustively, so a function one emitter misses is a compile error, not a run-time one.
/// </summary>
public enum KernelFunction
{
    Add, Sub, Mul, Div, Neg, Abs, Relu,
    Exp, Log, Tanh, Sigmoid, Erf, Sqrt, Rsqrt, Reciprocal, Sin, Cos, Pow,
    Maximum, Minimum, Where,
    Eq, Ne, Lt, Le, Gt, Ge,
}

/// <summary>The reductions of a row kernel (mean is lowered as a sum and a division).</summary>
public enum KernelReduction { Sum, Max, Min }

/// <summary>Which element types lowering gives a function: any, floating point only, or float32 only (our erf approximation).</summary>
public enum KernelTypes { Any, Float, Float32 }

/// <summary>How the C# emitter's SIMD loops compute a function: not at all (the kernel keeps scalar loops), for every float type, or for float32 through a helper of our own.</summary>
public enum VectorForm { None, Float, Float32Helper }

/// <summary>What lowering and both emitters read of one kernel function.</summary>
/// <param name="Expensive">Costs far more than a load: a reduction kernel keeps its value for a later pass instead of computing it again.</param>
public sealed record KernelFunctionInfo(KernelFunction Function, string Name, int Arity, KernelTypes Types, bool IsComparison, bool Expensive, VectorForm Vector);

/// <summary>The kernel functions' one table, in enum order.</summary>
public static class KernelFunctions
{
    private static readonly KernelFunctionInfo[] Table =
    [
        //  function                     name          arity types               compare expensive vector (C#)
        new(KernelFunction.Add,        "add",        2, KernelTypes.Any,     false, false, VectorForm.Float),
        new(KernelFunction.Sub,        "sub",        2, KernelTypes.Any,     false, false, VectorForm.Float),
        new(KernelFunction.Mul,        "mul",        2, KernelTypes.Any,     false, false, VectorForm.Float),
        new(KernelFunction.Div,        "div",        2, KernelTypes.Float,   false, true,  VectorForm.Float),
        new(KernelFunction.Neg,        "neg",        1, KernelTypes.Any,     false, false, VectorForm.Float),
        new(KernelFunction.Abs,        "abs",        1, KernelTypes.Any,     false, false, VectorForm.Float),
        new(KernelFunction.Relu,       "relu",       1, KernelTypes.Any,     false, false, VectorForm.Float),
        new(KernelFunction.Exp,        "exp",        1, KernelTypes.Float,   false, true,  VectorForm.Float32Helper),
        new(KernelFunction.Log,        "log",        1, KernelTypes.Float,   false, true,  VectorForm.None),
        new(KernelFunction.Tanh,       "tanh",       1, KernelTypes.Float,   false, true,  VectorForm.Float32Helper),
        new(KernelFunction.Sigmoid,    "sigmoid",    1, KernelTypes.Float,   false, true,  VectorForm.Float32Helper),
        new(KernelFunction.Erf,        "erf",        1, KernelTypes.Float32, false, true,  VectorForm.Float32Helper),
        new(KernelFunction.Sqrt,       "sqrt",       1, KernelTypes.Float,   false, true,  VectorForm.Float),
        new(KernelFunction.Rsqrt,      "rsqrt",      1, KernelTypes.Float,   false, true,  VectorForm.Float),
        new(KernelFunction.Reciprocal, "reciprocal", 1, KernelTypes.Float,   false, true,  VectorForm.Float),
        new(KernelFunction.Sin,        "sin",        1, KernelTypes.Float,   false, true,  VectorForm.None),
        new(KernelFunction.Cos,        "cos",        1, KernelTypes.Float,   false, true,  VectorForm.None),
        new(KernelFunction.Pow,        "pow",        2, KernelTypes.Float,   false, true,  VectorForm.None),
        new(KernelFunction.Maximum,    "maximum",    2, KernelTypes.Any,     false, false, VectorForm.Float),
        new(KernelFunction.Minimum,    "minimum",    2, KernelTypes.Any,     false, false, VectorForm.Float),
        new(KernelFunction.Where,      "where",      3, KernelTypes.Any,     false, false, VectorForm.Float),
        new(KernelFunction.Eq,         "eq",         2, KernelTypes.Any,     true,  false, VectorForm.Float),
        new(KernelFunction.Ne,         "ne",         2, KernelTypes.Any,     true,  false, VectorForm.Float),
        new(KernelFunction.Lt,         "lt",         2, KernelTypes.Any,     true,  false, VectorForm.Float),
        new(KernelFunction.Le,         "le",         2, KernelTypes.Any,     true,  false, VectorForm.Float),
        new(KernelFunction.Gt,         "gt",         2, KernelTypes.Any,     true,  false, VectorForm.Float),
        new(KernelFunction.Ge,         "ge",         2, KernelTypes.Any,     true,  false, VectorForm.Float),
    ];

    static KernelFunctions()
    {
        var functions = Enum.GetValues<KernelFunction>();
        if (functions.Length != Table.Length || functions.Any(f => Table[(int)f].Function != f))
            throw new InvalidOperationException("KernelFunctions.Table must list every KernelFunction once, in enum order");
    }

    public static IReadOnlyList<KernelFunctionInfo> All => Table;

    public static KernelFunctionInfo Info(this KernelFunction function) => Table[(int)function];

    /// <summary>The function's name in generated code's comments and in messages ("sigmoid").</summary>
    public static string Name(this KernelFunction function) => Table[(int)function].Name;

    public static string Name(this KernelReduction reduction) => reduction switch
    {
        KernelReduction.Sum => "sum",
        KernelReduction.Max => "max",
        KernelReduction.Min => "min",
    };
}
