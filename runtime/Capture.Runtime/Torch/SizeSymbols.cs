namespace Capture.Runtime.Torch;

/// <summary>
/// The values of a graph's size symbols in one run. A graph with dynamic sizes takes them from its
/// inputs: a placeholder whose dim is the symbol <c>s0</c> binds s0 to that input's size there (its
/// guards checked that every input agrees). The values sit in the run's environment of node values
/// under <c>$s0</c> (a name no node can have), where op arguments holding a size expression
/// (<see cref="SizeArg"/>) read them.
/// </summary>
public static class SizeSymbols
{
    private const string Prefix = "$";

    /// <summary>
    /// Binds the symbols of <paramref name="metas"/> (the placeholders') from <paramref name="inputs"/>
    /// into <paramref name="env"/>; returns their values, which the run's kernels and products read
    /// (once per run, not once per kernel).
    /// </summary>
    public static Dictionary<string, long> Bind(IReadOnlyList<ValueMeta> metas, IReadOnlyList<PyObject> inputs, Dictionary<string, PyObject> env)
    {
        var values = new Dictionary<string, long>();
        for (var i = 0; i < metas.Count && i < inputs.Count; i++)
        {
            if (metas[i] is not TensorMeta t || t.Shape.IsConcrete) continue;
            PyObject? shape = null;
            try
            {
                for (var d = 0; d < t.Rank; d++)
                {
                    if (t.Shape[d].SymbolName() is not { } symbol || env.ContainsKey(Prefix + symbol)) continue;
                    shape ??= inputs[i].GetAttr("shape");
                    var size = env[Prefix + symbol] = shape.GetItem(d);
                    values[symbol] = size.ToInt64();
                }
            }
            finally { shape?.Dispose(); }
        }
        return values;
    }

    /// <summary>The values of <paramref name="symbols"/>: from the run's bound values where they hold them all, else read from <paramref name="env"/>.</summary>
    public static IReadOnlyDictionary<string, long> Values(IReadOnlyDictionary<string, long>? bound, Dictionary<string, PyObject> env, IReadOnlyList<string> symbols, string what)
    {
        if (bound is not null)
        {
            var all = true;
            foreach (var symbol in symbols) all &= bound.ContainsKey(symbol);
            if (all) return bound;
        }
        return Values(env, symbols, what);
    }

    /// <summary>The values of <paramref name="symbols"/> in a run's environment; an unbound one is an error naming <paramref name="what"/> needed it.</summary>
    public static Dictionary<string, long> Values(Dictionary<string, PyObject> env, IEnumerable<string> symbols, string what)
    {
        var values = new Dictionary<string, long>();
        foreach (var symbol in symbols)
            values[symbol] = env.TryGetValue(Prefix + symbol, out var v) ? v.ToInt64()
                : throw new InvalidOperationException($"{what}: the size symbol {symbol} has no value in this run: no input of the graph has it as a size");
        return values;
    }

    /// <summary>A size expression's value as a Python int (a lone symbol: the bound int itself), its symbols read through <paramref name="lookup"/>.</summary>
    public static PyObject Value(SizeExpr expr, Func<string, PyObject> lookup)
    {
        if (expr.SymbolName is not { } symbol) return Py.Int(Evaluate(expr, lookup));
        try { return lookup(Prefix + symbol); }
        catch (KeyNotFoundException) { throw new InvalidOperationException($"the size symbol {symbol} has no value in this run: no input of the graph has it as a size"); }
    }

    /// <summary>A size expression's value, its symbols read through <paramref name="lookup"/> (a run's environment).</summary>
    public static long Evaluate(SizeExpr expr, Func<string, PyObject> lookup)
    {
        var values = new Dictionary<string, long>();
        foreach (var symbol in expr.Symbols)
        {
            PyObject value;
            try { value = lookup(Prefix + symbol); }
            catch (KeyNotFoundException) { throw new InvalidOperationException($"the size symbol {symbol} has no value in this run: no input of the graph has it as a size"); }
            using (value) values[symbol] = value.ToInt64();
        }
        return expr.Evaluate(values);
    }
}
