namespace Capture.Graphs;

/// <summary>What kind of computation an op is; the optimizer and backends read it.</summary>
public enum OpCategory
{
    Pointwise, Reduction, View, Extern, Creation, Random, Composite, GlobalState, Opaque,

    /// <summary>
    /// A library routine on values in a layout only that library reads (oneDNN's blocked tensors, see
    /// OneDnnLayoutPass): no kernel reads or fuses with it, nothing folds or differentiates it.
    /// </summary>
    Library,
}

/// <summary>Computes the metadata of an op's result from its bound arguments; throws ShapeError
/// where torch would raise, NotSupportedException where Capture cannot (yet).</summary>
public delegate ValueMeta ShapeRule(OpCall call);

/// <summary>Emits an op as core ops into a builder and returns the result (a decomposition).</summary>
public delegate Arg Decomposition(GraphBuilder builder, OpCall call);

/// <summary>
/// A vector-Jacobian product: given the call, its output and the gradient flowing into that output,
/// emits the gradient of each argument (null where an argument takes no gradient).
/// </summary>
public delegate IReadOnlyList<Arg?> DerivativeRule(GraphBuilder builder, OpCall call, Arg output, Arg gradOutput);

/// <summary>
/// One op of the registry. <see cref="Name"/> is its Python path ("torch.add",
/// "torch.nn.functional.gelu", "operator.getitem"); method-only ops are named "Tensor.view".
/// <see cref="MethodName"/> is set when the op is also (or only) a Tensor method.
/// </summary>
public sealed class OpDef : IEquatable<OpDef>
{
    public required string Name { get; init; }
    public string? MethodName { get; init; }
    public required Schema Schema { get; init; }
    public required OpCategory Category { get; init; }
    public ShapeRule? Rule { get; init; }

    /// <summary>Core ops this op is made of, for backends that want parts; null for core ops.</summary>
    public Decomposition? Decompose { get; init; }

    /// <summary>Index of the argument an in-place op writes and returns (add_, copy_); null if pure.</summary>
    public int? MutatedArg { get; init; }

    /// <summary>The functional op an in-place variant stands for (add_ -> add).</summary>
    public string? FunctionalName { get; init; }

    /// <summary>The vector-Jacobian product (graph/Autograd/Derivatives); null where the op has none.</summary>
    public DerivativeRule? Derivative => Derivatives.For(this);

    /// <summary>What a user must know about using this op in a graph (random ops, say).</summary>
    public string? Note { get; init; }

    public bool IsFunction => !Name.StartsWith("Tensor.", StringComparison.Ordinal);
    public bool IsInPlace => MutatedArg is not null;

    /// <summary>
    /// An opaque op's result may share memory with an argument (a view such as movedim, or the
    /// argument itself): passes treat it as a view. Known from torch's fake tensors at capture; true
    /// where not known (a graph read back from text).
    /// </summary>
    public bool Aliases { get; init; }

    /// <summary>An opaque op that draws from the random generator (torch ran a nondeterministic_seeded aten op inside it): never run twice for a gradient.</summary>
    public bool DrawsRandom { get; init; }

    /// <summary>An op outside the registry (metadata from torch's fake tensors; backends call torch).</summary>
    public static OpDef Opaque(string name, bool aliases = true, bool drawsRandom = true) => new()
    {
        Name = name,
        Schema = Schema.Parse("Any... args"),
        Category = OpCategory.Opaque,
        Aliases = aliases,
        DrawsRandom = drawsRandom,
    };

    /// <summary>The opaque op a fake-tensor run described.</summary>
    public static OpDef Opaque(string name, OpaqueResult inferred) => Opaque(name, inferred.Aliases, inferred.DrawsRandom);

    public bool Equals(OpDef? other) => other is not null && Name == other.Name;
    public override bool Equals(object? obj) => obj is OpDef o && Equals(o);
    public override int GetHashCode() => Name.GetHashCode();
    public static bool operator ==(OpDef? a, OpDef? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(OpDef? a, OpDef? b) => !(a == b);
    public override string ToString() => Name;
}

/// <summary>
/// What torch's fake tensors tell of an opaque call: its result's metadata, whether the result shares
/// memory with an argument, the named tuple type it returns ("torch.return_types.topk"), if any, and
/// whether it draws from the random generator.
/// </summary>
public sealed record OpaqueResult(ValueMeta Meta, bool Aliases, string? TupleType = null, bool DrawsRandom = false);
