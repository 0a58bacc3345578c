namespace Capture.Graphs;

// Decomposition to core ops: a call whose op has a registry decomposition (gelu, softmax,
// log_softmax, logsumexp, layer_norm, batch_norm...) is replaced by its parts, for the ops the
// backend asks for (PassContext.Decompose). A decomposition is kept only when its result has the
// call's metadata exactly (strides and requires_grad included), so nothing after it changes.
//   before: g = gelu(x)      after: t0 = mul(x, 0.5); ...; g = mul(t0, add(tanh(...), 1))
public sealed class DecomposePass : IGraphPass
{
    public string Name => "decompose";

    public PassResult Run(Graph graph, PassContext context)
    {
        if (context.Decompose is not { } wanted) return new PassResult(graph);
        // a decomposition may be made of ops that decompose too (a fused layer's linear and layer_norm):
        // again until nothing changes (a few rounds at most)
        int removed = 0, added = 0, rewritten = 0;
        for (var round = 0; round < 4; round++)
        {
            var result = Once(graph, wanted);
            if (result.Rewritten == 0) break;
            graph = result.Graph;
            removed += result.Removed;
            added += result.Added;
            rewritten += result.Rewritten;
        }
        return new PassResult(graph, Removed: removed, Added: added, Rewritten: rewritten);
    }

    private static PassResult Once(Graph graph, Func<OpDef, bool> wanted) =>
        Rebuilt.EachCall(graph, (builder, call) => call.Op.Decompose is { } decompose && wanted(call.Op)
            ? decompose(builder, OpCall.Bind(call.Op, call.Args, call.Kwargs, builder.MetaOf))
            : null);
}
