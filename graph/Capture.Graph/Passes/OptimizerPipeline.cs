namespace Capture.Graph;

/// <summary>
/// The optimizer's passes in order. Layout, fusion grouping and memory planning go at the place marked.
/// </summary>
public static class OptimizerPipeline
{
    public static IReadOnlyList<IGraphPass> Passes { get; } =
    [
        new DecomposePass(),                       // first, so that the rules below see the parts
        new FoldConstantsPass(),                   // with the context's evaluator; before the rewrites, which then see constants
        new SimplifyAlgebraPass(),                 // before CSE: rewrites make equal expressions visible
        new EliminateCommonSubexpressionsPass(),
        new EliminateDeadCodePass(),               // after the rewrites and CSE, which orphan nodes
        // (layout, fusion grouping, memory planning: they read the final graph)
    ];

    /// <summary>Runs every pass; <paramref name="context"/> records what each did.</summary>
    public static Graph Optimize(Graph graph, PassContext context)
    {
        foreach (var pass in Passes) graph = context.Run(pass, graph).Graph;
        return graph;
    }
}
