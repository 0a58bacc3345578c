using System.Collections.Frozen;

namespace Capture.Frontend;

/// <summary>A binary operator: the torch op it is on tensors, the in-place Tensor method of `x op= y`, and its operator-module function.</summary>
public sealed record BinaryOperator(string Symbol, string? TorchOp, string? InPlaceMethod, string Function)
{
    /// <summary>The operator module's in-place function (iadd for +=).</summary>
    public string InPlaceFunction => "i" + Function.TrimEnd('_');

    /// <summary>The methods Python looks up on the operands' types: __add__, __radd__ and __iadd__.</summary>
    public IEnumerable<string> Dunders => ["__" + Function.TrimEnd('_') + "__", "__r" + Function.TrimEnd('_') + "__", "__i" + Function.TrimEnd('_') + "__"];
}

/// <summary>A comparison: the torch op on tensors, the one with its operands swapped (2 &lt; x is x &gt; 2), and its operator-module function.</summary>
public sealed record ComparisonOperator(string Symbol, string TorchOp, string SwappedTorchOp, string Function)
{
    /// <summary>The methods Python looks up on the operands' types: __lt__, and __gt__ for the swapped operands.</summary>
    public IEnumerable<string> Dunders => ["__" + Function + "__", "__" + PythonOperators.Comparisons[SwappedSymbol].Function + "__"];

    private string SwappedSymbol => Symbol switch { "<" => ">", "<=" => ">=", ">" => "<", ">=" => "<=", _ => Symbol };
}

/// <summary>
/// Python's operators in one table, read by the bytecode path, the AST path and the real executor:
/// on a tensor an operator becomes a torch op; on Python values it runs for real through the
/// operator module, which gives Python's own semantics.
/// </summary>
public static class PythonOperators
{
    public static readonly FrozenDictionary<string, BinaryOperator> Binary = new BinaryOperator[]
    {
        new("+", "torch.add", "add_", "add"),
        new("-", "torch.sub", "sub_", "sub"),
        new("*", "torch.mul", "mul_", "mul"),
        new("/", "torch.div", "div_", "truediv"),
        new("//", "torch.floor_divide", null, "floordiv"),
        new("%", "torch.remainder", null, "mod"),
        new("**", "torch.pow", "pow_", "pow"),
        new("@", "torch.matmul", null, "matmul"),
        new("&", "torch.bitwise_and", null, "and_"),
        new("|", "torch.bitwise_or", null, "or_"),
        new("^", "torch.bitwise_xor", null, "xor"),
        new("<<", null, null, "lshift"),
        new(">>", null, null, "rshift"),
    }.ToFrozenDictionary(o => o.Symbol);

    public static readonly FrozenDictionary<string, ComparisonOperator> Comparisons = new ComparisonOperator[]
    {
        new("<", "torch.lt", "torch.gt", "lt"),
        new("<=", "torch.le", "torch.ge", "le"),
        new("==", "torch.eq", "torch.eq", "eq"),
        new("!=", "torch.ne", "torch.ne", "ne"),
        new(">", "torch.gt", "torch.lt", "gt"),
        new(">=", "torch.ge", "torch.le", "ge"),
    }.ToFrozenDictionary(o => o.Symbol);

    /// <summary>The operator module's function for a unary operator (-, +, ~, not).</summary>
    public static string UnaryFunction(string symbol) => symbol switch
    {
        "-" => "neg",
        "+" => "pos",
        "~" => "invert",
        "not" => "not_",
        _ => throw new ArgumentOutOfRangeException(nameof(symbol), symbol, "not a unary operator"),
    };

    /// <summary>
    /// operator.<paramref name="function"/>(*operands) for real (GIL held); "not_contains" is
    /// `not in`. A Python error comes back as the PythonException the real code would raise.
    /// </summary>
    public static PyObject Apply(string function, params PyObject[] operands)
    {
        using var module = Py.Import("operator");
        using var fn = module.GetAttr(function == "not_contains" ? "contains" : function);
        var result = fn.Call(operands);
        if (function != "not_contains") return result;
        using (result) return Py.Bool(!result.IsTrue());
    }
}
