namespace Capture.Graphs;

// Memory planning over the fusion plan's kernels, in their order. Each value a kernel writes for
// others (a group output that is not a graph output) is a buffer, live from its kernel to the last
// kernel reading it, directly or through views (a view keeps its base alive). Walking the kernels:
//   1. a pointwise kernel writes in place over an input buffer that dies at this kernel, when the
//      sizes match and the kernel reads it element for element (same shape, and not also through a view);
//   2. otherwise a buffer takes the smallest free slot big enough, else the biggest free slot
//      (grown), else a new slot;
//   3. buffers whose last reader was this kernel free their slots.
// The plan's size is the sum of its slots.
public sealed class PlanMemoryPass(FusionPlan fusion) : IGraphAnalysis<MemoryPlan>
{
    public string Name => "plan memory";

    public MemoryPlan Run(Graph graph, PassContext context)
    {
        // the buffer a value lives in: its own, or its base's when it is a view
        var baseOf = new Dictionary<string, string>();
        foreach (var node in graph.Nodes)
            if (fusion.GroupOf(node.Name) is null && node is CallOp { Op.Category: OpCategory.View } view && view.Inputs.FirstOrDefault() is { } input)
                baseOf[node.Name] = baseOf.GetValueOrDefault(input, input);
        string BaseOf(string value) => baseOf.GetValueOrDefault(value, value);

        var returned = graph.Output.Inputs.Select(BaseOf).ToHashSet();
        var candidates = new List<(string Value, long Bytes, int Defined)>();
        var unplanned = new List<string>();
        foreach (var group in fusion.Groups)
            foreach (var value in group.Outputs)
            {
                if (returned.Contains(value)) continue;
                if (graph[value] is CallOp { Op.Category: not OpCategory.Opaque, Meta: TensorMeta { Shape.IsConcrete: true } t })
                    candidates.Add((value, t.Shape.NumElements() * t.DType.ItemSize(), group.Id));
                else unplanned.Add(value);
            }

        var lastUse = candidates.ToDictionary(c => c.Value, c => c.Defined);
        foreach (var group in fusion.Groups)
            foreach (var input in group.Inputs)
                if (lastUse.TryGetValue(BaseOf(input), out var last)) lastUse[BaseOf(input)] = Math.Max(last, group.Id);

        var slots = new List<long>();
        var free = new List<int>();
        var slotOf = new Dictionary<string, int>();
        var buffers = new List<PlannedBuffer>();
        foreach (var group in fusion.Groups)
        {
            var dying = group.Inputs.Select(BaseOf).Distinct().Where(b => slotOf.ContainsKey(b) && lastUse[b] == group.Id).ToList();
            foreach (var (value, bytes, _) in candidates.Where(c => c.Defined == group.Id))
            {
                var reuse = group.Kind == FusionKind.Pointwise
                    ? dying.FirstOrDefault(b => group.Inputs.Contains(b) && group.Inputs.All(i => i == b || BaseOf(i) != b)
                        && ReadsElementwise(graph, group, b, value) && slots[slotOf[b]] == bytes)
                    : null;
                int slot;
                if (reuse is not null)
                {
                    slot = slotOf[reuse];
                    dying.Remove(reuse);
                }
                else
                {
                    var fit = free.Where(s => slots[s] >= bytes).OrderBy(s => slots[s]).Cast<int?>().FirstOrDefault()
                              ?? free.OrderByDescending(s => slots[s]).Cast<int?>().FirstOrDefault();
                    if (fit is { } f)
                    {
                        free.Remove(f);
                        slots[f] = Math.Max(slots[f], bytes);
                        slot = f;
                    }
                    else
                    {
                        slots.Add(bytes);
                        slot = slots.Count - 1;
                    }
                }
                slotOf[value] = slot;
                buffers.Add(new PlannedBuffer(value, bytes, slot, group.Id, lastUse[value], reuse));
            }
            free.AddRange(dying.Select(b => slotOf[b]));
        }
        return new MemoryPlan(buffers, slots, unplanned);
    }

    /// <summary>Whether every node of the group reading <paramref name="input"/> has the output's shape (no broadcasting).</summary>
    private static bool ReadsElementwise(Graph graph, FusionGroup group, string input, string output) =>
        graph[input].Meta is TensorMeta i && graph[output].Meta is TensorMeta o && i.Shape == o.Shape && i.DType.ItemSize() == o.DType.ItemSize()
        && group.Nodes.Where(n => graph[n].Inputs.Contains(input)).All(n => graph[n].Meta is TensorMeta r && r.Shape == o.Shape);
}
