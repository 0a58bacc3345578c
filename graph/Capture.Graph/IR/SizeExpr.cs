using System.Globalization;
using System.Text;

namespace Capture.Graphs;

/// <summary>
/// A symbolic size: an integer polynomial over size symbols (<c>s0</c>, <c>s1</c>: sizes that vary
/// between calls), whose atoms may also be a floor division or a remainder by a positive constant
/// that does not simplify (<c>(s0//2)</c>). Canonical: equal expressions are equal objects, so
/// <c>s1*s0 + s0</c> and <c>s0*(s1 + 1)</c> compare equal. Division and remainder follow Python's
/// (floor) semantics. Every symbol stands for a size of at least 1 (0 specializes; a capture sees
/// symbols of at least 2, but its graph serves size 1 where no guard rules it out), so a size
/// expression with no negative coefficient is known positive.
/// </summary>
public sealed class SizeExpr : IEquatable<SizeExpr>
{
    /// <summary>Terms (monomial, coefficient), sorted by monomial text, none with a zero coefficient; the constant term has no atoms.</summary>
    public IReadOnlyList<(Monomial Monomial, long Coefficient)> Terms { get; }

    private readonly string _text;

    private SizeExpr(IReadOnlyList<(Monomial, long)> terms)
    {
        Terms = terms;
        _text = Format(terms);
    }

    public static SizeExpr Constant(long value) => FromTerms([(Monomial.One, value)]);

    public static SizeExpr Symbol(string name) => FromTerms([(new Monomial([new SymbolAtom(name)]), 1)]);

    /// <summary>The constant's value, or null when a symbol is involved.</summary>
    public long? ConstantValue => Terms.Count switch
    {
        0 => 0,
        1 when Terms[0].Monomial.IsOne => Terms[0].Coefficient,
        _ => null,
    };

    /// <summary>The symbol's name when the expression is exactly one symbol.</summary>
    public string? SymbolName => Terms is [({ Atoms: [SymbolAtom s] }, 1)] ? s.Name : null;

    /// <summary>The size symbols the expression reads.</summary>
    public IEnumerable<string> Symbols => Terms.SelectMany(t => t.Monomial.Atoms).SelectMany(a => a.Symbols).Distinct();

    private static SizeExpr FromTerms(IEnumerable<(Monomial Monomial, long Coefficient)> terms)
    {
        var sum = new SortedDictionary<string, (Monomial Monomial, long Coefficient)>(StringComparer.Ordinal);
        foreach (var (m, c) in terms)
        {
            if (c == 0) continue;
            var key = m.Key;
            sum[key] = sum.TryGetValue(key, out var had) ? (m, checked(had.Coefficient + c)) : (m, c);
        }
        // higher degrees first, the constant term last, as people write it
        return new SizeExpr(sum.Values.Where(t => t.Coefficient != 0).OrderByDescending(t => t.Monomial.Atoms.Count).ThenBy(t => t.Monomial.Key, StringComparer.Ordinal).ToList());
    }

    public static SizeExpr operator +(SizeExpr a, SizeExpr b) => FromTerms(a.Terms.Concat(b.Terms));

    public static SizeExpr operator -(SizeExpr a) => FromTerms(a.Terms.Select(t => (t.Monomial, checked(-t.Coefficient))));

    public static SizeExpr operator -(SizeExpr a, SizeExpr b) => a + -b;

    public static SizeExpr operator *(SizeExpr a, SizeExpr b) =>
        FromTerms(a.Terms.SelectMany(x => b.Terms.Select(y => (x.Monomial * y.Monomial, checked(x.Coefficient * y.Coefficient)))));

    public static implicit operator SizeExpr(long value) => Constant(value);

    /// <summary>Python's <c>a // b</c>. By an expression it must divide exactly (or both be constants).</summary>
    public static SizeExpr FloorDiv(SizeExpr a, SizeExpr b)
    {
        if (b.ConstantValue is { } d) return FloorDiv(a, d);
        if (ExactDivide(a, b) is { } q) return q;
        throw new NotSupportedException($"the floor division of sizes {a} // {b} is not supported: the divisor is symbolic and does not divide exactly");
    }

    /// <summary>Python's <c>a // d</c> for a constant <paramref name="d"/> (k*A + B) // d = A + B // d when d divides k.</summary>
    public static SizeExpr FloorDiv(SizeExpr a, long d)
    {
        if (d == 0) throw new DivideByZeroException("integer division or modulo by zero");
        if (d < 0) return FloorDiv(-a, -d);
        if (d == 1) return a;
        var (divisible, rest) = SplitDivisible(a, d);
        var quotient = FromTerms(divisible.Select(t => (t.Monomial, t.Coefficient / d)));
        var restExpr = FromTerms(rest);
        return quotient + (restExpr.ConstantValue is { } r ? Constant(FloorDivide(r, d)) : Atom(new FloorDivAtom(restExpr, d)));
    }

    /// <summary>Python's <c>a % d</c> for a constant <paramref name="d"/> &gt; 0.</summary>
    public static SizeExpr Mod(SizeExpr a, long d)
    {
        if (d == 0) throw new DivideByZeroException("integer division or modulo by zero");
        if (d < 0) throw new NotSupportedException($"the remainder of a size by a negative number ({a} % {d}) is not supported");
        if (d == 1) return Constant(0);
        var (_, rest) = SplitDivisible(a, d);
        var restExpr = FromTerms(rest);
        return restExpr.ConstantValue is { } r ? Constant(r - FloorDivide(r, d) * d) : Atom(new ModAtom(restExpr, d));
    }

    /// <summary>a / b when b divides every term of a (a monomial with a coefficient), else null.</summary>
    public static SizeExpr? ExactDivide(SizeExpr a, SizeExpr b)
    {
        if (a.ConstantValue is { } x && b.ConstantValue is { } y) return y != 0 && x % y == 0 ? Constant(x / y) : null;
        if (b.Terms is not [var (divisor, coefficient)]) return a == b ? Constant(1) : null;
        var terms = new List<(Monomial, long)>();
        foreach (var (m, c) in a.Terms)
        {
            if (c % coefficient != 0 || m.Divide(divisor) is not { } q) return null;
            terms.Add((q, c / coefficient));
        }
        return FromTerms(terms);
    }

    private static (List<(Monomial Monomial, long Coefficient)> Divisible, List<(Monomial Monomial, long Coefficient)> Remainder) SplitDivisible(SizeExpr a, long d)
    {
        var divisible = new List<(Monomial, long)>();
        var rest = new List<(Monomial, long)>();
        foreach (var (m, c) in a.Terms)
        {
            var whole = c - (c % d + d) % d; // the part of c that d divides (floor)
            if (!m.IsOne && whole != 0) divisible.Add((m, whole));
            if (m.IsOne) rest.Add((m, c));
            else if (c != whole) rest.Add((m, c - whole));
        }
        return (divisible, rest);
    }

    private static SizeExpr Atom(SizeAtom atom) => FromTerms([(new Monomial([atom]), 1)]);

    internal static long FloorDivide(long a, long b)
    {
        var q = a / b;
        return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
    }

    /// <summary>The value with every symbol given a value; a symbol without one is an error naming it.</summary>
    public long Evaluate(IReadOnlyDictionary<string, long> values)
    {
        long total = 0;
        foreach (var (m, c) in Terms) total = checked(total + c * m.Evaluate(values));
        return total;
    }

    /// <summary>The expression with symbols replaced (those <paramref name="replace"/> maps; others stay).</summary>
    public SizeExpr Substitute(Func<string, SizeExpr?> replace) =>
        Terms.Aggregate(Constant(0), (sum, t) => sum + t.Monomial.Substitute(replace) * Constant(t.Coefficient));

    /// <summary>
    /// A lower bound known without any value (symbols are at least 1, remainders and floor divisions of
    /// non-negative values at least 0), or null when a negative coefficient leaves it unknown.
    /// </summary>
    public long? LowerBound(long symbolBound = 1)
    {
        long bound = 0;
        var positive = new List<(Monomial Monomial, long Coefficient)>();
        var negative = new List<(Monomial Monomial, long Coefficient)>();
        foreach (var (m, c) in Terms)
        {
            if (m.IsOne) bound += c;
            else if (c > 0) positive.Add((m, c));
            else negative.Add((m, c));
        }
        // a negative term -c*m is covered by a positive term c'*m*q with c'*lb(q) >= c (m >= 0, so
        // c'*m*q - c*m >= (c'*lb(q) - c)*m): s0*s1 - s1 >= 0
        foreach (var (m, c) in negative)
        {
            if (m.LowerBound(symbolBound) is not { } lbM || lbM < 0) return null;
            var cover = positive.FindIndex(p => p.Monomial.Divide(m) is { IsOne: false } q && q.LowerBound(symbolBound) is { } lbQ && p.Coefficient * lbQ >= -c);
            if (cover < 0) return null;
            var (pm, pc) = positive[cover];
            positive.RemoveAt(cover);
            bound += (pc * pm.Divide(m)!.LowerBound(symbolBound)!.Value + c) * lbM;
        }
        foreach (var (m, c) in positive)
        {
            if (m.LowerBound(symbolBound) is not { } lb) return null;
            bound += c * lb;
        }
        return bound;
    }

    public bool Equals(SizeExpr? other) => other is not null && _text == other._text;
    public override bool Equals(object? obj) => obj is SizeExpr e && Equals(e);
    public override int GetHashCode() => _text.GetHashCode(StringComparison.Ordinal);
    public static bool operator ==(SizeExpr? a, SizeExpr? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(SizeExpr? a, SizeExpr? b) => !(a == b);

    /// <summary>Python's spelling: <c>2*s0*s1 + s0 - 3</c>, <c>(s0//2)</c>.</summary>
    public override string ToString() => _text;

    private static string Format(IReadOnlyList<(Monomial Monomial, long Coefficient)> terms)
    {
        if (terms.Count == 0) return "0";
        var text = new StringBuilder();
        foreach (var (m, c) in terms)
        {
            var magnitude = Math.Abs(c);
            if (text.Length == 0) text.Append(c < 0 ? "-" : "");
            else text.Append(c < 0 ? " - " : " + ");
            if (m.IsOne) text.Append(magnitude.ToString(CultureInfo.InvariantCulture));
            else text.Append(magnitude == 1 ? m.Key : magnitude.ToString(CultureInfo.InvariantCulture) + "*" + m.Key);
        }
        return text.ToString();
    }

    /// <summary>Reads what <see cref="ToString"/> writes (and any arithmetic of + - * // % on ints, symbols and parentheses).</summary>
    public static SizeExpr Parse(string text)
    {
        var p = new Parser(text);
        var e = p.Sum();
        p.SkipSpaces();
        if (!p.AtEnd) throw new FormatException($"unexpected '{text[p.Position..]}' in size expression '{text}'");
        return e;
    }

    private sealed class Parser(string text)
    {
        public int Position;
        public bool AtEnd => Position >= text.Length;

        public void SkipSpaces()
        {
            while (Position < text.Length && text[Position] == ' ') Position++;
        }

        private bool Take(string token)
        {
            SkipSpaces();
            if (string.CompareOrdinal(text, Position, token, 0, token.Length) != 0) return false;
            Position += token.Length;
            return true;
        }

        public SizeExpr Sum()
        {
            var e = Take("-") ? -Product() : Product();
            while (true)
            {
                if (Take("+")) e += Product();
                else if (Take("-")) e -= Product();
                else return e;
            }
        }

        private SizeExpr Product()
        {
            var e = Factor();
            while (true)
            {
                if (Take("//")) e = FloorDiv(e, Factor());
                else if (Take("*")) e *= Factor();
                else if (Take("%")) e = Factor() is { ConstantValue: { } d } ? Mod(e, d) : throw new FormatException($"a remainder by a symbol in '{text}'");
                else return e;
            }
        }

        private SizeExpr Factor()
        {
            SkipSpaces();
            if (Take("("))
            {
                var e = Sum();
                if (!Take(")")) throw new FormatException($"missing ')' in size expression '{text}'");
                return e;
            }
            var start = Position;
            if (Position < text.Length && char.IsAsciiDigit(text[Position]))
            {
                while (Position < text.Length && char.IsAsciiDigit(text[Position])) Position++;
                return Constant(long.Parse(text.AsSpan(start, Position - start), CultureInfo.InvariantCulture));
            }
            while (Position < text.Length && (char.IsAsciiLetterOrDigit(text[Position]) || text[Position] == '_')) Position++;
            if (Position == start) throw new FormatException($"expected a number or a size symbol at {start} in '{text}'");
            return Symbol(text[start..Position]);
        }
    }
}

/// <summary>A product of atoms (sorted, with repeats for powers); the empty product is 1.</summary>
public sealed record Monomial
{
    public Monomial(IEnumerable<SizeAtom> atoms)
    {
        Atoms = atoms.OrderBy(a => a.Key, StringComparer.Ordinal).ToEquatableList();
        Key = string.Join("*", Atoms.Select(a => a.Key));
    }

    public EquatableList<SizeAtom> Atoms { get; }

    public static Monomial One { get; } = new([]);

    public bool IsOne => Atoms.Count == 0;

    public string Key { get; }

    public static Monomial operator *(Monomial a, Monomial b) => new(a.Atoms.Concat(b.Atoms));

    /// <summary>a / b when b's atoms are among a's, else null.</summary>
    public Monomial? Divide(Monomial b)
    {
        var left = Atoms.ToList();
        foreach (var atom in b.Atoms)
            if (!left.Remove(atom)) return null;
        return new Monomial(left);
    }

    public long Evaluate(IReadOnlyDictionary<string, long> values) => Atoms.Aggregate(1L, (p, a) => checked(p * a.Evaluate(values)));

    public SizeExpr Substitute(Func<string, SizeExpr?> replace) => Atoms.Aggregate(SizeExpr.Constant(1), (p, a) => p * a.Substitute(replace));

    public long? LowerBound(long symbolBound = 1)
    {
        long bound = 1;
        foreach (var a in Atoms)
        {
            if (a.LowerBound(symbolBound) is not { } lb) return null;
            bound *= lb;
        }
        return bound;
    }
}

/// <summary>A factor of a monomial: a size symbol, or a floor division or remainder by a constant that does not simplify.</summary>
public abstract record SizeAtom
{
    public abstract string Key { get; }
    public abstract IEnumerable<string> Symbols { get; }
    public abstract long Evaluate(IReadOnlyDictionary<string, long> values);
    public abstract SizeExpr Substitute(Func<string, SizeExpr?> replace);
    /// <summary>A lower bound with every symbol at least <paramref name="symbolBound"/>.</summary>
    public abstract long? LowerBound(long symbolBound);
}

public sealed record SymbolAtom(string Name) : SizeAtom
{
    public override string Key => Name;
    public override IEnumerable<string> Symbols => [Name];

    public override long Evaluate(IReadOnlyDictionary<string, long> values) =>
        values.TryGetValue(Name, out var v) ? v : throw new KeyNotFoundException($"no value for size symbol {Name}");

    public override SizeExpr Substitute(Func<string, SizeExpr?> replace) => replace(Name) ?? SizeExpr.Symbol(Name);
    public override long? LowerBound(long symbolBound) => symbolBound;
}

public sealed record FloorDivAtom(SizeExpr Numerator, long Divisor) : SizeAtom
{
    public override string Key => $"({Numerator}//{Divisor})";
    public override IEnumerable<string> Symbols => Numerator.Symbols;
    public override long Evaluate(IReadOnlyDictionary<string, long> values) => SizeExpr.FloorDivide(Numerator.Evaluate(values), Divisor);
    public override SizeExpr Substitute(Func<string, SizeExpr?> replace) => SizeExpr.FloorDiv(Numerator.Substitute(replace), Divisor);
    public override long? LowerBound(long symbolBound) => Numerator.LowerBound(symbolBound) is { } lb ? SizeExpr.FloorDivide(lb, Divisor) : null;
}

public sealed record ModAtom(SizeExpr Numerator, long Divisor) : SizeAtom
{
    public override string Key => $"({Numerator}%{Divisor})";
    public override IEnumerable<string> Symbols => Numerator.Symbols;

    public override long Evaluate(IReadOnlyDictionary<string, long> values)
    {
        var n = Numerator.Evaluate(values);
        return n - SizeExpr.FloorDivide(n, Divisor) * Divisor;
    }

    public override SizeExpr Substitute(Func<string, SizeExpr?> replace) => SizeExpr.Mod(Numerator.Substitute(replace), Divisor);
    public override long? LowerBound(long symbolBound) => 0;
}
