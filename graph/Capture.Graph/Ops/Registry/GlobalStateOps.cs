namespace Capture.Graphs;

// Global state a graph changes while it runs: grad mode (torch.no_grad() / torch.enable_grad()
// blocks become a pair of _set_grad_enabled calls around their ops, as in TorchDynamo's graphs).
// These nodes have no result and no users, and must never be removed or reordered across others.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> GlobalStateOps()
    {
        yield return Def("torch._C._set_grad_enabled", "bool mode", OpCategory.GlobalState, _ => NoneMeta.Instance,
            note: "global state: sets grad mode for the ops after it; ops under grad mode off make results that do not require grad");
    }
}

/// <summary>How grad mode shapes metadata, for the builder and the verifier alike.</summary>
public static class GradModeRule
{
    /// <summary>The mode a node sets, or null when it is not a grad-mode node.</summary>
    public static bool? Sets(OpDef op, IReadOnlyList<Arg> args) =>
        op == Ops.SetGradEnabled && args is [BoolArg b] ? b.Value : null;

    /// <summary>Under grad mode off results do not require grad; an in-place op's result is its own (unchanged) argument.</summary>
    public static ValueMeta Apply(OpDef op, ValueMeta meta, bool enabled) => enabled || op.IsInPlace ? meta : NoGrad(meta);

    private static ValueMeta NoGrad(ValueMeta meta) => meta switch
    {
        TensorMeta t => t with { RequiresGrad = false },
        TupleMeta t => new TupleMeta(t.Items.Select(NoGrad).ToEquatableList()),
        _ => meta,
    };
}
