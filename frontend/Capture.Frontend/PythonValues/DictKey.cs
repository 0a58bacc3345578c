namespace Capture.Frontend;

/// <summary>
/// A key of a dict (or an item of a set) the capture holds: a hashable Python constant known at
/// capture time (str, int, float, bool, None, a tuple of such, a dtype). Equality is Python's, as a
/// dict's is: 1, 1.0 and True are one key.
/// </summary>
public sealed class DictKey : IEquatable<DictKey>
{
    private readonly long _hash;

    private DictKey(PyObject value, long hash)
    {
        Value = value;
        _hash = hash;
    }

    /// <summary>The key as a Python object (held for the session: keys are few and small).</summary>
    public PyObject Value { get; }

    /// <summary>The key's text when it is a str, else null.</summary>
    public string? Name => Value.IsStr ? Value.AsString() : null;

    /// <summary>A key for <paramref name="value"/> (a new reference is taken), or null when Python cannot hash it.</summary>
    public static DictKey? Of(PyObject value)
    {
        if (value.IsStr) return new DictKey(value.NewReference(), StringComparer.Ordinal.GetHashCode(value.AsString()));
        try
        {
            using var builtins = Py.Builtins;
            using var hash = builtins.GetAttr("hash");
            using var h = hash.Call(value);
            return new DictKey(value.NewReference(), h.ToInt64());
        }
        catch (PythonException)
        {
            return null;
        }
    }

    public static implicit operator DictKey(string name)
    {
        using var s = Py.Str(name);
        return Of(s)!;
    }

    public bool Equals(DictKey? other)
    {
        if (other is null) return false;
        if (ReferenceEquals(this, other) || Value.Is(other.Value)) return true;
        if (Value.IsStr && other.Value.IsStr) return Value.AsString() == other.Value.AsString();
        if (Value.IsStr != other.Value.IsStr) return false;
        return _hash == other._hash && Value.PyEquals(other.Value);
    }

    public override bool Equals(object? obj) => obj is DictKey k && Equals(k);

    // strings hash by their text; other keys by Python's hash (equal keys hash equal there)
    public override int GetHashCode() => Value.IsStr ? (int)_hash : _hash.GetHashCode();

    public static bool operator ==(DictKey? a, DictKey? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(DictKey? a, DictKey? b) => !(a == b);

    /// <summary>How Python writes the key ('a', 0, (1, 2)).</summary>
    public override string ToString() => Value.Repr();
}
