using System.Diagnostics;

namespace Capture.Graphs;

/// <summary>One optimizer pass: a new graph from an old one, and what it changed.</summary>
public interface IGraphPass
{
    string Name { get; }

    PassResult Run(Graph graph, PassContext context);
}

/// <summary>An analysis over the final graph whose result backends read (fusion groups, the memory plan).</summary>
public interface IGraphAnalysis<out T>
{
    string Name { get; }

    T Run(Graph graph, PassContext context);
}

/// <summary>A pass's output graph and its counts of nodes removed, added and rewritten (replaced by a simpler form).</summary>
public sealed record PassResult(Graph Graph, int Removed = 0, int Added = 0, int Rewritten = 0)
{
    public bool Changed => Removed + Added + Rewritten > 0;

    /// <summary>What the pass did, in the user's terms, when it did something worth a line in explain ("12 batch norms folded into convolutions").</summary>
    public string? Note { get; init; }
}

/// <summary>What one pass did in a pipeline run: `--passes` prints these.</summary>
public sealed record PassRecord(string Pass, int Removed, int Added, int Rewritten, int NodesAfter, TimeSpan Time, string? Summary = null)
{
    /// <summary>The pass's own account of what it did (<see cref="PassResult.Note"/>), or null.</summary>
    public string? Note { get; init; }

    public override string ToString() => Summary is null
        ? $"{Pass,-34} -{Removed} +{Added} ~{Rewritten}  ({NodesAfter} nodes, {Time.TotalMilliseconds:0.0} ms){(Note is null ? "" : $": {Note}")}"
        : $"{Pass,-34} {Summary}  ({Time.TotalMilliseconds:0.0} ms)";
}

/// <summary>Shared by the passes of one pipeline run: options and the per-pass record.</summary>
public sealed class PassContext
{
    /// <summary>Run the verifier after every pass and fail on its first issue (tests do).</summary>
    public bool VerifyEachPass { get; init; }

    public List<PassRecord> Records { get; } = [];

    /// <summary>Which ops the decompose pass splits into core ops (what the backend wants in parts); none when null.</summary>
    public Func<OpDef, bool>? Decompose { get; init; }

    /// <summary>Computes constant subgraphs for constant folding (the runtime's, on torch); no folding when null.</summary>
    public IConstantEvaluator? Constants { get; init; }

    /// <summary>
    /// Treat get_attr values (parameters and buffers of the root module) as constants: frozen
    /// weights in inference, where they will not change between calls.
    /// </summary>
    public bool FreezeAttributes { get; init; }

    /// <summary>
    /// Run frozen convolutions channels-last (<see cref="ChannelsLastPass"/>). The runtime turns it on
    /// unless <c>CAPTURE_CHANNELS_LAST=0</c>: with oneDNN called directly (<see cref="OneDnnConvolutionPass"/>)
    /// and kernels on torch's OpenMP team, NHWC was 1.2-1.3x faster than NCHW on mobilenet_v2 and
    /// efficientnet_b0 here (depthwise and pointwise convolutions gain most) and as fast on resnet18.
    /// </summary>
    public bool ChannelsLast { get; init; }

    /// <summary>oneDNN is built into torch: frozen convolutions may call it directly (<see cref="OneDnnConvolutionPass"/>).</summary>
    public bool OneDnn { get; init; }

    /// <summary>
    /// Run regions of frozen convolutions in oneDNN's blocked layout with prepacked weights
    /// (<see cref="OneDnnLayoutPass"/>), where <see cref="OneDnn"/>. The runtime turns it on unless
    /// <c>CAPTURE_ONEDNN_LAYOUT=0</c>.
    /// </summary>
    public bool OneDnnLayout { get; init; }

    /// <summary>Runs one analysis and records it with <paramref name="summary"/> of its result.</summary>
    public T Analyze<T>(IGraphAnalysis<T> analysis, Graph graph, Func<T, string> summary)
    {
        var watch = Stopwatch.StartNew();
        var result = analysis.Run(graph, this);
        Records.Add(new PassRecord(analysis.Name, 0, 0, 0, graph.Nodes.Count, watch.Elapsed, summary(result)));
        return result;
    }

    /// <summary>Runs one pass, records it, and verifies the result when asked.</summary>
    public PassResult Run(IGraphPass pass, Graph graph)
    {
        var watch = Stopwatch.StartNew();
        var result = pass.Run(graph, this);
        Records.Add(new PassRecord(pass.Name, result.Removed, result.Added, result.Rewritten, result.Graph.Nodes.Count, watch.Elapsed) { Note = result.Note });
        if (VerifyEachPass && Verifier.Verify(result.Graph) is [var first, ..])
            throw new InvalidOperationException($"{pass.Name} made an invalid graph: {first}\n{CodePrinter.Print(result.Graph)}");
        return result;
    }
}

/// <summary>What an op does besides computing its result, which decides what passes may do with it.</summary>
public static class OpEffects
{
    /// <summary>
    /// Pure: its result depends only on its arguments and computing it changes nothing else, so it
    /// may be removed when unused and merged with an identical call. Not pure: in-place ops and
    /// setitem (they write), global-state ops (grad mode), random ops (they advance the generator,
    /// so removing one changes every later random value) and opaque ops (Capture cannot tell).
    /// </summary>
    public static bool IsPure(OpDef op) =>
        !op.IsInPlace && op.Category is not (OpCategory.GlobalState or OpCategory.Random or OpCategory.Opaque);
}

/// <summary>The end of a pass that rebuilds a graph through a builder while renaming replaced values.</summary>
internal static class Rebuilt
{
    /// <summary>
    /// A rewrite of <paramref name="call"/> made through the builder (its new nodes at the user's line),
    /// kept when its value has the call's metadata exactly; otherwise (or when it fails a shape rule or is
    /// not supported) its nodes are taken back and null returned. <paramref name="added"/>: nodes it made.
    /// </summary>
    public static RefArg? Rewrite(GraphBuilder builder, CallOp call, Func<Arg?> rewrite, out int added)
    {
        var mark = builder.Mark();
        builder.Source = call.Source;
        added = 0;
        try
        {
            if (rewrite() is RefArg r && builder.MetaOf(r).Equals(call.Meta))
            {
                added = builder.Mark() - mark;
                return r;
            }
        }
        catch (Exception e) when (e is ShapeError or NotSupportedException) { }
        builder.Truncate(mark);
        return null;
    }

    /// <summary>
    /// The graph rebuilt with each call <paramref name="rewrite"/> gives a replacement for (made through
    /// <see cref="Rewrite"/>: kept where it has the call's metadata exactly), its readers reading the
    /// replacement; a null from <paramref name="rewrite"/> keeps the call. The graph itself when nothing changed.
    /// </summary>
    public static PassResult EachCall(Graph graph, Func<GraphBuilder, CallOp, Arg?> rewrite)
    {
        var builder = new GraphBuilder();
        builder.Reserve(graph.Nodes.Select(n => n.Name));
        var renames = new Dictionary<string, string>();
        int added = 0, rewritten = 0;
        foreach (var original in graph.Nodes.Where(n => n is not Output))
        {
            var node = original.Rename(n => renames.GetValueOrDefault(n, n));
            if (node is CallOp call && Rewrite(builder, call, () => rewrite(builder, call), out var made) is { } r)
            {
                renames[call.Name] = r.Name;
                added += made;
                rewritten++;
                continue;
            }
            builder.Add(node);
        }
        return rewritten == 0 ? new PassResult(graph) : new PassResult(WithOutput(builder, graph, renames), Removed: rewritten, Added: added, Rewritten: rewritten);
    }

    /// <summary>The builder's nodes, then the old output with its references renamed (its metadata and line kept).</summary>
    public static Graph WithOutput(GraphBuilder builder, Graph old, IReadOnlyDictionary<string, string> renames)
    {
        var output = (Output)old.Output.Rename(n => renames.GetValueOrDefault(n, n));
        return new Graph(builder.Output(output.Value).Nodes.SkipLast(1).Append(output));
    }
}
