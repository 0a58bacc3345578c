using System.Text;

namespace Capture.Graphs;

/// <summary>What a fused kernel computes, which decides its loop nest.</summary>
public enum FusionKind
{
    /// <summary>Elementwise ops over one iteration domain.</summary>
    Pointwise,

    /// <summary>
    /// Reductions over the same rows (full domain to reduced domain), with pointwise prologues on the
    /// full domain and epilogues on either (softmax, layer_norm, log_softmax: one group).
    /// </summary>
    Reduction,

    /// <summary>A library call (matmul, linear, conv) with pointwise epilogues on its output.</summary>
    Extern,

    /// <summary>One op that fuses with nothing (creation, random, opaque, in-place, control flow).</summary>
    Single,
}

/// <summary>
/// One kernel: the nodes it computes (graph order), the values it writes to memory (read outside
/// the group or returned) and those it reads from memory. <see cref="Domain"/> is its iteration
/// domain (the full domain of a reduction), <see cref="Reduced"/> the domain its reductions produce.
/// <see cref="Recomputed"/> are cheap broadcast producers evaluated per element of the domain
/// instead of stored.
/// </summary>
public sealed record FusionGroup(
    int Id,
    FusionKind Kind,
    Shape? Domain,
    Shape? Reduced,
    EquatableList<string> Nodes,
    EquatableList<string> Outputs,
    EquatableList<string> Inputs,
    EquatableList<string> Recomputed)
{
    public override string ToString()
    {
        var domain = Domain is null ? "" : Reduced is null ? $" {Domain}" : $" {Domain} -> {Reduced}";
        return $"g{Id} {Kind.ToString().ToLowerInvariant()}{domain}: {string.Join(", ", Nodes)}";
    }
}

/// <summary>
/// The fusion annotation the backends read: kernels in an order that runs every group after the
/// groups it reads from. Nodes outside every group need no kernel (views alias their input,
/// placeholders, constants, grad-mode switches).
/// </summary>
public sealed class FusionPlan(IReadOnlyList<FusionGroup> groups)
{
    private readonly Dictionary<string, FusionGroup> _byNode =
        groups.SelectMany(g => g.Nodes.Select(n => (n, g))).ToDictionary(p => p.n, p => p.g);

    /// <summary>Kernels in execution order.</summary>
    public IReadOnlyList<FusionGroup> Groups { get; } = groups;

    public FusionGroup? GroupOf(string node) => _byNode.GetValueOrDefault(node);

    /// <summary>One line per kernel: "g1 extern [8, 32]: linear, relu".</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var g in Groups) text.Append(g).Append('\n');
        return text.ToString();
    }
}
