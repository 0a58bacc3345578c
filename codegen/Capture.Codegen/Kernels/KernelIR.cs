using Capture.Graph;

namespace Capture.Codegen;

/// <summary>An expression a kernel computes per element of its iteration domain.</summary>
public abstract record KExpr(DType Type);

/// <summary>Element of kernel operand <see cref="Operand"/> at the current index (broadcast dims have stride 0).</summary>
public sealed record KLoad(int Operand, DType Type) : KExpr(Type);

/// <summary>A literal (a Python number in the graph), already in <see cref="KExpr.Type"/>.</summary>
public sealed record KConst(double Value, DType Type) : KExpr(Type);

/// <summary>The value of an earlier statement of the body.</summary>
public sealed record KTemp(int Index, DType Type) : KExpr(Type);

/// <summary>A conversion to another element type (torch's casting rules: float to int truncates, nonzero is true).</summary>
public sealed record KCast(KExpr Value, DType Type) : KExpr(Type);

/// <summary>An elementwise function (exp, neg, relu...) of its operands, computed in <see cref="KExpr.Type"/>
/// except comparisons, which compute in their operands' type and give bool.</summary>
public sealed record KCall(string Function, EquatableList<KExpr> Args, DType Type) : KExpr(Type);

/// <summary>One statement: the value of graph node <see cref="Node"/>.</summary>
public sealed record KStatement(string Node, KExpr Value);

/// <summary>
/// A kernel operand: a tensor read or written, with its element type and the stride its metadata
/// gives it along the domain's innermost dim (0 when broadcast along it, 1 when contiguous there;
/// null when unknown). The emitter vectorizes for those strides and checks them at run time.
/// </summary>
public sealed record KOperand(string Value, DType Type, bool IsOutput, long? InnerStride = null);

/// <summary>
/// A pointwise kernel: a loop nest over <see cref="Domain"/> evaluating <see cref="Body"/> per
/// element and storing the statements named in <see cref="Stores"/> (statement index, output
/// operand). Operands are addressed through strides given at run time, in elements, broadcast to
/// the domain (0 on broadcast dims).
/// </summary>
public sealed record Kernel(string Name, int Group, EquatableList<long> Domain, EquatableList<KOperand> Operands,
    EquatableList<KStatement> Body, EquatableList<(int Statement, int Operand)> Stores)
{
    public long Elements => Domain.Aggregate(1L, (n, d) => n * d);
}
