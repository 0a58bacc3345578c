namespace Capture.Graphs;

// A frozen convolutional network runs in oneDNN's own layout, as torch.jit.optimize_for_inference runs
// a frozen TorchScript model: activations stay in oneDNN's blocked format (nChw8c/nChw16c) from one
// convolution to the next, and each convolution's weight is reordered for oneDNN once, at the first
// call, instead of on every call (what mkldnn_convolution on dense tensors does). On resnet18 at
// 1x3x224x224 that is TorchScript frozen's speed, ~1.5x torch's own convolutions here.
//   before: y = relu(add(conv2d(x, W1, b1), conv2d(x, W2, b2)))
//   after:  xb = to_blocked(x)
//           y  = to_dense(relu(add(conv2d(xb, W1, b1), conv2d(xb, W2, b2))))   (capture._onednn ops)
// The ops oneDNN runs on blocked tensors join a region: conv2d with constant weights (what
// OneDnnConvolutionPass would call directly), relu, sigmoid, add and mul of two same-shape tensors,
// max/avg pooling, adaptive average pooling to a size that divides the input, and hardtanh between
// finite bounds (ReLU6: what DecomposePass made of it, where(x < lo, lo, where(x > hi, hi, x)), is
// found again and runs as TorchScript's prim::MKLDNNHardTanh_, so MobileNets stay in one region; on
// channels that fill oneDNN's blocks only, as that op is wrong on padded ones). A value a region reads
// from outside is converted once (to_blocked); a region's value read by anything else, or returned, is
// converted back once (to_dense). A region is kept where it holds at least MinConvolutions convolutions
// and at most MaxConversionsPerConvolution conversions per convolution: a convolution between two
// conversions costs more than the weight reorder it saves. Float32 contiguous
// 4-d values without grad only, where oneDNN is built into torch (PassContext.OneDnnLayout). Runs
// before ChannelsLastPass (which then finds no convolution of a region to rewrite).
public sealed class OneDnnLayoutPass : IGraphPass
{
    /// <summary>The convolutions a region needs to be worth its conversions in and out.</summary>
    public const int MinConvolutions = 2;

    /// <summary>
    /// The conversions in and out a region may cost per convolution: a conversion reorders a whole
    /// activation, about what a weight reorder saves. resnet18 is one region of 20 convolutions and 2
    /// conversions (1.9x faster here); mobilenet_v2's ReLU6 (hardtanh, which oneDNN's blocked tensors do
    /// not take in torch 1.13) cuts it into regions of a few convolutions with as many conversions,
    /// which measured no faster than dense channels-last, and it stays so.
    /// </summary>
    public const double MaxConversionsPerConvolution = 0.25;

    public string Name => "oneDNN layout";

    public PassResult Run(Graph graph, PassContext context)
    {
        if (!context.OneDnn || !context.OneDnnLayout) return new PassResult(graph);
        var byName = graph.Nodes.ToDictionary(n => n.Name);
        // each op that could run blocked, in its blocked form (its blocked arguments at Activations)
        var blocked = new Dictionary<string, CallOp>();
        foreach (var node in graph.Nodes)
            if (node is CallOp call && BlockedForm(call, byName) is { } form) blocked[node.Name] = form;
        // a decomposed hardtanh: its outer where runs blocked; the comparisons and the inner where it
        // absorbs go with it (absorbed: node -> the blocked op that computes it)
        var absorbed = new Dictionary<string, string>();
        var uses = UseAnalysis.Of(graph);
        foreach (var node in graph.Nodes)
            if (node is CallOp call && Hardtanh(call, byName, uses, graph.Output.Inputs) is var (form, parts))
            {
                blocked[node.Name] = form;
                foreach (var part in parts) absorbed[part] = node.Name;
            }
        if (!blocked.Values.Any(b => b.Op == Ops.OneDnnConv2d)) return new PassResult(graph);

        // regions: blocked ops joined through the values they pass each other
        var parent = blocked.Keys.ToDictionary(k => k, k => k);
        string Find(string x)
        {
            while (parent[x] != x) x = parent[x] = parent[parent[x]];
            return x;
        }
        foreach (var (name, form) in blocked)
            foreach (var input in Activations(form).Where(blocked.ContainsKey))
                parent[Find(input)] = Find(name);
        var convolutions = blocked.Where(b => b.Value.Op == Ops.OneDnnConv2d).GroupBy(b => Find(b.Key)).ToDictionary(g => g.Key, g => g.Count());
        // the values that would cross each region's border: read from outside (to_blocked), read outside (to_dense)
        var crossing = blocked.Keys.GroupBy(Find).ToDictionary(g => g.Key, g =>
        {
            var members = g.ToHashSet();
            var ins = g.SelectMany(k => Activations(blocked[k])).Where(v => !members.Contains(v)).Distinct().Count();
            var outs = graph.Nodes.Where(n => !members.Contains(n.Name) && !(absorbed.TryGetValue(n.Name, out var by) && members.Contains(by)))
                .SelectMany(n => n.Inputs).Where(members.Contains).Distinct().Count();
            return ins + outs;
        });
        var kept = blocked.Keys.Where(k => convolutions.GetValueOrDefault(Find(k)) is var convs && convs >= MinConvolutions
            && crossing[Find(k)] <= convs * MaxConversionsPerConvolution).ToHashSet();
        if (kept.Count == 0) return new PassResult(graph);

        var nodes = new List<Node>(graph.Nodes.Count + 8);
        var taken = graph.Nodes.Select(n => n.Name).ToHashSet();
        var toBlocked = new Dictionary<string, string>();
        var toDense = new Dictionary<string, string>();
        string Fresh(string name)
        {
            var fresh = name;
            for (var i = 1; !taken.Add(fresh); i++) fresh = $"{name}_{i}";
            return fresh;
        }
        // a value converted once, where it is first read: the conversion goes just before that reader
        string Converted(string value, OpDef op, string suffix, Dictionary<string, string> copies)
        {
            if (!copies.TryGetValue(value, out var copy))
            {
                copies[value] = copy = Fresh(value + suffix);
                nodes.Add(new CallOp(copy, op, EquatableList.Of<Arg>(new RefArg(value)), EquatableList<Kwarg>.Empty, byName[value].Meta) { Source = byName[value].Source });
            }
            return copy;
        }
        // for a blocked op: a region's own value, else its blocked copy; for anything else: a region's value back dense
        string Blocked(string value) => kept.Contains(value) ? value : Converted(value, Ops.OneDnnToBlocked, "_blocked", toBlocked);
        string Dense(string value) => kept.Contains(value) ? Converted(value, Ops.OneDnnToDense, "_dense", toDense) : value;
        foreach (var node in graph.Nodes)
        {
            if (absorbed.TryGetValue(node.Name, out var absorber) && kept.Contains(absorber)) continue;
            if (kept.Contains(node.Name))
            {
                var form = blocked[node.Name];
                var activations = ActivationIndices(form.Op);
                var args = form.Args.Select((a, i) => activations.Contains(i) && a is RefArg r ? new RefArg(Blocked(r.Name)) : a).ToEquatableList();
                nodes.Add(form with { Args = args });
            }
            else
            {
                var own = node.Name;
                var renamed = node.Rename(n => n == own ? n : Dense(n));
                nodes.Add(renamed);
            }
        }
        var regions = kept.Select(Find).Distinct().Count();
        var convs = kept.Count(k => blocked[k].Op == Ops.OneDnnConv2d);
        return new PassResult(new Graph(nodes), Added: toBlocked.Count + toDense.Count, Rewritten: kept.Count)
        {
            Note = $"{convs} convolutions and {kept.Count - convs} other ops in oneDNN's blocked layout ({regions} region{(regions == 1 ? "" : "s")}, "
                + $"{toBlocked.Count} conversion{(toBlocked.Count == 1 ? "" : "s")} in, {toDense.Count} out; weights prepacked at the first call)",
        };
    }

    /// <summary>
    /// The graph with each blocked relu and add computed into its (first) input where nothing else reads
    /// that input (made by a blocked op, not returned): no new blocked tensor per op, as TorchScript's
    /// frozen graphs run relu_ and add_. Runs last (<see cref="OneDnnInPlacePass"/>), after the passes that
    /// could give a value another reader (CSE).
    /// </summary>
    public static PassResult InPlace(Graph graph, PassContext context)
    {
        var uses = UseAnalysis.Of(graph);
        var rewritten = 0;
        bool Consumable(Arg arg) => arg is RefArg r && graph[r.Name] is CallOp { Op.Category: OpCategory.Library } producer
            && producer.Op != Ops.OneDnnToDense && uses.UseCount(r.Name) == 1 && !graph.Output.Inputs.Contains(r.Name);
        var nodes = graph.Nodes.Select(node =>
        {
            if (node is not CallOp c || !InPlaceForms.TryGetValue(c.Op, out var inPlace) || !Consumable(c.Args[0])) return node;
            rewritten++;
            return c with { Op = inPlace };
        }).ToList();
        return rewritten == 0 ? new PassResult(graph) : new PassResult(new Graph(nodes), Rewritten: rewritten);
    }

    /// <summary>The channel counts a blocked hardtanh takes are multiples of this (oneDNN's largest float32 channel block).</summary>
    public const int ChannelBlock = 16;

    private static readonly Dictionary<OpDef, OpDef> InPlaceForms = new()
    {
        [Ops.OneDnnRelu] = Ops.OneDnnReluInPlace,
        [Ops.OneDnnAdd] = Ops.OneDnnAddInPlace,
        [Ops.OneDnnHardtanh] = Ops.OneDnnHardtanhInPlace,
    };

    /// <summary>
    /// <paramref name="call"/> as the outer where of a decomposed hardtanh between finite bounds,
    /// where(lt(x, lo), lo, where(gt(x, hi), hi, x)), whose comparisons and inner where nothing else
    /// reads: the blocked hardtanh of x, and those three nodes it computes.
    /// </summary>
    private static (CallOp Form, string[] Parts)? Hardtanh(CallOp call, IReadOnlyDictionary<string, Node> nodes, UseAnalysis uses, IEnumerable<string> outputs)
    {
        static double? Number(Arg a) => a switch { FloatArg f => f.Value, IntArg i => i.Value, _ => null };
        CallOp? Only(Arg a, OpDef op) => a is RefArg r && nodes[r.Name] is CallOp c && c.Op == op && c.Kwargs.Count == 0
            && uses.UseCount(r.Name) == 1 && !outputs.Contains(r.Name) ? c : null;
        if (call.Op != Ops.Where || call.Args.Count != 3 || call.Kwargs.Count > 0 || !Plain(call.Meta)) return null;
        if (Only(call.Args[0], Ops.Lt) is not { Args: [RefArg x, var lo] } lt || Number(call.Args[1]) is not { } low || Number(lo) != low) return null;
        if (Only(call.Args[2], Ops.Where) is not { Args: [var gtArg, var highArg, RefArg { } same] } inner || same.Name != x.Name
            || Number(highArg) is not { } high || Only(gtArg, Ops.Gt) is not { Args: [RefArg { } gx, var hi] } gt || gx.Name != x.Name || Number(hi) != high)
            return null;
        if (!double.IsFinite(low) || !double.IsFinite(high) || low > high || !Plain(nodes[x.Name].Meta)) return null;
        // torch 1.13's MKLDNNHardTanh_ clamps the logical elements over the physical buffer, which is
        // larger where the channels do not fill oneDNN's blocks (8 or 16): wrong results there
        if (((TensorMeta)nodes[x.Name].Meta).Shape[1].Value % ChannelBlock != 0) return null;
        var form = call with { Op = Ops.OneDnnHardtanh, Args = EquatableList.Of<Arg>(x, new FloatArg(low), new FloatArg(high)), Kwargs = EquatableList<Kwarg>.Empty, IsMethod = false };
        return (form, [lt.Name, inner.Name, gt.Name]);
    }

    /// <summary>The argument positions of a blocked op that read blocked values (a convolution's weight and bias stay dense).</summary>
    private static int[] ActivationIndices(OpDef op) => op == Ops.OneDnnAdd || op == Ops.OneDnnAddInPlace || op == Ops.OneDnnMul ? [0, 1] : [0];

    private static IEnumerable<string> Activations(CallOp form) =>
        ActivationIndices(form.Op).Select(i => form.Args[i]).OfType<RefArg>().Select(r => r.Name);

    /// <summary>The op in its blocked form, or null where oneDNN cannot run it on blocked tensors.</summary>
    private static CallOp? BlockedForm(CallOp call, IReadOnlyDictionary<string, Node> nodes)
    {
        if (!Plain(call.Meta)) return null;
        bool PlainInput(int i) => i < call.Args.Count && call.Args[i] is RefArg r && Plain(nodes[r.Name].Meta);
        CallOp As(OpDef op, EquatableList<Arg> args, EquatableList<Kwarg>? kwargs = null) =>
            call with { Op = op, Args = args, Kwargs = kwargs ?? call.Kwargs, IsMethod = false };
        var op = call.Op;
        if (op == Ops.Conv2d)
            return OneDnnConvolutionPass.Direct(call, nodes) is { } direct && PlainInput(0) ? As(Ops.OneDnnConv2d, direct.Args, direct.Kwargs) : null;
        if (op == Ops.Relu && PlainInput(0) && call.Kwargs.Count == 0) return As(Ops.OneDnnRelu, call.Args);
        // F.relu(x, False) as nn.ReLU calls it, or F.relu(x, inplace=False)
        if (op == Ops.FunctionalRelu && PlainInput(0) && call.Args.Skip(1).All(a => a is BoolArg { Value: false })
            && call.Kwargs.All(k => k is { Name: "inplace", Value: BoolArg { Value: false } }))
            return As(Ops.OneDnnRelu, EquatableList.Of(call.Args[0]), EquatableList<Kwarg>.Empty);
        if (op == Ops.Sigmoid && PlainInput(0) && call.Kwargs.Count == 0) return As(Ops.OneDnnSigmoid, call.Args);
        if ((op == Ops.Add || op == Ops.Mul) && call.Args.Count == 2 && PlainInput(0) && PlainInput(1)
            && nodes[((RefArg)call.Args[0]).Name].Meta.Equals(nodes[((RefArg)call.Args[1]).Name].Meta)
            && call.Kwargs.All(k => k.Name == "alpha" && op == Ops.Add && k.Value is IntArg or FloatArg))
            return As(op == Ops.Add ? Ops.OneDnnAdd : Ops.OneDnnMul, call.Args);
        if (op == Ops.MaxPool2d && PlainInput(0) && Bound(call, nodes) is { } max
            && !max.Bool("return_indices") && max.Ints("dilation").All(d => d == 1))
            return As(Ops.OneDnnMaxPool2d, call.Args);
        if (op == Ops.AvgPool2d && PlainInput(0) && Bound(call, nodes) is { } avg && avg.IsNone("divisor_override"))
            return As(Ops.OneDnnAvgPool2d, call.Args);
        if (op == Ops.AdaptiveAvgPool2d && PlainInput(0) && Bound(call, nodes) is { } adaptive
            && call.Meta is TensorMeta output && adaptive.Tensor("input") is var input
            && Enumerable.Range(2, 2).All(d => input.Shape[d].Value % output.Shape[d].Value == 0))
            return As(Ops.OneDnnAdaptiveAvgPool2d, call.Args);
        return null;
    }

    private static OpCall? Bound(CallOp call, IReadOnlyDictionary<string, Node> nodes)
    {
        try { return OpCall.Bind(call.Op, call.Args, call.Kwargs, name => nodes[name].Meta); }
        catch (Exception e) when (e is ShapeError or NotSupportedException or KeyNotFoundException) { return null; }
    }

    /// <summary>A float32, contiguous, 4-d CPU tensor of known sizes that needs no gradient: what oneDNN's blocked tensors hold.</summary>
    private static bool Plain(ValueMeta meta) =>
        meta is TensorMeta { Rank: 4, DType: DType.Float32, RequiresGrad: false } t && t.Device == Device.Cpu
        && t.Shape.Dims.All(d => d.IsConcrete && d.Value > 0) && t.Equals(TensorMeta.Contiguous(t.Shape, t.DType, false, t.Device));
}

/// <summary>Blocked relu and add into inputs nothing else reads (<see cref="OneDnnLayoutPass.InPlace"/>); last in the pipeline.</summary>
public sealed class OneDnnInPlacePass : IGraphPass
{
    public string Name => "oneDNN in place";

    public PassResult Run(Graph graph, PassContext context) => OneDnnLayoutPass.InPlace(graph, context);
}
