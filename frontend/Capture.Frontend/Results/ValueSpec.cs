namespace Capture.Frontend;

/// <summary>
/// How to rebuild a real Python value after a compiled segment ran: from a graph output, a constant,
/// a container of such, or re-read from the frame by source.
/// </summary>
public abstract record ValueSpec
{
    public sealed record Output(int Index) : ValueSpec;
    public sealed record Constant(PyObject Value) : ValueSpec;
    public sealed record Tuple(IReadOnlyList<ValueSpec> Items) : ValueSpec
    {
        public PyObject? NamedType { get; init; }
    }
    public sealed record List(IReadOnlyList<ValueSpec> Items) : ValueSpec;
    /// <summary>A dict; Type(Factory) first when it is an OrderedDict or a defaultdict, then its items in order.</summary>
    public sealed record Dict(IReadOnlyList<KeyValuePair<DictKey, ValueSpec>> Items) : ValueSpec
    {
        public PyObject? Type { get; init; }
        public PyObject? Factory { get; init; }
    }

    /// <summary>A new set of these constants.</summary>
    public sealed record Set(IReadOnlyList<DictKey> Items) : ValueSpec;
    public sealed record Method(ValueSpec Self, string Name) : ValueSpec;
    public sealed record Iterator(IReadOnlyList<ValueSpec> Remaining) : ValueSpec;
    public sealed record GradMode(bool Enabled) : ValueSpec;
    public sealed record Null : ValueSpec;

    /// <summary>functools.partial(Callee, *Args, **Kwargs).</summary>
    public sealed record Partial(ValueSpec Callee, IReadOnlyList<ValueSpec> Args, IReadOnlyList<KeyValuePair<string, ValueSpec>> Kwargs) : ValueSpec;

    /// <summary>An instance of a plain user class made during capture: object.__new__(Type), then its attributes.</summary>
    public sealed record UserObject(PyObject Type, IReadOnlyList<KeyValuePair<string, ValueSpec>> Attributes) : ValueSpec;

    /// <summary>A function made during capture (without closure cells): types.FunctionType(code, globals, defaults).</summary>
    public sealed record Function(PyObject Code, PyObject Globals, IReadOnlyList<ValueSpec> Defaults, IReadOnlyList<KeyValuePair<string, ValueSpec>> KwDefaults) : ValueSpec;

    /// <summary>The very object the frame held at this source (keeps identity: a caller's list stays that list).</summary>
    public sealed record FromSource(Source Source) : ValueSpec;
}
