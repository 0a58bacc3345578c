namespace Capture.Graphs;

public enum SizeComparison { Eq, Ne, Lt, Le, Gt, Ge }

public static class SizeComparisons
{
    /// <summary>Python's spelling: ==, !=, &lt;, &lt;=, &gt;, &gt;=.</summary>
    public static string Text(this SizeComparison op) => op switch
    {
        SizeComparison.Eq => "==",
        SizeComparison.Ne => "!=",
        SizeComparison.Lt => "<",
        SizeComparison.Le => "<=",
        SizeComparison.Gt => ">",
        _ => ">=",
    };

    /// <summary>Whether <c>a op b</c> holds (for floats, IEEE's: a NaN compares unequal and unordered).</summary>
    public static bool Holds<T>(this SizeComparison op, T a, T b) where T : System.Numerics.IComparisonOperators<T, T, bool> => op switch
    {
        SizeComparison.Eq => a == b,
        SizeComparison.Ne => a != b,
        SizeComparison.Lt => a < b,
        SizeComparison.Le => a <= b,
        SizeComparison.Gt => a > b,
        _ => a >= b,
    };
}

/// <summary>A relation between sizes a capture relied on (<c>s0 &gt; 8</c>, <c>s0 == s1</c>): a guard on the sizes of the next call.</summary>
public sealed record SizeRelation(SizeExpr Left, SizeComparison Op, SizeExpr Right)
{
    public bool Holds(IReadOnlyDictionary<string, long> values) => Op.Holds(Left.Evaluate(values), Right.Evaluate(values));

    public SizeRelation Negated => this with
    {
        Op = Op switch
        {
            SizeComparison.Eq => SizeComparison.Ne,
            SizeComparison.Ne => SizeComparison.Eq,
            SizeComparison.Lt => SizeComparison.Ge,
            SizeComparison.Le => SizeComparison.Gt,
            SizeComparison.Gt => SizeComparison.Le,
            _ => SizeComparison.Lt,
        },
    };

    /// <summary>
    /// Whether the relation holds for every value of its symbols (each at least 1), when that is known
    /// from the expressions alone: <c>s0 &gt;= 1</c>, <c>s0*s1 &gt;= s0</c> are; <c>s0 &gt; 1</c> is not decided, <c>s0 + 1 != s0</c> is.
    /// </summary>
    public bool? Static(long symbolBound = 1)
    {
        var diff = Left - Right;
        if (diff.ConstantValue is { } d) return Op.Holds(d, 0L);
        var low = diff.LowerBound(symbolBound);          // Left - Right >= low
        var high = (-diff).LowerBound(symbolBound) is { } l ? -l : (long?)null; // Left - Right <= high
        return Op switch
        {
            SizeComparison.Eq => low > 0 || high < 0 ? false : null,
            SizeComparison.Ne => low > 0 || high < 0 ? true : null,
            SizeComparison.Lt => high < 0 ? true : low >= 0 ? false : null,
            SizeComparison.Le => high <= 0 ? true : low > 0 ? false : null,
            SizeComparison.Gt => low > 0 ? true : high <= 0 ? false : null,
            _ => low >= 0 ? true : high < 0 ? false : null,
        };
    }

    public override string ToString() => $"{Left} {Op.Text()} {Right}";
}

/// <summary>A relation a capture decided, and what decided it (an op's shape rule, a branch on a size).</summary>
public sealed record SizeDecision(SizeRelation Relation, string Reason);

/// <summary>
/// The symbolic sizes of one capture: each symbol's value in the call being captured (its hint), and
/// the relations between sizes the capture decided from those values, which become guards: the
/// capture is valid for any sizes for which they all hold. Shape rules reach the capture's
/// environment through <see cref="Current"/> while a graph is built; with none, a comparison that
/// needs a symbol's value is a NotSupportedException.
/// </summary>
public sealed class ShapeEnv
{
    private readonly Dictionary<string, long> _hints = [];
    private readonly List<SizeDecision> _decisions = [];
    private readonly Dictionary<string, SizeExpr> _replacements = [];
    private readonly bool _factsOnly;

    public ShapeEnv() { }

    private ShapeEnv(bool factsOnly) => _factsOnly = factsOnly;

    /// <summary>
    /// An environment of known facts (the relations a capture's guards ensure: <c>s1 == 8</c>), with no
    /// values: what the compile pipeline reasons with after the capture (a derivative rule, a pass).
    /// A comparison the facts do not decide is a NotSupportedException: no new guard can be added then.
    /// </summary>
    public static ShapeEnv FromFacts(IEnumerable<SizeRelation> facts)
    {
        var env = new ShapeEnv(factsOnly: true);
        foreach (var fact in facts) env.Learn(new SizeDecision(fact, "guarded at capture"));
        return env;
    }

    /// <summary>A size expression with the symbols known equal to something else replaced (s1 by 8 once s1 == 8 is guarded).</summary>
    public SizeExpr Normalize(SizeExpr e) =>
        _replacements.Count == 0 || !e.Symbols.Any(_replacements.ContainsKey) ? e : Normalize(e.Substitute(name => _replacements.GetValueOrDefault(name)));

    public SizeRelation Normalize(SizeRelation r) => r with { Left = Normalize(r.Left), Right = Normalize(r.Right) };

    private void Learn(SizeDecision decision)
    {
        _decisions.Add(decision);
        // an equality with a lone symbol on one side replaces that symbol from now on
        var r = Normalize(decision.Relation);
        if (r.Op != SizeComparison.Eq) return;
        if (r.Left.SymbolName is { } left && !r.Right.Symbols.Contains(left)) _replacements[left] = r.Right;
        else if (r.Right.SymbolName is { } right && !r.Left.Symbols.Contains(right)) _replacements[right] = r.Left;
    }

    [ThreadStatic] private static ShapeEnv? _current;

    /// <summary>The environment of the graph being built on this thread, if any.</summary>
    public static ShapeEnv? Current => _current;

    /// <summary>Makes <paramref name="env"/> current until the result is disposed.</summary>
    public static IDisposable Enter(ShapeEnv? env)
    {
        var previous = _current;
        _current = env;
        return new Restore(previous);
    }

    private sealed class Restore(ShapeEnv? previous) : IDisposable
    {
        public void Dispose() => _current = previous;
    }

    public IReadOnlyDictionary<string, long> Hints => _hints;

    /// <summary>Called with each new decision (a capture turns it into a guard on the line being captured).</summary>
    public Action<SizeDecision>? Decided { get; set; }
    public IReadOnlyList<SizeDecision> Decisions => _decisions;

    /// <summary>A new symbol for a size whose value in this call is <paramref name="hint"/> (at least 1).</summary>
    public Dim NewSymbol(long hint)
    {
        if (hint < 1) throw new ArgumentOutOfRangeException(nameof(hint), hint, "size 0 is not made symbolic");
        var name = $"s{_hints.Count}";
        _hints[name] = hint;
        return Dim.Sym(name);
    }

    /// <summary>Declares symbol <paramref name="name"/> with its value in this call.</summary>
    public void Declare(string name, long hint)
    {
        if (hint < 1) throw new ArgumentOutOfRangeException(nameof(hint), hint, $"size symbol {name} must stand for a size of at least 1");
        _hints[name] = hint;
    }

    /// <summary>The value of a size in the call being captured (facts only: a symbol replaced by a constant has one too).</summary>
    public long Hint(Dim d) => _factsOnly
        ? Normalize(d.AsExpr).ConstantValue ?? throw new NotSupportedException($"the size {d} has no value after the capture")
        : d.Evaluate(_hints);

    /// <summary>
    /// Whether <paramref name="relation"/> holds: from the expressions where they decide it, else from
    /// this call's values, recording what held as a guard (with <paramref name="reason"/>).
    /// </summary>
    public bool Decide(SizeRelation relation, string reason)
    {
        if (relation.Static() is { } known) return known;
        var normalized = Normalize(relation);
        if (normalized.Static() is { } follows) return follows;
        foreach (var d in _decisions)
        {
            var fact = Normalize(d.Relation);
            if (fact == normalized) return true;
            if (fact == normalized.Negated) return false;
        }
        if (_factsOnly)
            throw new NotSupportedException($"{reason}: deciding whether {relation} needs the sizes' values, and the capture's guards do not say");
        var holds = relation.Holds(_hints);
        var decision = new SizeDecision(holds ? relation : relation.Negated, reason);
        Learn(decision);
        Decided?.Invoke(decision);
        return holds;
    }
}

/// <summary>Comparisons of sizes that may be symbolic: known from the expressions, decided by the current <see cref="ShapeEnv"/>, or not supported.</summary>
public static class Sizes
{
    public static bool Compare(Dim a, SizeComparison op, Dim b, string reason)
    {
        if (a.Value is { } x && b.Value is { } y)
            return new SizeRelation(x, op, y).Static()!.Value;
        var relation = new SizeRelation(a.AsExpr, op, b.AsExpr);
        if (relation.Static() is { } known) return known;
        return ShapeEnv.Current is { } env
            ? env.Decide(relation, reason)
            : throw new NotSupportedException($"{reason}: deciding whether {relation} needs the sizes' values (a symbolic size would need a guard)");
    }

    /// <summary>
    /// A size-oblivious comparison (Dynamo's guard_size_oblivious): decided as if every symbol were at
    /// least 2 where that decides it, with no guard; for a question whose answer at size 1 gives the
    /// same result anyway (ATen's view strides: a dim of size 1 is consumed either way).
    /// </summary>
    public static bool CompareOblivious(Dim a, SizeComparison op, Dim b, string reason)
    {
        var relation = new SizeRelation(a.AsExpr, op, b.AsExpr);
        var env = ShapeEnv.Current;
        var normalized = env is null ? relation : env.Normalize(relation);
        return relation.Static() ?? normalized.Static() ?? normalized.Static(symbolBound: 2) ?? Compare(a, op, b, reason);
    }

    public static bool Equal(Dim a, Dim b, string reason) => a == b || Compare(a, SizeComparison.Eq, b, reason);

    /// <summary>
    /// Whether a relation holds when the expressions alone decide it; null when only the sizes' values
    /// would (nothing is guarded: for a question whose answer only picks a faster path).
    /// </summary>
    public static bool? Known(Dim a, SizeComparison op, Dim b) =>
        a == b && op is SizeComparison.Eq or SizeComparison.Le or SizeComparison.Ge ? true : new SizeRelation(a.AsExpr, op, b.AsExpr).Static();

    /// <summary>Whether two shapes are equal (same rank, each size equal).</summary>
    public static bool Equal(Shape a, Shape b, string reason) =>
        a == b || a.Rank == b.Rank && a.Dims.Zip(b.Dims).All(p => Equal(p.First, p.Second, reason));

    /// <summary>The remainder a % b is 0 (b a constant, or a multiple known from the expressions).</summary>
    public static bool Divides(Dim b, Dim a, string reason) =>
        Dim.ExactDivide(a, b) is not null || b.Value is { } d && d != 0 && Equal(Dim.Of(SizeExpr.Mod(a.AsExpr, d)), Dim.Of(0), reason);

    /// <summary>
    /// Whether a size is known to be 1 (a constant, or a symbol the capture's guards made 1), asking
    /// nothing: for the layout questions whose answer is right at any size (a stride a size-1 dim never
    /// uses, whether a dim breaks contiguity). A symbol may still be 1 when the call runs: where the
    /// answer changes a shape (squeeze, broadcasting) use <see cref="IsOne(Dim, string)"/>.
    /// </summary>
    public static bool IsOne(Dim d) => (d.Value ?? (ShapeEnv.Current?.Normalize(d.AsExpr).ConstantValue)) == 1;

    /// <summary>Whether a size is 1, deciding it (with a guard) for a symbol: a symbol stands for any size of at least 1.</summary>
    public static bool IsOne(Dim d, string reason) => d.Value is { } v ? v == 1 : Compare(d, SizeComparison.Eq, Dim.Of(1), reason);

    /// <summary>
    /// A size's value where a rule needs it (the number of tensors unbind returns): a constant, or a
    /// symbol specialized to this call's value with a guard that it keeps it.
    /// </summary>
    public static long Value(Dim d, string reason)
    {
        if (d.Value is { } v) return v;
        if (ShapeEnv.Current is not { } env) return d.Concrete(reason);
        var hint = env.Hint(d);
        env.Decide(new SizeRelation(d.AsExpr, SizeComparison.Eq, hint), reason);
        return hint;
    }

    public static Dim Min(Dim a, Dim b, string reason) => Compare(a, SizeComparison.Le, b, reason) ? a : b;
    public static Dim Max(Dim a, Dim b, string reason) => Compare(a, SizeComparison.Ge, b, reason) ? a : b;
}

/// <summary>Metadata with its symbolic sizes given values (the sizes of one call).</summary>
public static class SizeValues
{
    public static ValueMeta Substitute(ValueMeta meta, IReadOnlyDictionary<string, long> values) => meta switch
    {
        TensorMeta t => Substitute(t, values),
        TupleMeta t => new TupleMeta(t.Items.Select(i => Substitute(i, values)).ToEquatableList()),
        _ => meta,
    };

    public static TensorMeta Substitute(TensorMeta t, IReadOnlyDictionary<string, long> values) =>
        t.Shape.IsConcrete && t.Strides is not null
            ? t
            : t with
            {
                Shape = Shape.Of(t.Shape.Dims.Select(d => Dim.Of(d.Evaluate(values)))),
                StrideDims = t.StrideDims?.Select(d => Dim.Of(d.Evaluate(values))).ToEquatableList(),
            };

    /// <summary>Whether metadata has a symbolic size (or stride) anywhere.</summary>
    public static bool IsSymbolic(ValueMeta meta) => meta switch
    {
        TensorMeta t => !t.Shape.IsConcrete || t.StrideDims is { } s && s.Any(d => !d.IsConcrete),
        TupleMeta t => t.Items.Any(IsSymbolic),
        _ => false,
    };
}
