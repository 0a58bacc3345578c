namespace Capture.Graphs;

/// <summary>
/// Maximum flow by Dinic's algorithm (breadth-first levels, then blocking flows by depth-first
/// search), and the minimum cut it proves: the vertices still reachable from the source. Capacities
/// are longs; <see cref="Infinite"/> marks edges a cut must never take.
/// </summary>
public sealed class MaxFlow(int vertices)
{
    public const long Infinite = long.MaxValue / 4;

    private readonly List<(int To, long Capacity, int Reverse)>[] _edges =
        Enumerable.Range(0, vertices).Select(_ => new List<(int, long, int)>()).ToArray();

    private int[] _level = [];
    private int[] _next = [];

    public void AddEdge(int from, int to, long capacity)
    {
        _edges[from].Add((to, capacity, _edges[to].Count));
        _edges[to].Add((from, 0, _edges[from].Count - 1));
    }

    /// <summary>The maximum flow from source to sink (the edges keep their residual capacities).</summary>
    public long Run(int source, int sink)
    {
        long total = 0;
        while (Levels(source, sink))
        {
            _next = new int[vertices];
            long pushed;
            while ((pushed = Push(source, sink, Infinite)) > 0) total = Math.Min(Infinite, total + pushed);
        }
        return total;
    }

    /// <summary>After <see cref="Run"/>: the source's side of a minimum cut.</summary>
    public bool[] SourceSide(int source)
    {
        var seen = new bool[vertices];
        var queue = new Queue<int>([source]);
        seen[source] = true;
        while (queue.Count > 0)
            foreach (var (to, capacity, _) in _edges[queue.Dequeue()])
                if (capacity > 0 && !seen[to]) { seen[to] = true; queue.Enqueue(to); }
        return seen;
    }

    private bool Levels(int source, int sink)
    {
        _level = Enumerable.Repeat(-1, vertices).ToArray();
        _level[source] = 0;
        var queue = new Queue<int>([source]);
        while (queue.Count > 0)
        {
            var v = queue.Dequeue();
            foreach (var (to, capacity, _) in _edges[v])
                if (capacity > 0 && _level[to] < 0) { _level[to] = _level[v] + 1; queue.Enqueue(to); }
        }
        return _level[sink] >= 0;
    }

    private long Push(int v, int sink, long limit)
    {
        if (v == sink) return limit;
        for (; _next[v] < _edges[v].Count; _next[v]++)
        {
            var (to, capacity, reverse) = _edges[v][_next[v]];
            if (capacity <= 0 || _level[to] != _level[v] + 1) continue;
            var pushed = Push(to, sink, Math.Min(limit, capacity));
            if (pushed <= 0) continue;
            _edges[v][_next[v]] = (to, capacity - pushed, reverse);
            var back = _edges[to][reverse];
            _edges[to][reverse] = back with { Capacity = back.Capacity + pushed };
            return pushed;
        }
        return 0;
    }
}
