namespace Capture.Graphs;

// Channels-last feature maps for frozen convolutions (when PassContext.ChannelsLast: on unless CAPTURE_CHANNELS_LAST=0, see there): oneDNN runs a convolution on an NHWC input
// directly (no reorder into and out of its blocked format on every call), and torch's 2-d pools are
// several times faster on it. So, as torch.jit.optimize_for_inference converts a frozen CNN, a
// convolution with a constant weight and a float32 NCHW input with more than one pixel gets its
// input once in channels-last order:
//   before: y = conv2d(x, W)
//   after:  t = permute(x, [0, 2, 3, 1]).contiguous(); xc = permute(t, [0, 3, 1, 2]); y = conv2d(xc, W)
// Its result is channels-last too (torch's rule), and so is every pointwise op, pool and cat after
// it (their shape rules follow torch's), so a whole network converts once at its input.
// Every later node's metadata is inferred again; an output whose strides changed is made contiguous
// again when it was contiguous (the caller gets eager's layout). Anything that cannot follow (an op
// without a shape rule reading a changed value, a view the new strides do not allow, an output that
// was neither) leaves the graph as it was.
public sealed class ChannelsLastPass : IGraphPass
{
    public string Name => "channels-last convolutions";

    public PassResult Run(Graph graph, PassContext context)
    {
        if (!context.ChannelsLast) return new PassResult(graph);
        var nodes = graph.Nodes.ToDictionary(n => n.Name);
        if (context.Constants is null || !graph.Nodes.Any(n => n is CallOp c && Converts(c, nodes))) return new PassResult(graph);
        try { return Convert(graph); }
        catch (Exception e) when (e is ShapeError or NotSupportedException or KeyNotFoundException) { return new PassResult(graph); }
    }

    private static bool Converts(CallOp call, IReadOnlyDictionary<string, Node> nodes) =>
        call.Op == Ops.Conv2d && call.Args.Count >= 2 && call.Args[1] is RefArg w && nodes.GetValueOrDefault(w.Name) is Constant
        && call.Args[0] is RefArg x && nodes.GetValueOrDefault(x.Name)?.Meta is TensorMeta { Rank: 4, DType: DType.Float32, Shape.IsConcrete: true } input
        && input.Shape[2].Concrete() * input.Shape[3].Concrete() > 1 && !Layout.SuggestsChannelsLast(input);

    private static PassResult Convert(Graph graph)
    {
        var builder = new GraphBuilder();
        builder.Reserve(graph.Nodes.Select(n => n.Name));
        var byName = new Dictionary<string, Node>();
        var converted = new Dictionary<string, RefArg>();
        var changed = new HashSet<string>();
        int added = 0, rewritten = 0;
        foreach (var node in graph.Nodes.Where(n => n is not Output))
        {
            if (node is CallOp conv && Converts(conv, byName))
            {
                var input = (RefArg)conv.Args[0];
                if (!converted.TryGetValue(input.Name, out var channelsLast))
                {
                    builder.Source = conv.Source;
                    var mark = builder.Mark();
                    var nhwc = builder.Call(Ops.Contiguous, [builder.Call(Ops.Permute, [input, Arg.Ints(0, 2, 3, 1)])], method: true);
                    converted[input.Name] = channelsLast = builder.Call(Ops.Permute, [nhwc, Arg.Ints(0, 3, 1, 2)]);
                    added += builder.Mark() - mark;
                }
                var made = Reinferred(builder, conv with { Args = conv.Args.Skip(1).Prepend(channelsLast).ToEquatableList() });
                byName[made.Name] = made;
                if (!made.Meta.Equals(conv.Meta)) changed.Add(made.Name);
                rewritten++;
                continue;
            }
            var next = node;
            if (node is CallOp call && call.Inputs.Any(changed.Contains))
            {
                if (call.Op.Rule is null) return new PassResult(graph);
                next = Reinferred(builder, call);
                if (!next.Meta.Equals(call.Meta)) changed.Add(call.Name);
            }
            else if (node.Inputs.Any(changed.Contains)) return new PassResult(graph); // control flow, modules: no rule to follow
            else builder.Add(node);
            byName[node.Name] = next;
        }
        if (rewritten == 0) return new PassResult(graph);

        // the caller gets eager's layout: a contiguous output made channels-last is copied back
        var renames = new Dictionary<string, string>();
        foreach (var name in graph.Output.Inputs.Distinct().Where(changed.Contains))
        {
            var original = (TensorMeta)graph[name].Meta;
            if (original.Strides is null || !original.Strides.Equals(original.Shape.ContiguousStrides())) return new PassResult(graph);
            builder.Source = graph[name].Source;
            renames[name] = builder.Call(Ops.Contiguous, [new RefArg(name)], method: true).Name;
            added++;
        }
        var result = WeightsChannelsLast(Rebuilt.WithOutput(builder, graph, renames), out var weights);
        var convolutions = result.Nodes.Count(n => n is CallOp { Op: var op, Args: [RefArg x, ..] } && op == Ops.Conv2d && result[x.Name].Meta is TensorMeta t && Layout.SuggestsChannelsLast(t));
        return new PassResult(result, Added: added, Rewritten: rewritten)
        {
            Note = $"{convolutions} convolution{(convolutions == 1 ? "" : "s")} channels-last (input converted at {converted.Count} place{(converted.Count == 1 ? "" : "s")}, {weights} weight{(weights == 1 ? "" : "s")} stored channels-last)",
        };
    }

    /// <summary>
    /// A constant weight read only by convolutions of channels-last inputs laid out channels-last too:
    /// torch would otherwise copy it into that layout on every call (mkldnn_convolution makes the weight
    /// match the input's memory format).
    /// </summary>
    private static Graph WeightsChannelsLast(Graph graph, out int changed)
    {
        var count = 0;
        var readers = new Dictionary<string, List<CallOp>>();
        var other = new HashSet<string>();
        foreach (var node in graph.Nodes)
            foreach (var (input, i) in node.Arguments.Select((a, i) => (a, i)))
                foreach (var name in input.References())
                {
                    if (node is CallOp c && c.Op == Ops.Conv2d && i == 1 && input is RefArg) (readers.TryGetValue(name, out var l) ? l : readers[name] = []).Add(c);
                    else other.Add(name);
                }
        var nodes = graph.Nodes.Select(node =>
        {
            if (node is not Constant { Meta: TensorMeta { Rank: 4, Shape.IsConcrete: true } meta } k || other.Contains(k.Name) || !readers.TryGetValue(k.Name, out var convs)) return node;
            if (!convs.All(c => c.Args[0] is RefArg x && graph[x.Name].Meta is TensorMeta t && Layout.SuggestsChannelsLast(t))) return node;
            var strides = Layout.ChannelsLastStrides(meta.Shape.Concrete());
            if (strides.Equals(meta.Strides)) return node;
            count++;
            return k with { Meta = meta with { Strides = strides } };
        }).ToList();
        changed = count;
        return new Graph(nodes);
    }

    /// <summary>The call added to the builder with its metadata inferred from its (possibly new) inputs.</summary>
    private static CallOp Reinferred(GraphBuilder builder, CallOp call)
    {
        var meta = OpCall.Bind(call.Op, call.Args, call.Kwargs, builder.MetaOf).Infer();
        var made = call with { Meta = meta };
        builder.Add(made);
        return made;
    }
}
