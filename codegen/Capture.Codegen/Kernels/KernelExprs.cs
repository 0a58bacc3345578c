namespace Capture.Codegen;

// What both emitters read off a kernel: the statements and operands an expression uses, and a
// reduction kernel's plan of passes. Shared so that the C# and LLVM kernels compute the same thing
// in the same order.
public static class KernelExprs
{
    /// <summary>Whether the expression calls a function <paramref name="which"/> picks.</summary>
    public static bool Calls(KExpr e, Func<KernelFunction, bool> which) => e switch
    {
        KCall c => which(c.Function) || c.Args.Any(a => Calls(a, which)),
        KCast c => Calls(c.Value, which),
        KReduce r => Calls(r.Value, which),
        _ => false,
    };

    /// <summary>Whether the expression calls an expensive function (<see cref="KernelFunctionInfo.Expensive"/>).</summary>
    public static bool CallsExpensive(KExpr e) => Calls(e, f => f.Info().Expensive);

    /// <summary>The statements an expression reads.</summary>
    public static IEnumerable<int> Temps(KExpr e) => e switch
    {
        KTemp t => [t.Index],
        KCast c => Temps(c.Value),
        KCall c => c.Args.SelectMany(Temps),
        KReduce r => Temps(r.Value),
        _ => [],
    };

    /// <summary>The operands an expression loads.</summary>
    public static IEnumerable<int> Loads(KExpr e) => e switch
    {
        KLoad l => [l.Operand],
        KCast c => Loads(c.Value),
        KCall c => c.Args.SelectMany(Loads),
        KReduce r => Loads(r.Value),
        _ => [],
    };

}

/// <summary>
/// Which statements each pass of a reduction kernel computes, and which it keeps for or loads from a
/// later pass. Passes: one per level of reductions (level = how many reductions a value waits for:
/// softmax's max is level 1, its sum of exp(x - max) level 2), then a store pass. An element value
/// an earlier pass computed is computed again where a later pass needs it, unless it is expensive
/// (<see cref="KernelFunctionInfo.Expensive"/>): then its first pass keeps it in a row scratch buffer and
/// later passes load it.
/// </summary>
public sealed class RowPlan
{
    public required int[] Level;
    public required int Passes; // reduction passes; the store pass comes after them
    public required List<HashSet<int>> Computed; // per pass (the store pass last): element statements evaluated
    public required List<HashSet<int>> Loaded;   // per pass: element statements read from their scratch buffer
    public required HashSet<int> Cached;
    public required int[] FirstPass;

    public static RowPlan Of(Kernel k)
    {
        var level = new int[k.Body.Count];
        for (var i = 0; i < k.Body.Count; i++)
        {
            var value = k.Body[i].Value;
            level[i] = value is KReduce r ? LevelOf(r.Value, level) + 1 : LevelOf(value, level);
        }
        var passes = k.Body.Select((s, i) => s.Value is KReduce ? level[i] : 0).DefaultIfEmpty(0).Max();
        // targets per pass: the reductions' arguments of that level, then the element stores
        var targets = new List<List<int>>();
        for (var p = 0; p < passes; p++)
            targets.Add(k.Body.Select((s, i) => (s, i)).Where(x => x.s.Value is KReduce && level[x.i] == p + 1)
                .SelectMany(x => KernelExprs.Temps(((KReduce)x.s.Value).Value)).ToList());
        targets.Add(k.Stores.Where(s => !k.Body[s.Statement].Row).Select(s => s.Statement).ToList());

        var naive = targets.Select(t => Closure(k, t, _ => false)).ToList();
        var firstPass = Enumerable.Repeat(-1, k.Body.Count).ToArray();
        for (var p = naive.Count - 1; p >= 0; p--) foreach (var s in naive[p]) firstPass[s] = p;
        var cached = Enumerable.Range(0, k.Body.Count)
            .Where(s => naive.Count(n => n.Contains(s)) >= 2 && k.Body[s].Value is KCall c && c.Function.Info().Expensive).ToHashSet();
        var computed = new List<HashSet<int>>();
        var loaded = new List<HashSet<int>>();
        for (var p = 0; p < targets.Count; p++)
        {
            var load = new HashSet<int>();
            computed.Add(Closure(k, targets[p], s => cached.Contains(s) && firstPass[s] < p && load.Add(s) | true));
            loaded.Add(load);
        }
        return new RowPlan { Level = level, Passes = passes, Computed = computed, Loaded = loaded, Cached = cached, FirstPass = firstPass };
    }

    /// <summary>The reductions pass <paramref name="pass"/> accumulates (none in the store pass).</summary>
    public List<int> Reductions(Kernel k, int pass) => pass < Passes
        ? Enumerable.Range(0, k.Body.Count).Where(i => k.Body[i].Value is KReduce && Level[i] == pass + 1).ToList()
        : [];

    /// <summary>The element stores of pass <paramref name="pass"/>: all in the store pass, none before.</summary>
    public List<(int Statement, int Operand)> Stores(Kernel k, int pass) =>
        pass == Passes ? k.Stores.Where(x => !k.Body[x.Statement].Row).ToList() : [];

    /// <summary>
    /// The inputs read along the row with unit stride in the vectorized copy: a row is often one page,
    /// which the hardware prefetchers do not cross, so both emitters prefetch these operands' next row.
    /// Not an operand broadcast over rows: its next row is this one.
    /// </summary>
    public static List<int> PrefetchedInputs(Kernel k) =>
        Enumerable.Range(0, k.Operands.Count).Where(o => k.Operands[o] is { IsOutput: false, Row: false, InnerStride: 1, RowBroadcast: false }).ToList();

    /// <summary>
    /// The pass that prefetches the next row, spread over its loop (a burst of a row's prefetches at
    /// once fills the core's miss buffers and stalls it): the store pass, the longest, where there is
    /// one; else the last reduction pass.
    /// </summary>
    public int PrefetchPass(Kernel k) => Stores(k, Passes).Count > 0 ? Passes : Passes - 1;

    private static int LevelOf(KExpr e, int[] level) => KernelExprs.Temps(e).Select(t => level[t]).DefaultIfEmpty(0).Max();

    /// <summary>The element statements <paramref name="targets"/> need, not looking past those <paramref name="stop"/> says are at hand.</summary>
    private static HashSet<int> Closure(Kernel k, IEnumerable<int> targets, Func<int, bool> stop)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>(targets.Where(t => !k.Body[t].Row));
        while (stack.TryPop(out var s))
        {
            if (!seen.Add(s) || stop(s)) continue;
            foreach (var t in KernelExprs.Temps(k.Body[s].Value)) if (!k.Body[t].Row) stack.Push(t);
        }
        seen.RemoveWhere(s => stop(s));
        return seen;
    }
}
