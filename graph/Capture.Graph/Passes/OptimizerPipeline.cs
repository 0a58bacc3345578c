namespace Capture.Graphs;

/// <summary>An optimized graph with the annotation backends read: its fusion groups, one kernel or library call each.</summary>
public sealed record OptimizedGraph(Graph Graph, FusionPlan Fusion);

/// <summary>
/// The optimizer's passes in order, then fusion grouping of the final graph. Memory planning
/// (<see cref="PlanMemoryPass"/>) is not part of it: kernels allocate each output as a torch tensor,
/// so a plan would describe buffers nothing allocates.
/// </summary>
public static class OptimizerPipeline
{
    public static IReadOnlyList<IGraphPass> Passes { get; } =
    [
        new FoldBatchNormPass(),                   // frozen batch norms into their convolutions, before decomposition splits them
        new DecomposePass(),                       // so that the rules below see the parts
        new FoldConstantsPass(),                   // with the context's evaluator; before the rewrites, which then see constants
        new PixelConvolutionPass(),                // after folding (constant weights); before the oneDNN and channels-last rewrites of convolutions
        new OneDnnLayoutPass(),                    // after folding (constant weights); before channels-last, which then leaves its regions alone
        new ChannelsLastPass(),                    // after folding, which made the convolutions' weights constants
        new OneDnnConvolutionPass(),               // after channels-last, which looks for conv2d
        new SimplifyAlgebraPass(),                 // before CSE: rewrites make equal expressions visible
        new EliminateCommonSubexpressionsPass(),
        new ChooseLayoutsPass(),                   // after CSE, so that one copy serves every reader
        new EliminateDeadCodePass(),               // rewrites, CSE and layout orphan nodes
        new OneDnnInPlacePass(),                   // last: no pass after it gives a value another reader
    ];

    /// <summary>Runs every pass; <paramref name="context"/> records what each did.</summary>
    public static Graph Optimize(Graph graph, PassContext context)
    {
        foreach (var pass in Passes) graph = context.Run(pass, graph).Graph;
        return graph;
    }

    /// <summary>The passes, then fusion grouping over the result.</summary>
    public static OptimizedGraph Run(Graph graph, PassContext context)
    {
        graph = Optimize(graph, context);
        var fusion = context.Analyze(new PlanFusionPass(), graph, f => $"{f.Groups.Count} kernels for {f.Groups.Sum(g => g.Nodes.Count)} nodes");
        return new OptimizedGraph(graph, fusion);
    }
}
