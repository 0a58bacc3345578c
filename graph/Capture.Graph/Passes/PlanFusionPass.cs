using System.Collections.Frozen;

namespace Capture.Graphs;

// Fusion grouping: which nodes one kernel computes. Greedy in graph order: each node starts a group
// and then merges with the group of each value it reads when the two can share one loop nest:
//   pointwise + pointwise over the same domain                  (vertical chains, siblings)
//   pointwise producer into a reduction over its domain          (prologue)
//   reduction into pointwise over the full or reduced domain     (epilogue: softmax, layer_norm, log_softmax)
//   reductions over the same rows                                 (mean and var of a layer_norm)
//   extern (matmul, linear, conv) into pointwise over its output (bias, activation)
//   a cheap pointwise producer of a broadcast input into its consumer (recomputed per element)
// and never when the merge would make a cycle (a path from one group to the other through a node of
// neither: a view of the first group's output read by the second, say) or recompute expensive work
// (only producers of cost <= RecomputeBudget, read by nothing else, are recomputed; externs and
// reductions never are). Inside a group, a full-domain node reads a reduced value only as keepdim
// broadcasting (same rank), the loop nest a row kernel has.
public sealed class PlanFusionPass : IGraphAnalysis<FusionPlan>
{
    /// <summary>The most per-element cost a broadcast producer may have and still be recomputed.</summary>
    public const int RecomputeBudget = 2;

    public string Name => "plan fusion";

    private enum Role { None, Pointwise, Reduction, Row, Extern, Single }

    private sealed class Group
    {
        public required FusionKind Kind;
        public Shape? Domain;
        public Shape? Reduced;
        public readonly List<string> Nodes = [];
        public readonly HashSet<string> Recomputed = [];
        public int Cost;
    }

    public FusionPlan Run(Graph graph, PassContext context)
    {
        var consumers = graph.Nodes.ToDictionary(n => n.Name, _ => new List<string>());
        foreach (var node in graph.Nodes)
            foreach (var input in node.Inputs.Distinct())
                consumers[input].Add(node.Name);
        var groupOf = new Dictionary<string, Group>();

        foreach (var node in graph.Nodes)
        {
            var role = RoleOf(node, graph);
            if (role == Role.None) continue;
            var group = NewGroup(node, role, graph);
            groupOf[node.Name] = group;
            if (role is Role.Single or Role.Extern) continue; // externs read their operands from memory
            foreach (var input in node.Inputs.Distinct())
            {
                if (!groupOf.TryGetValue(input, out var producer) || producer == group) continue;
                var merged = Combine(producer, group, graph[input], node, graph, consumers, groupOf);
                if (merged is null || Reaches(producer, group, consumers, groupOf) || Reaches(group, producer, consumers, groupOf)) continue;
                foreach (var name in group.Nodes) groupOf[name] = merged;
                foreach (var name in producer.Nodes) groupOf[name] = merged;
                group = merged;
            }
        }
        return new FusionPlan(Ordered(graph, groupOf));
    }

    private static Role RoleOf(Node node, Graph graph)
    {
        if (node is not CallOp c) return node is Cond or WhileLoop or CallModule ? Role.Single : Role.None;
        if (c.Meta is not TensorMeta || c.Op.IsInPlace) return c.Op.Category is OpCategory.View or OpCategory.GlobalState ? Role.None : Role.Single;
        return c.Op.Category switch
        {
            OpCategory.View when c.Op == Ops.GetItem && c.Args.Skip(1).Any(a => a.References().Any(r => graph[r].Meta is TensorMeta)) => Role.Single, // gathers
            OpCategory.View or OpCategory.GlobalState => Role.None,
            OpCategory.Pointwise => Role.Pointwise,
            OpCategory.Reduction when RowReduced(c) is not null => Role.Row,
            // reductions over dims (sum, mean, amax, var...); pooling windows fuse with nothing
            OpCategory.Reduction when c.Op.Schema.Params.Any(p => p.Name == "dim") && Input(c, graph) is { } input && c.Meta is TensorMeta t && t.Shape != input.Shape => Role.Reduction,
            OpCategory.Extern => Role.Extern,
            _ => Role.Single,
        };
    }

    private static TensorMeta? Input(CallOp c, Graph graph) => c.Args.Count > 0 ? graph.MetaOf(c.Args[0]) as TensorMeta : null;

    private static readonly FrozenSet<OpDef> Softmaxes = FrozenSet.ToFrozenSet<OpDef>([Ops.Softmax, Ops.LogSoftmax, Ops.FunctionalSoftmax, Ops.FunctionalLogSoftmax]);

    /// <summary>The kept-dims shape a normalization reduces to (softmax: its dim; layer_norm: the normalized dims); null for other ops.</summary>
    private static Shape? RowReduced(CallOp c)
    {
        if (c.Meta is not TensorMeta { Rank: > 0 } t) return null;
        var call = OpCall.Bind(c.Op, c.Args, c.Kwargs, _ => t);
        var dims = c.Op switch
        {
            var op when Softmaxes.Contains(op) && call.OptInt("dim") is { } d => [(int)((d % t.Rank + t.Rank) % t.Rank)],
            var op when op == Ops.LayerNorm => Enumerable.Range(t.Rank - call.Ints("normalized_shape").Count, call.Ints("normalized_shape").Count).ToList(),
            _ => (List<int>?)null,
        };
        return dims is null ? null : Shape.Of(t.Shape.Dims.Select((dim, i) => dims.Contains(i) ? Dim.Of(1) : dim));
    }

    private static Group NewGroup(Node node, Role role, Graph graph)
    {
        var shape = (node.Meta as TensorMeta)?.Shape;
        var group = role switch
        {
            Role.Pointwise => new Group { Kind = FusionKind.Pointwise, Domain = shape },
            Role.Reduction => new Group { Kind = FusionKind.Reduction, Domain = Input((CallOp)node, graph)!.Shape, Reduced = shape },
            Role.Row => new Group { Kind = FusionKind.Reduction, Domain = shape, Reduced = RowReduced((CallOp)node) },
            Role.Extern => new Group { Kind = FusionKind.Extern, Domain = shape },
            _ => new Group { Kind = FusionKind.Single, Domain = shape },
        };
        group.Nodes.Add(node.Name);
        group.Cost = node is CallOp c ? Cost(c.Op) : 0;
        return group;
    }

    /// <summary>
    /// The group <paramref name="producer"/> and <paramref name="consumer"/> make together, reached
    /// through the edge <paramref name="value"/> -> <paramref name="reader"/>; null when one loop nest cannot compute both.
    /// </summary>
    private static Group? Combine(Group producer, Group consumer, Node value, Node reader, Graph graph,
        Dictionary<string, List<string>> consumers, Dictionary<string, Group> groupOf)
    {
        if (producer.Kind == FusionKind.Single || consumer.Kind == FusionKind.Single) return null;
        var valueShape = ((TensorMeta)value.Meta).Shape;
        var readerShape = ((TensorMeta)reader.Meta).Shape;

        // a cheap broadcast producer (a bias computed from a vector, say), read only here: recompute it
        if (producer.Kind == FusionKind.Pointwise && valueShape != readerShape && RoleOf(reader, graph) == Role.Pointwise)
        {
            var onlyHere = producer.Nodes.All(n => consumers[n].All(c => producer.Nodes.Contains(c) || c == reader.Name));
            if (!onlyHere || producer.Cost > RecomputeBudget || producer.Nodes.Any(n => consumers[n].Contains(graph.Output.Name))) return null;
            var merged = Join(producer, consumer, consumer.Kind, consumer.Domain, consumer.Reduced);
            merged.Recomputed.UnionWith(producer.Nodes);
            return merged;
        }

        // the edge itself: a pointwise reader over the full domain reads reduced values as keepdim
        // broadcasts; a reduction reads its full domain
        var readerRole = RoleOf(reader, graph);
        if (readerRole == Role.Pointwise && valueShape != readerShape && valueShape.Rank != readerShape.Rank) return null;
        if (readerRole is Role.Reduction or Role.Row && valueShape != consumer.Domain) return null;

        (FusionKind Kind, Shape? Domain, Shape? Reduced)? shape = (producer.Kind, consumer.Kind) switch
        {
            (FusionKind.Pointwise, FusionKind.Pointwise) when producer.Domain == consumer.Domain => (FusionKind.Pointwise, consumer.Domain, null),
            (FusionKind.Extern, FusionKind.Pointwise) when producer.Domain == consumer.Domain => (FusionKind.Extern, producer.Domain, null),
            (FusionKind.Pointwise, FusionKind.Extern) when producer.Domain == consumer.Domain => (FusionKind.Extern, consumer.Domain, null),
            (FusionKind.Reduction, FusionKind.Reduction) when producer.Domain == consumer.Domain && producer.Reduced == consumer.Reduced => (FusionKind.Reduction, producer.Domain, producer.Reduced),
            (FusionKind.Pointwise, FusionKind.Reduction) when producer.Domain == consumer.Domain || producer.Domain == consumer.Reduced => (FusionKind.Reduction, consumer.Domain, consumer.Reduced),
            (FusionKind.Reduction, FusionKind.Pointwise) when consumer.Domain == producer.Domain || consumer.Domain == producer.Reduced => (FusionKind.Reduction, producer.Domain, producer.Reduced),
            _ => null,
        };
        return shape is { } s ? Join(producer, consumer, s.Kind, s.Domain, s.Reduced) : null;
    }

    private static Group Join(Group a, Group b, FusionKind kind, Shape? domain, Shape? reduced)
    {
        var group = new Group { Kind = kind, Domain = domain, Reduced = reduced, Cost = a.Cost + b.Cost };
        group.Nodes.AddRange(a.Nodes.Concat(b.Nodes));
        group.Recomputed.UnionWith(a.Recomputed);
        group.Recomputed.UnionWith(b.Recomputed);
        return group;
    }

    /// <summary>
    /// Whether a path leaves <paramref name="from"/> and enters <paramref name="to"/> through a node of
    /// neither (merging them would make a cycle). A node in a third group stands for the whole group,
    /// which runs as one kernel: a path into any of its nodes leaves through all of them (a group
    /// holding a node downstream of <paramref name="from"/> and one upstream of <paramref name="to"/>
    /// would otherwise be missed).
    /// </summary>
    private static bool Reaches(Group from, Group to, Dictionary<string, List<string>> consumers, Dictionary<string, Group> groupOf)
    {
        var stack = new Stack<string>(from.Nodes.SelectMany(n => consumers[n]).Where(c => !from.Nodes.Contains(c) && !to.Nodes.Contains(c)));
        var seen = new HashSet<string>();
        while (stack.TryPop(out var name))
        {
            if (seen.Contains(name)) continue;
            var unit = groupOf.TryGetValue(name, out var group) && group != from && group != to ? group.Nodes : [name];
            seen.UnionWith(unit);
            foreach (var next in unit.SelectMany(n => consumers[n]))
            {
                if (to.Nodes.Contains(next)) return true;
                if (!from.Nodes.Contains(next) && !seen.Contains(next)) stack.Push(next);
            }
        }
        return false;
    }

    /// <summary>Groups numbered and ordered so that each runs after every group it reads (through views too), ties by graph position.</summary>
    private static List<FusionGroup> Ordered(Graph graph, Dictionary<string, Group> groupOf)
    {
        var position = graph.Nodes.Select((n, i) => (n.Name, i)).ToDictionary(p => p.Name, p => p.i);
        var groups = groupOf.Values.Distinct().ToList();
        foreach (var g in groups) g.Nodes.Sort((a, b) => position[a].CompareTo(position[b]));
        // the groups a node's value comes from, looking through nodes without a kernel (views)
        var sourcesMemo = new Dictionary<string, HashSet<Group>>();
        HashSet<Group> Sources(string name)
        {
            if (sourcesMemo.TryGetValue(name, out var known)) return known;
            var result = groupOf.TryGetValue(name, out var g) ? [g] : graph[name].Inputs.SelectMany(Sources).ToHashSet();
            return sourcesMemo[name] = result;
        }
        var before = groups.ToDictionary(g => g, g => g.Nodes.SelectMany(n => graph[n].Inputs).SelectMany(Sources).Where(s => s != g).ToHashSet());
        var ordered = new List<Group>();
        var done = new HashSet<Group>();
        while (ordered.Count < groups.Count)
        {
            var next = groups.Where(g => !done.Contains(g) && before[g].All(done.Contains)).MinBy(g => position[g.Nodes[0]])
                ?? throw new InvalidOperationException("fusion groups form a cycle: " + string.Join("; ", groups.Where(g => !done.Contains(g))
                    .Select(g => $"[{string.Join(", ", g.Nodes)}] after [{string.Join(" | ", before[g].Select(b => string.Join(", ", b.Nodes)))}]"))); // Reaches() rules this out
            ordered.Add(next);
            done.Add(next);
        }
        var outputOf = graph.Output.Name;
        return ordered.Select((g, i) =>
        {
            var members = g.Nodes.ToHashSet();
            var outputs = g.Nodes.Where(n => !g.Recomputed.Contains(n) && graph.Nodes.Any(c => !members.Contains(c.Name) && c.Inputs.Contains(n))).ToEquatableList();
            var inputs = g.Nodes.SelectMany(n => graph[n].Inputs).Where(n => !members.Contains(n)).Distinct().ToEquatableList();
            return new FusionGroup(i + 1, g.Kind, g.Domain, g.Reduced, g.Nodes.ToEquatableList(), outputs, inputs, g.Nodes.Where(g.Recomputed.Contains).ToEquatableList());
        }).ToList();
    }

    /// <summary>Per-element cost: 1 for arithmetic and selection, 2 for division and casts, 4 for transcendental functions.</summary>
    private static int Cost(OpDef op)
    {
        var name = op.MethodName ?? op.Name[(op.Name.LastIndexOf('.') + 1)..];
        return name switch
        {
            "add" or "sub" or "mul" or "neg" or "relu" or "abs" or "where" or "maximum" or "minimum" or "clamp" or "eq" or "ne"
                or "lt" or "le" or "gt" or "ge" or "logical_not" or "logical_and" or "logical_or" => 1,
            "exp" or "log" or "tanh" or "sigmoid" or "erf" or "gelu" or "silu" or "sqrt" or "rsqrt" or "pow" or "sin" or "cos"
                or "softplus" or "log1p" or "expm1" => 4,
            _ => op.Category == OpCategory.Pointwise ? 2 : 8,
        };
    }
}
