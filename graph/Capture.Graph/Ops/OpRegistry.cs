using System.Collections.Frozen;

namespace Capture.Graphs;

/// <summary>
/// Every op Capture knows, by Python path ("torch.add") and by Tensor method name ("add"). Each
/// family of ops is registered by one partial file under Registry/. Ops outside it enter graphs as
/// <see cref="OpDef.Opaque"/>.
/// </summary>
public static partial class OpRegistry
{
    private static readonly IReadOnlyDictionary<string, OpDef> ByName;
    private static readonly IReadOnlyDictionary<string, OpDef> ByMethodName;

    static OpRegistry()
    {
        // filled as families register (in-place ops look up their functional op), frozen at the end
        var byName = new Dictionary<string, OpDef>();
        var byMethodName = new Dictionary<string, OpDef>();
        (ByName, ByMethodName) = (byName, byMethodName);
        void Register(OpDef op)
        {
            if (!byName.TryAdd(op.Name, op)) throw new InvalidOperationException($"op {op.Name} registered twice");
            if (op.MethodName is { } m && !byMethodName.TryAdd(m, op))
                throw new InvalidOperationException($"Tensor.{m} registered twice ({byMethodName[m].Name}, {op.Name})");
        }
        foreach (var op in PointwiseOps().Concat(BinaryOps()).Concat(ReductionOps()).Concat(LinearAlgebraOps())
                     .Concat(NormalizationOps()).Concat(ConvolutionOps()).Concat(ViewOps()).Concat(IndexingOps())
                     .Concat(CreationOps()).Concat(ConversionOps()).Concat(EmbeddingOps()).Concat(FusedOps()).Concat(GlobalStateOps()).Concat(BackwardOps()).Concat(HardActivationOps()).Concat(OneDnnOps()))
            Register(op);
        foreach (var op in InPlaceOps().Concat(HardActivationInPlaceOps())) Register(op);
        ByName = byName.ToFrozenDictionary();
        All = [.. byName.Values];
        ByMethodName = byMethodName.ToFrozenDictionary();
    }

    public static IReadOnlyCollection<OpDef> All { get; }

    public static OpDef Get(string name) =>
        ByName.TryGetValue(name, out var op) ? op : throw new KeyNotFoundException($"no op named '{name}' in the registry");

    public static bool TryGet(string name, out OpDef op) => ByName.TryGetValue(name, out op!);

    /// <summary>The op behind a Tensor method ("view" -> Tensor.view, "add" -> torch.add).</summary>
    public static bool TryGetMethod(string methodName, out OpDef op) => ByMethodName.TryGetValue(methodName, out op!);

    /// <summary>
    /// The op name for a Python callable known by its qualified name: the public name of torch's C
    /// bindings ("torch._C._nn.gelu" -> "torch.nn.functional.gelu"), torch.* and operator.* names
    /// as they are (opaque when outside the registry); null for callables that are not torch's.
    /// </summary>
    public static string? NameForPython(string qualifiedName)
    {
        var name = qualifiedName;
        if (name.StartsWith("torch._C._nn.", StringComparison.Ordinal) || name.StartsWith("torch._C._VariableFunctions.", StringComparison.Ordinal))
        {
            var shortName = name[(name.LastIndexOf('.') + 1)..];
            foreach (var candidate in new[] { "torch." + shortName, "torch.nn.functional." + shortName })
                if (TryGet(candidate, out _)) return candidate;
            return name.StartsWith("torch._C._VariableFunctions.", StringComparison.Ordinal) ? "torch." + shortName : name;
        }
        if (name.StartsWith("torch.", StringComparison.Ordinal) || name.StartsWith("operator.", StringComparison.Ordinal)) return name;
        if (name.StartsWith("_operator.", StringComparison.Ordinal)) return "operator." + name[10..];
        return null;
    }

    /// <summary>The registry's op, or an opaque op for names outside it.</summary>
    public static OpDef GetOrOpaque(string name) => TryGet(name, out var op) ? op : OpDef.Opaque(name);

    private static OpDef Def(string name, string schema, OpCategory category, ShapeRule rule, string? method = null, Decomposition? decompose = null, string? note = null) => new()
    {
        Note = note,
        Name = name,
        Schema = Schema.Parse(schema),
        Category = category,
        Rule = rule,
        MethodName = method,
        Decompose = decompose,
    };

    /// <summary>A method-only op ("Tensor.view"), called as x.view(...).</summary>
    private static OpDef Method(string method, string schema, OpCategory category, ShapeRule rule) =>
        Def("Tensor." + method, schema, category, rule, method);
}
