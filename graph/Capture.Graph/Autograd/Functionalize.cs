namespace Capture.Graphs;

/// <summary>
/// In-place ops made functional before differentiation: <c>y = x.add_(z)</c> becomes
/// <c>y = add(x, z)</c> and every later read of x reads y. Only where nothing else can see the
/// write: x is a value the graph computed (not an input, whose caller would see it), it is not a
/// view, and no view of it is taken (a view would see the write). Anything else is refused.
/// </summary>
public static class Functionalize
{
    public static Graph Apply(Graph graph)
    {
        if (!graph.Nodes.OfType<CallOp>().Any(c => c.Op.IsInPlace)) return graph;
        // tensors some view reads (getitem of a tuple takes an item, not a view)
        // (an opaque op whose result shares memory with an argument counts as a view of every tensor it reads)
        var viewed = graph.Nodes.OfType<CallOp>().Where(c => c.Op.Category == OpCategory.View && graph.MetaOf(c.Args[0]) is TensorMeta)
            .SelectMany(c => c.Args[0].References())
            .Concat(graph.Nodes.OfType<CallOp>().Where(c => c.Op is { Category: OpCategory.Opaque, Aliases: true }).SelectMany(c => c.Inputs))
            .ToHashSet();
        var b = new GraphBuilder();
        b.Reserve(graph.Nodes.Select(n => n.Name));
        var renames = new Dictionary<string, string>();
        foreach (var original in graph.Nodes.Where(n => n is not Output))
        {
            var node = original.Rename(n => n == original.Name ? n : renames.GetValueOrDefault(n, n));
            if (node is not CallOp { Op.IsInPlace: true } call)
            {
                b.Add(node);
                continue;
            }
            var where = call.Source is { } s ? $" at {s}" : "";
            var target = call.Args[call.Op.MutatedArg!.Value] as RefArg
                ?? throw new NotSupportedException($"{call.Op.Name}{where} writes into a value that is not a graph value");
            var written = b[target.Name];
            var originalTarget = renames.FirstOrDefault(p => p.Value == target.Name && p.Key != p.Value).Key ?? target.Name;
            if (written is Placeholder or GetAttr or Constant)
                throw new NotSupportedException($"{call.Op.Name}{where} writes into the input {originalTarget} in place; differentiate an out-of-place form ({call.Op.FunctionalName})");
            if (written is CallOp { Op.Category: OpCategory.View } or CallOp { Op: { Category: OpCategory.Opaque, Aliases: true } } || viewed.Contains(originalTarget) || viewed.Contains(target.Name))
                throw new NotSupportedException($"{call.Op.Name}{where} writes into {originalTarget}, which shares memory with a view");
            b.Source = call.Source;
            var meta = (TensorMeta)written.Meta;
            var value = Functional(b, call, meta);
            if (Derivatives.Meta(b, value).DType != meta.DType)
                value = b.Call(Ops.To, [value, new DTypeArg(meta.DType)], method: true);
            var result = ((RefArg)value).Name;
            // x and every earlier name of x now read the new value, as does the in-place call's own result
            foreach (var key in renames.Where(p => p.Value == target.Name).Select(p => p.Key).ToList()) renames[key] = result;
            renames[target.Name] = result;
            renames[call.Name] = result;
        }
        return Rebuilt.WithOutput(b, graph, renames);
    }

    private static Arg Functional(GraphBuilder b, CallOp call, TensorMeta destination)
    {
        var sizes = Arg.Sizes(destination.Shape.Dims);
        Arg Spread(Arg value) => b.MetaOf(value) is TensorMeta ? b.Call(Ops.Expand, [value, sizes], method: true) : b.Call(Ops.FullLike, call.Args[0], value);
        var bound = OpCall.Bind(call.Op, call.Args, call.Kwargs, b.MetaOf);
        return call.Op.FunctionalName switch
        {
            "copy" => Spread(bound.Raw("src")),
            "fill" => Spread(bound.Raw("value")),
            "zero" => b.Call(Ops.ZerosLike, call.Args[0]),
            var name => b.Call(OpRegistry.Get(name!), call.Args, call.Kwargs),
        };
    }
}
