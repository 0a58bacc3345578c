namespace Capture.Frontend;

/// <summary>
/// A condition a later call must meet for a capture to be reused. <see cref="Check"/> returns null
/// when it holds, else the reason it failed (which becomes the recompile reason). ToString is the
/// readable expression reports show.
/// </summary>
public abstract record Guard
{
    public abstract string? Check(FrameState frame, ITorchBridge torch);

    /// <summary>The kind, for grouping in reports.</summary>
    public abstract string Kind { get; }

    /// <summary>The value the guard reads, when it reads one (global-state guards read none).</summary>
    public virtual Source? Subject => null;

    /// <summary>What a use of the guarded value at some line does, in reports ("uses x as a graph input").</summary>
    public virtual string Use => "depends on it";

    /// <summary>Reads a source's value; a source that no longer resolves fails the guard with the reason.</summary>
    protected static SourceValue? TryResolve(Source source, FrameState frame, out string? failure)
    {
        try
        {
            failure = null;
            return SourceValue.Of(source, frame);
        }
        catch (Exception e) when (e is PythonException or KeyNotFoundException)
        {
            failure = $"{source} cannot be read: {e.Message}";
            (e as PythonException)?.Dispose();
            return null;
        }
    }
}

/// <summary>A guard on the value one source reads: the value is read once, then checked.</summary>
public abstract record SourceGuard(Source Source) : Guard
{
    public override Source? Subject => Source;

    public sealed override string? Check(FrameState frame, ITorchBridge torch)
    {
        using var valueRead = TryResolve(Source, frame, out var failure);
        return valueRead is { Object: var value } ? CheckValue(value, frame, torch) : failure;
    }

    /// <summary>Null when <paramref name="value"/> meets the guard, else why not.</summary>
    protected abstract string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch);

    /// <summary>The check on a value already read from <see cref="Source"/> (a <see cref="ReadPlan"/> reads it).</summary>
    internal string? CheckRead(PyObject value, FrameState frame, ITorchBridge torch) => CheckValue(value, frame, torch);
}

/// <summary>
/// dtype, device, sizes, strides and requires_grad of a tensor. A symbolic size (<c>s0</c>, a dim
/// made dynamic) matches any size of at least 1 (0 specializes; where the capture relied on a size not being 1, a size-relation guard says so), the same symbol the same size
/// across tensors; the value is bound in <see cref="FrameState.SizeBindings"/> for the strides here and
/// the size-relation guards after.
/// </summary>
public sealed record TensorMatchGuard(Source Source, TensorMeta Expected) : SourceGuard(Source)
{
    public override string Kind => "tensor match";

    public override string Use => Expected.Shape.IsConcrete
        ? $"reads {Source} as a graph input (dtype, sizes and strides are specialized)"
        : $"reads {Source} as a graph input (dtype and strides specialized, sizes {string.Join(", ", Expected.Shape.Dims.Where(d => !d.IsConcrete))} dynamic)";

    protected override string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch)
    {
        if (!torch.IsTensor(value)) return $"'{Source}' is no longer a tensor (it is {value.TypeName})";
        if (!torch.IsPlainTensor(value)) return $"'{Source}' is now a tensor subclass ({value.TypeName})";
        var actual = torch.ReadMeta(value);
        if (actual.DType != Expected.DType) return $"tensor '{Source}' dtype mismatch: expected {Expected.DType.TorchName()}, actual {actual.DType.TorchName()}";
        if (actual.Device != Expected.Device) return $"tensor '{Source}' device mismatch: expected {Expected.Device}, actual {actual.Device}";
        if (actual.Rank != Expected.Rank) return $"tensor '{Source}' rank mismatch: expected {Expected.Rank}, actual {actual.Rank}";
        for (var i = 0; i < Expected.Rank; i++)
        {
            var size = actual.Shape[i].Value!.Value;
            if (Expected.Shape[i].SymbolName() is { } symbol)
            {
                if (size < 1) return $"tensor '{Source}' size {size} at index {i}, where the capture has the dynamic size {symbol} (size 0 is specialized)";
                if (frame.SizeBindings.TryGetValue(symbol, out var bound) && bound != size)
                    return $"tensor '{Source}' size mismatch at index {i}: {symbol} is {bound} (from another input), actual {size}";
                frame.SizeBindings[symbol] = size;
            }
            else if (actual.Shape[i] != Expected.Shape[i])
                return $"tensor '{Source}' size mismatch at index {i}: expected {Expected.Shape[i]}, actual {actual.Shape[i]}";
        }
        var strides = Expected.StrideDims!;
        for (var i = 0; i < Expected.Rank; i++)
        {
            var expected = strides[i].Value ?? strides[i].Evaluate(frame.SizeBindings);
            if (actual.Strides![i] != expected)
                return $"tensor '{Source}' stride mismatch at index {i}: expected {expected}{(strides[i].IsConcrete ? "" : $" ({strides[i]})")}, actual {actual.Strides[i]}";
        }
        if (actual.RequiresGrad != Expected.RequiresGrad)
            return $"tensor '{Source}' requires_grad mismatch: expected {Expected.RequiresGrad}, actual {actual.RequiresGrad}";
        return null;
    }

    /// <summary>The dims whose size differs from the expected constant one (what automatic dynamic makes symbolic).</summary>
    public IEnumerable<int> SizeMismatches(TensorMeta actual) =>
        actual.Rank != Expected.Rank ? [] : Enumerable.Range(0, Expected.Rank).Where(i => Expected.Shape[i].IsConcrete && actual.Shape[i] != Expected.Shape[i]);

    public override string ToString() =>
        $"{Source}: tensor {MetaText.Format(Expected with { RequiresGrad = false })}, strides ({string.Join(", ", Expected.StrideDims ?? EquatableList<Dim>.Empty)}), requires_grad={(Expected.RequiresGrad ? "True" : "False")}";
}

/// <summary>A relation between dynamic sizes the capture relied on (<c>s0 &lt;= 64</c>: a slice of a 64-row buffer by s0).</summary>
public sealed record SizeRelationGuard(SizeRelation Relation, string Reason) : Guard
{
    public override string Kind => "size relation";

    public override string Use => $"relies on {Relation} ({Reason})";

    public override string? Check(FrameState frame, ITorchBridge torch)
    {
        if (Relation.Left.Symbols.Concat(Relation.Right.Symbols).FirstOrDefault(s => !frame.SizeBindings.ContainsKey(s)) is { } unbound)
            return $"size {unbound} is not bound by any input (guard {Relation})";
        return Relation.Holds(frame.SizeBindings)
            ? null
            : $"size relation {Relation} does not hold for {string.Join(", ", Relation.Left.Symbols.Concat(Relation.Right.Symbols).Distinct().Select(s => $"{s} = {frame.SizeBindings[s]}"))} ({Reason})";
    }

    public override string ToString() => Relation.ToString();
}

/// <summary>
/// A comparison of a float a graph break left on the stack with a constant (<c>S[0] &gt; 0.0</c>): a
/// branch on a <c>.item()</c> value guards its outcome, not the value, so a new value on the same
/// side of the branch reuses the capture.
/// </summary>
public sealed record FloatRelationGuard(Source Source, SizeComparison Op, double Bound, bool Holds, string Reason) : SourceGuard(Source)
{
    public override string Kind => "value relation";

    public override string Use => $"relies on {this} ({Reason})";

    private string Relation => $"{Source} {Op.Text()} {Bound.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}";

    protected override string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch)
    {
        if (!value.IsFloat || value.IsBool) return $"{Source} is no longer a float (it is {value.TypeName})";
        var actual = value.ToDouble();
        return Op.Holds(actual, Bound) == Holds ? null : $"{Source} = {actual.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}: {this} no longer holds ({Reason})";
    }

    // "not (S[0] > 0.0)" rather than "S[0] <= 0.0": a NaN is neither
    public override string ToString() => Holds ? Relation : $"not ({Relation})";
}

/// <summary>type(value) is T.</summary>
public sealed record TypeMatchGuard(Source Source, PyObject Type, string TypeName) : SourceGuard(Source)
{
    public override string Kind => "type match";

    public override string Use => $"relies on the type of {Source}";

    protected override string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch)
    {
        return value.TypeIs(Type) ? null : $"type({Source}) changed: expected {TypeName}, actual {value.TypeName}";
    }

    public override string ToString() => $"type({Source}) is {TypeName}";
}

/// <summary>
/// value is one particular object (a function, a module, a class), still of the class it had at capture
/// (`obj.__class__ = Other` keeps the object but changes every method the capture looked up on it).
/// The guard keeps it alive.
/// </summary>
public sealed record IdMatchGuard(Source Source, PyObject Object, string Description) : SourceGuard(Source)
{
    private readonly PyObject _type = Object.Type;

    public override string Kind => "identity match";

    public override string Use => $"uses the object {Source} (calls it or reads it)";

    protected override string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch)
    {
        if (!value.Is(Object)) return $"{Source} is a different object: expected {Description}, actual {Describe(value)}";
        if (value.TypeIs(_type)) return null;
        using var expected = _type.GetAttr("__qualname__");
        return $"{Source} is the same object of another class now: expected {expected.AsString()}, actual {value.TypeName}";
    }

    public static string Describe(PyObject value) =>
        value.HasAttr("__qualname__") ? $"<{value.TypeName} {Qualname(value)}>" : $"<{value.TypeName} object>";

    private static string Qualname(PyObject value)
    {
        using var name = value.GetAttr("__qualname__");
        return name.IsStr ? name.AsString() : "?";
    }

    public override string ToString() => $"{Source} is {Description}";
}

/// <summary>value == constant, of the same type (so True does not pass for 1).</summary>
public sealed record ConstantMatchGuard(Source Source, PyObject Value) : SourceGuard(Source)
{
    public override string Kind => "constant match";

    public override string Use => Source is StackSource
        ? $"uses the value a graph break left on the stack ({Source}), specialized as a constant"
        : $"uses the value of {Source}";

    protected override string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch)
    {
        // the very object (True, a small int, an interned str, a config object's field): equal without a Python comparison
        if (value.Is(Value)) return null;
        if (!value.HasSameType(Value) || !value.PyEquals(Value)) return $"{Source} changed: expected {Value.Repr()}, actual {value.Repr()}";
        return null;
    }

    public override string ToString() => $"{Source} == {Value.Repr()}";
}

/// <summary>len(value) == n, for lists and tuples whose items the capture unpacked.</summary>
public sealed record LengthMatchGuard(Source Source, long Length) : SourceGuard(Source)
{
    public override string Kind => "sequence length";

    public override string Use => $"unpacks or iterates {Source}";

    protected override string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch)
    {
        var length = value.Length;
        return length == Length ? null : $"len({Source}) changed: expected {Length}, actual {length}";
    }

    public override string ToString() => $"len({Source}) == {Length}";
}

/// <summary>torch.is_grad_enabled() as at capture.</summary>
public sealed record GradModeGuard(bool Enabled) : Guard
{
    public override string Kind => "global state";

    public override string Use => Enabled ? "the graph records autograd (grad mode on at capture)" : "the graph was captured without autograd (grad mode off)";

    public override string? Check(FrameState frame, ITorchBridge torch) =>
        torch.IsGradEnabled() == Enabled ? null : $"grad mode changed: expected torch.is_grad_enabled() == {Py(Enabled)}, actual {Py(!Enabled)}";

    private static string Py(bool b) => b ? "True" : "False";

    public override string ToString() => $"torch.is_grad_enabled() == {Py(Enabled)}";
}

/// <summary>Two sources hold the same tensor (the capture reused one graph input for both).</summary>
public sealed record DuplicateInputGuard(Source Source, Source SameAs) : SourceGuard(Source)
{
    public override string Kind => "duplicate input";

    public override string Use => $"passes the same tensor as {Source} and {SameAs} (one graph input)";

    protected override string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch)
    {
        using var otherRead = TryResolve(SameAs, frame, out var failure);
        if (otherRead is not { Object: var other }) return failure;
        return value.Is(other) ? null : $"{Source} is no longer the same object as {SameAs}";
    }

    public override string ToString() => $"{Source} is {SameAs}";
}

/// <summary>
/// A piece of torch's global state read through a function of no arguments
/// (torch.get_default_dtype(), torch.is_autocast_enabled()) equals what it was at capture.
/// </summary>
public sealed record GlobalStateGuard(string Expression, PyObject Function, PyObject Expected) : Guard
{
    /// <summary>
    /// Shape rules promote Python floats to float32: a capture (either path) holds only while that is
    /// torch's default dtype. Refuses to capture under another default.
    /// </summary>
    public static GlobalStateGuard DefaultDType(ITorchBridge torch)
    {
        using var module = Py.Import("torch");
        using var getDefault = module.GetAttr("get_default_dtype");
        using var current = getDefault.Call();
        if (torch.AsDType(current) != DType.Float32)
            throw new NotSupportedException($"torch's default dtype is {current.Repr()}; Capture's shape rules assume torch.float32");
        return new GlobalStateGuard("torch.get_default_dtype()", getDefault.NewReference(), current.NewReference());
    }

    public override string Kind => "global state";

    public override string Use => Expression == "torch.get_default_dtype()"
        ? "Python floats in the graph take the default dtype (shape rules assume torch.float32)"
        : $"reads {Expression}";

    public override string? Check(FrameState frame, ITorchBridge torch)
    {
        // the state is a singleton (a dtype, True): identity settles the common case without a handle
        if (Function.CallReturnsIdentical(Expected)) return null;
        using var actual = Function.Call();
        return actual.PyEquals(Expected) ? null : $"global state changed: expected {Expression} == {Expected.Repr()}, actual {actual.Repr()}";
    }

    public override string ToString() => $"{Expression} == {Expected.Repr()}";
}

/// <summary>A dict has exactly these keys, in this order (the capture read its items by key).</summary>
public sealed record DictKeysGuard(Source Source, IReadOnlyList<DictKey> Keys) : SourceGuard(Source)
{
    public DictKeysGuard(Source source, IReadOnlyList<string> names) : this(source, names.Select(n => (DictKey)n).ToList()) { }

    public override string Kind => "dict keys";

    public override string Use => $"reads {Source} by key";

    protected override string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch)
    {
        using var keys = value.CallMethod("keys");
        var actual = keys.Iterate().ToList();
        try
        {
            var same = actual.Count == Keys.Count && actual.Select((k, i) => Same(k, Keys[i])).All(b => b);
            return same ? null : $"keys of {Source} changed: expected {Text(Keys.Select(k => k.ToString()))}, actual {Text(actual.Select(k => k.Repr()))}";
        }
        finally { foreach (var k in actual) k.Dispose(); }
    }

    // the very key: a str by its text, anything else of the same type and equal (1 and True are one
    // dict key, but the capture may have used the key itself)
    private static bool Same(PyObject actual, DictKey expected) => expected.Name is { } name
        ? actual.IsStr && actual.AsString() == name
        : actual.HasSameType(expected.Value) && actual.PyEquals(expected.Value);

    private static string Text(IEnumerable<string> keys) => "[" + string.Join(", ", keys) + "]";

    public override string ToString() => $"list({Source}.keys()) == {Text(Keys.Select(k => k.ToString()))}";
}

/// <summary>
/// A function the capture inlined still runs the code, and has the defaults, it had then
/// (fn.__code__ = other.__code__, or new defaults, recompile). Holds the function: its identity
/// is guarded wherever it was read from.
/// </summary>
public sealed record FunctionGuard(PyObject Function, string Name, PyObject Code, PyObject Defaults, PyObject KwDefaults) : Guard
{
    public static FunctionGuard Of(PyObject function)
    {
        using var name = function.GetAttr("__qualname__");
        var code = function.GetAttr("__code__");
        using var file = code.GetAttr("co_filename");
        using var line = code.GetAttr("co_firstlineno");
        // named with its place, so that two functions of one name are two guards
        return new FunctionGuard(function.NewReference(), $"{(name.IsStr ? name.AsString() : "a function")} ({file.AsString()}:{line.ToInt64()})",
            code, function.GetAttr("__defaults__"), function.GetAttr("__kwdefaults__"));
    }

    public override string Kind => "function";

    public override string Use => $"inlines {Name} as its code is now";

    public override string? Check(FrameState frame, ITorchBridge torch)
    {
        if (Function.GetAttrAddress("__code__") != Code.Address) return $"the code of {Name} changed (its __code__ was replaced)";
        if (Function.GetAttrAddress("__defaults__") != Defaults.Address || Function.GetAttrAddress("__kwdefaults__") != KwDefaults.Address)
            return $"the defaults of {Name} changed";
        return null;
    }

    public override string ToString() => $"{Name}.__code__ and its defaults are the ones inlined";
}

/// <summary>
/// A parameter or buffer the compiled graph took as a constant (frozen): the value is still that
/// tensor, unwritten (its version counter and data pointer as at the freeze), with the same
/// requires_grad, and its <c>.data</c> was neither read nor set since (writes through <c>.data</c>
/// bump another version counter: capture/_frozen.py marks such a tensor escaped). Holds the tensor.
/// <paramref name="Contents"/>, where given, are the bytes it was frozen with, compared on every
/// check: batch norm's running statistics, which a train-mode batch_norm writes inside its kernel
/// without bumping their version counter (torch 1.13), so only their contents tell.
/// </summary>
public sealed record FrozenTensorGuard(Source Source, PyObject Tensor, long Version, nint DataPtr, TensorMeta Expected, PyObject Escaped, byte[]? Contents = null) : SourceGuard(Source)
{
    public override string Kind => "frozen tensor";

    public override string Use => $"freezes {Source} into the graph as a constant (changing it in any way recompiles)";

    protected override string? CheckValue(PyObject value, FrameState frame, ITorchBridge torch)
    {
        if (!value.Is(Tensor)) return $"{Source} is no longer the tensor frozen into the graph (it was reassigned)";
        var version = value.GetAttrInt64("_version");
        if (version != Version) return $"{Source} was written since it was frozen into the graph (its version counter went from {Version} to {version})";
        if ((nint)value.CallMethodInt64("data_ptr") != DataPtr) return $"{Source}'s data was replaced since it was frozen into the graph";
        if (value.GetAttrBool("requires_grad") != Expected.RequiresGrad)
            return $"{Source}.requires_grad changed: expected {(Expected.RequiresGrad ? "True" : "False")}";
        // the same contiguous storage as at the freeze (pointer checked above): its bytes as they were
        if (Contents is not null && !SameContents()) return $"{Source} was written since it was frozen into the graph (running statistics a train-mode batch norm updated)";
        if (Escaped.Length > 0)
        {
            using var key = Py.Int(Tensor.Address);
            using var found = Escaped.CallMethod("__contains__", key);
            if (found.ToBoolean()) return $"{Source}.data was read or set since it was frozen into the graph (a write through .data is invisible to its version counter): it becomes a graph input";
        }
        return null;
    }

    private unsafe bool SameContents() => new ReadOnlySpan<byte>((void*)DataPtr, Contents!.Length).SequenceEqual(Contents);

    public override string ToString() =>
        $"{Source}: frozen tensor {MetaText.Format(Expected with { RequiresGrad = false })}, unchanged since the freeze (same object, version {Version}, same data{(Contents is null ? "" : ", same contents")})";
}
