namespace Capture.Codegen;

/// <summary>An expression a kernel computes per element of its iteration domain.</summary>
public abstract record KExpr(DType Type);

/// <summary>Element of kernel operand <see cref="Operand"/> at the current index (broadcast dims have stride 0).</summary>
public sealed record KLoad(int Operand, DType Type) : KExpr(Type);

/// <summary>
/// A literal (a Python number in the graph) in <see cref="KExpr.Type"/>. For an integer or bool
/// type, <see cref="Integer"/> is its exact value there: a Python int wrapped to the type's width as
/// torch converts it (int32 + 2**40 adds 0), beyond what a double holds exactly.
/// </summary>
public sealed record KConst(double Value, DType Type) : KExpr(Type)
{
    public long? Integer { get; init; }

    /// <summary>A Python number as a constant of <paramref name="type"/>, converted as torch converts a scalar.</summary>
    public static KConst Of(double value, long? integer, DType type) => type switch
    {
        DType.Int64 => new KConst(value, type) { Integer = integer ?? (long)value },
        DType.Int32 => new KConst(value, type) { Integer = unchecked((int)(integer ?? (long)value)) },
        DType.Bool => new KConst(value, type) { Integer = (integer is { } i ? i != 0 : value != 0) ? 1 : 0 },
        _ => new KConst(integer is { } exact ? exact : value, type),
    };

    /// <summary>The value as an integer of the type (integer and bool types).</summary>
    public long IntegerValue => Integer ?? (long)Value;
}

/// <summary>The value of an earlier statement of the body.</summary>
public sealed record KTemp(int Index, DType Type) : KExpr(Type);

/// <summary>A conversion to another element type (torch's casting rules: float to int truncates, nonzero is true).</summary>
public sealed record KCast(KExpr Value, DType Type) : KExpr(Type);

/// <summary>An elementwise function (exp, neg, relu...) of its operands, computed in <see cref="KExpr.Type"/>
/// except comparisons, which compute in their operands' type and give bool.</summary>
public sealed record KCall(KernelFunction Function, EquatableList<KExpr> Args, DType Type) : KExpr(Type);

/// <summary>
/// The sum, max or min of an element expression over a reduction kernel's row (the reduced dims);
/// only the whole value of a row statement.
/// </summary>
public sealed record KReduce(KernelReduction Function, KExpr Value, DType Type) : KExpr(Type);

/// <summary>
/// One statement: the value of graph node <see cref="Node"/>, per element of the domain, or once
/// per row (<see cref="Row"/>: a reduction, or arithmetic on the reduced domain) in a reduction kernel.
/// </summary>
public sealed record KStatement(string Node, KExpr Value, bool Row = false);

/// <summary>
/// A kernel operand: a tensor read or written, with its element type and the stride its metadata
/// gives it along the domain's innermost dim (0 when broadcast along it, 1 when contiguous there;
/// null when unknown). The emitter vectorizes for those strides and checks them at run time.
/// A <see cref="Row"/> operand of a reduction kernel has the reduced domain's shape: one element
/// per row, read or written by row statements. A <see cref="RowBroadcast"/> operand of a reduction
/// kernel is broadcast along the innermost outer dim (size 1 or no dim there: a layer_norm's weight),
/// so the next row reads the same elements.
/// </summary>
public sealed record KOperand(string Value, DType Type, bool IsOutput, long? InnerStride = null, bool Row = false, bool RowBroadcast = false);

/// <summary>
/// A pointwise kernel: a loop nest over <see cref="Domain"/> evaluating <see cref="Body"/> per
/// element and storing the statements named in <see cref="Stores"/> (statement index, output
/// operand). Operands are addressed through strides given at run time, in elements, broadcast to
/// the domain (0 on broadcast dims).
/// A reduction kernel (<see cref="Reduced"/> set: the shape its reductions produce, with or
/// without the kept dims) reduces the last <see cref="ReducedDims"/> dims of the domain: its loop
/// nest runs over rows (the outer dims) and, per row, makes one pass over the row for each level
/// of reductions that depend on one another (softmax: max, then sum of exp) and a last pass that
/// stores. Its operands' reduced dims are collapsed into one at run time (when their strides allow).
/// </summary>
public sealed record Kernel(string Name, int Group, EquatableList<long> Domain, EquatableList<KOperand> Operands,
    EquatableList<KStatement> Body, EquatableList<(int Statement, int Operand)> Stores,
    int ReducedDims = 0, EquatableList<long>? Reduced = null)
{
    /// <summary>
    /// A pointwise kernel's loop order when it is not the graph's dim order: the kernel's dim d is the
    /// graph value's dim <c>Permutation[d]</c>, so that its innermost loop walks memory in order (a
    /// channels-last result loops N, H, W, C). <see cref="Domain"/> is in the kernel's order; the
    /// operands' strides, given in the graph's order, are permuted the same way at launch. Null: the
    /// graph's order.
    /// </summary>
    public EquatableList<int>? Permutation { get; init; }

    /// <summary>
    /// A pointwise kernel over dynamic sizes: its domain as sizes, some symbolic (<c>[s0, 64]</c>). It
    /// serves every size: the launch evaluates the domain for the call's sizes and passes it, with the
    /// work items it splits into (<see cref="KernelSchedule.RuntimeWorkItems"/>), after the operands'
    /// strides (<see cref="SizesAt"/>); <see cref="Domain"/> then holds 0 for each symbolic size and is
    /// read for nothing but its rank (and a reduction's row, whose dims stay constants). Null: the sizes
    /// are the constants of <see cref="Domain"/>.
    /// </summary>
    public EquatableList<Dim>? SymbolicDomain { get; init; }

    /// <summary>A reduction kernel's <see cref="Reduced"/> shape as sizes, when its outer dims are dynamic (its reduced dims are not).</summary>
    public EquatableList<Dim>? SymbolicReduced { get; init; }

    /// <summary>A reduction kernel whose row (the reduced dims) has a dynamic size: its length is read at run time.</summary>
    public bool DynamicRow => Reduced is not null && SymbolicDomain is { } d && d.Skip(OuterRank).Any(x => !x.IsConcrete);

    /// <summary>Where a kernel over dynamic sizes finds its sizes in the strides array: after each operand's.</summary>
    public int SizesAt => Operands.Count * (Reduced is null ? Domain.Count : OuterRank + 1);

    /// <summary>The domain as printed: symbolic sizes by name.</summary>
    public string DomainText => "[" + string.Join(", ", SymbolicDomain?.Select(d => d.ToString()) ?? Domain.Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";

    /// <summary>The domain in the graph's dim order.</summary>
    public IReadOnlyList<long> GraphDomain
    {
        get
        {
            if (Permutation is not { } perm) return Domain;
            var sizes = new long[Domain.Count];
            for (var d = 0; d < perm.Count; d++) sizes[perm[d]] = Domain[d];
            return sizes;
        }
    }

    public long Elements => Domain.Aggregate(1L, (n, d) => n * d);

    /// <summary>The outer dims of a reduction kernel (all dims of a pointwise one).</summary>
    public int OuterRank => Domain.Count - ReducedDims;

    /// <summary>Elements per row of a reduction kernel.</summary>
    public long RowLength => Domain.Skip(OuterRank).Aggregate(1L, (n, d) => n * d);
}
