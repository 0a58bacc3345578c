namespace Capture.Bytecode;

/// <summary>
/// A value during symbolic execution. Values read from the frame carry the <see cref="Source"/>
/// they came from (guards are made from sources); values made during capture have none.
/// </summary>
public abstract record SymValue
{
    public Source? Source { get; init; }
}

/// <summary>A tensor: a graph node and its metadata.</summary>
public sealed record TensorValue(string Node, TensorMeta Meta) : SymValue;

/// <summary>
/// A Python constant known at capture time (int, float, bool, str, None, dtype, slice, tuple of
/// constants...). One read from the frame is guarded only once the capture uses its value: reading
/// <see cref="Value"/> installs the guard, while storing or returning it does not.
/// </summary>
public record ConstValue : SymValue
{
    private readonly PyObject _value;
    private Action? _onFirstUse;

    public ConstValue(PyObject value, Action? onFirstUse = null)
    {
        _value = value;
        _onFirstUse = onFirstUse;
    }

    /// <summary>
    /// The guards this value was computed from (a guarded argument, the sizes of a tensor input), so
    /// that a branch decided by it explains them: "line 14 branches on `x.shape[0] > 2`".
    /// </summary>
    public IReadOnlyList<Guard> DependsOn { get; init; } = [];

    /// <summary>The value, without making the capture depend on it (for one that guards what it derives instead).</summary>
    public PyObject Peek => _value;

    /// <summary>The value; the capture now depends on it.</summary>
    public PyObject Value
    {
        get
        {
            var guard = _onFirstUse;
            _onFirstUse = null;
            guard?.Invoke();
            return _value;
        }
    }
}

/// <summary>
/// A Python int that is a symbolic size (<c>x.shape[1]</c> of a dynamic dim, <c>T // 2</c>): arithmetic
/// and comparisons on it stay symbolic (comparisons guard what they decided), graph ops take it as
/// a run-time size. Anything else that reads it as a plain int (<see cref="ConstValue.Value"/>: the
/// value in the call being captured) specializes it: a guard pins the size to that value.
/// </summary>
public sealed record SymIntValue : ConstValue
{
    public SymIntValue(Dim size, PyObject hint, Action specialize) : base(hint, specialize) => Size = size;

    public Dim Size { get; }
}

/// <summary>
/// A Python float a graph break left on the stack (a <c>.item()</c> the break computed): it changes
/// from call to call, so graph ops take it as a graph input (<see cref="Input"/> makes the
/// placeholder on first use, guarded by type only) instead of a constant. A comparison with a
/// constant guards its outcome (a branch on <c>s &gt; 0</c>); anything else that reads it as a plain
/// float (Python arithmetic) specializes it, guarded by value.
/// </summary>
public sealed record ScalarInputValue : ConstValue
{
    public ScalarInputValue(PyObject value, Action specialize, Func<string> input) : base(value, specialize) => Input = input;

    /// <summary>The graph input's node name (made on first use).</summary>
    public Func<string> Input { get; }
}

/// <summary>A slice with a symbolic bound (<c>mask[:T]</c>); each part a constant or a <see cref="SymIntValue"/>.</summary>
public sealed record SliceValue(SymValue Start, SymValue Stop, SymValue Step) : SymValue;

public sealed record TupleValue(IReadOnlyList<SymValue> Items) : SymValue
{
    /// <summary>A structseq type torch returns instead of a plain tuple (torch.return_types.max), if any.</summary>
    public PyObject? NamedType { get; init; }
}

/// <summary>
/// A list, with Python's identity: one object however many locals, cells or containers hold it, so
/// a mutation is seen through all of them. Mutations go through <see cref="CaptureContext"/>, which
/// can undo them (an instruction that breaks leaves nothing behind) and replays those on lists
/// from the frame after the graph.
/// </summary>
public sealed record ListValue : SymValue
{
    public ListValue(IReadOnlyList<SymValue> items) => Items = items;

    public IReadOnlyList<SymValue> Items { get; internal set; }

    /// <summary>Whether the capture changed it (a list from the frame is then rewritten after the graph).</summary>
    public bool Mutated { get; internal set; }

    public bool Equals(ListValue? other) => ReferenceEquals(this, other);
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
}

/// <summary>
/// A dict (or an OrderedDict, a defaultdict) with keys known at capture time (<see cref="DictKey"/>),
/// in insertion order, with Python's identity (like <see cref="ListValue"/>). Changes go through
/// <see cref="CaptureContext"/> (undone if the instruction breaks); a dict from the frame that the
/// capture changed is rewritten after the graph.
/// </summary>
public sealed record DictValue : SymValue
{
    public DictValue(IReadOnlyList<KeyValuePair<DictKey, SymValue>> items) => Items = items;

    public IReadOnlyList<KeyValuePair<DictKey, SymValue>> Items { get; internal set; }

    /// <summary>collections.OrderedDict or collections.defaultdict; null for a plain dict.</summary>
    public ObjectValue? Type { get; init; }

    /// <summary>A defaultdict's default_factory (list, int...): what a missing key's first read makes.</summary>
    public ObjectValue? Factory { get; init; }

    /// <summary>Whether the capture changed it (a dict from the frame is then rewritten after the graph).</summary>
    public bool Mutated { get; internal set; }

    /// <summary>The value at <paramref name="key"/>, or null.</summary>
    public SymValue? Find(DictKey key)
    {
        foreach (var (k, v) in Items)
            if (k == key) return v;
        return null;
    }

    /// <summary>The items with <paramref name="key"/> set to <paramref name="value"/> (in place when present, else last).</summary>
    public List<KeyValuePair<DictKey, SymValue>> With(DictKey key, SymValue value)
    {
        var entries = Items.ToList();
        Put(entries, key, value);
        return entries;
    }

    /// <summary>entries[key] = value as a dict does it: in place when present (the first position stays), else last.</summary>
    public static void Put(List<KeyValuePair<DictKey, SymValue>> entries, DictKey key, SymValue value)
    {
        var at = entries.FindIndex(p => p.Key == key);
        if (at >= 0) entries[at] = new(entries[at].Key, value);
        else entries.Add(new(key, value));
    }

    /// <summary>The items without <paramref name="key"/>.</summary>
    public List<KeyValuePair<DictKey, SymValue>> Without(DictKey key) => Items.Where(p => p.Key != key).ToList();

    public bool Equals(DictValue? other) => ReferenceEquals(this, other);
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
}

/// <summary>A set made during the capture, of hashable constants, with Python's identity; changes go through <see cref="CaptureContext"/>.</summary>
public sealed record SetValue : SymValue
{
    public SetValue(IReadOnlyList<DictKey> items) => Items = items;

    public IReadOnlyList<DictKey> Items { get; internal set; }

    public bool Equals(SetValue? other) => ReferenceEquals(this, other);
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
}

/// <summary>A namedtuple's _replace or _asdict, bound to the tuple; or its class's _make (<see cref="Tuple"/> null).</summary>
public sealed record NamedTupleMethodValue(TupleValue? Tuple, ObjectValue Type, string Name) : SymValue;

/// <summary>A method of a set made during the capture (add, discard, union...), bound.</summary>
public sealed record SetMethodValue(SetValue Set, string Name) : SymValue;

/// <summary>The NULL CPython pushes below a callable (PUSH_NULL, LOAD_GLOBAL's low bit).</summary>
public sealed record NullValue : SymValue
{
    public static NullValue Instance { get; } = new();
}

/// <summary>A real Python object the capture holds (modules, functions, nn.Modules, others), guarded by identity.</summary>
public sealed record ObjectValue(PyObject Object, ObjectKind Kind, string QualifiedName) : SymValue;

/// <summary>
/// An instance of a plain user class made during the capture (no custom __new__, metaclass or
/// builtin base): its attributes, with Python's identity. Rebuilt after a graph as
/// object.__new__(Type) with its attributes set.
/// </summary>
public sealed record UserObjectValue : SymValue
{
    public UserObjectValue(ObjectValue type) => Type = type;

    public ObjectValue Type { get; }

    public IReadOnlyList<KeyValuePair<string, SymValue>> Attributes { get; internal set; } = [];

    public bool Equals(UserObjectValue? other) => ReferenceEquals(this, other);
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
}

/// <summary>A plain function of a class bound to a value (a user object's method, a classmethod's class): inlined when called.</summary>
public sealed record BoundMethodValue(SymValue Self, PyObject Function, string Name, Source? FunctionSource) : SymValue;

/// <summary>functools.partial(Function, *Args, **Kwargs) made during the capture: calling it calls Function with the arguments prepended.</summary>
public sealed record PartialValue(SymValue Function, IReadOnlyList<SymValue> Args, IReadOnlyList<KeyValuePair<string, SymValue>> Kwargs) : SymValue;

/// <summary>super(Class, Self) (or zero-argument super() in a method): attribute reads resolve past Class in Self's MRO.</summary>
public sealed record SuperValue(ObjectValue Class, SymValue Self) : SymValue;

/// <summary>A Python method of an nn.Module's class, bound to the module (self._conv_forward): inlined when called.</summary>

public sealed record ModuleMethodValue(ObjectValue Self, PyObject Function, string Name) : SymValue;

/// <summary>A mutating method of a list made during capture (append, extend).</summary>
public sealed record ListMethodValue(ListValue List, string Name) : SymValue;

/// <summary>A tensor's method, bound (x.view, x.sum).</summary>
public sealed record TensorMethodValue(TensorValue Self, string Name) : SymValue;

/// <summary>An iterator over values known at capture time (loops over tuples, lists, ranges are unrolled).</summary>
/// Like a list it has identity: consuming it through one holder consumes it for all (changes go
/// through <see cref="CaptureContext.Consume"/>, which can undo them).
public sealed record IteratorValue : SymValue
{
    public IteratorValue(IReadOnlyList<SymValue> items) => Items = items;

    public IReadOnlyList<SymValue> Items { get; }
    public int Position { get; internal set; }

    /// <summary>What an inlined generator returned (the value of `yield from` over it); null for None.</summary>
    public SymValue? Returned { get; init; }
    public IEnumerable<SymValue> Remaining => Items.Skip(Position);

    public bool Equals(IteratorValue? other) => ReferenceEquals(this, other);
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
}

/// <summary>A grad-mode context manager (torch.no_grad(), torch.enable_grad()).</summary>
public sealed record GradModeValue(bool Enabled) : SymValue;

/// <summary>The __exit__ of an entered grad-mode block: calling it restores <see cref="Restore"/>.</summary>
public sealed record GradModeExitValue(bool Restore) : SymValue;

/// <summary>
/// A closure cell of a frame being captured (LOAD_CLOSURE): its contents are the owner's variable
/// <see cref="Name"/>, read and written through the owner, so a nested function sees later stores.
/// </summary>
public sealed record CellValue(InstructionTranslator Owner, string Name) : SymValue;

/// <summary>
/// A function made during capture (MAKE_FUNCTION): nested functions, lambdas, comprehensions and
/// generator expressions. Calls inline its code with its defaults and closure cells.
/// </summary>
public sealed record FunctionValue(
    PyObject CodeObject,
    CodeInfo Code,
    IReadOnlyList<SymValue> Defaults,
    IReadOnlyList<KeyValuePair<string, SymValue>> KwDefaults,
    IReadOnlyList<CellValue> Closure,
    PyObject Globals,
    Source? GlobalsSource) : SymValue
{
    /// <summary>The function functools.wraps made this one look like (its __name__, __doc__, __wrapped__ read from there).</summary>
    public SymValue? Wrapped { get; init; }
}

/// <summary>functools.wraps(Wrapped): applied to a function made during the capture, it marks it as wrapping Wrapped.</summary>
public sealed record WrapsValue(SymValue Wrapped) : SymValue;

/// <summary>A read-only method of a dict (items, keys, values, get), bound.</summary>
public sealed record DictMethodValue(DictValue Dict, string Name) : SymValue;

/// <summary>A module registry's items/keys/values method (m._modules.items): calling it gives <see cref="Result"/>.</summary>
public sealed record ModuleDictMethodValue(ListValue Result) : SymValue;
