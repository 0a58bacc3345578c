namespace Capture.Bytecode;

/// <summary>
/// What one capture shares across its inlined frames: the graph being built, the guards, the graph
/// inputs with their sources, and the wrapping of real values into symbolic ones.
/// </summary>
internal sealed class CaptureContext
{
    public CaptureContext(ITorchBridge torch, FrameState frame, DynamicDims? dynamic = null, bool symbolicOnes = false)
    {
        Torch = torch;
        Frame = frame;
        Dynamic = dynamic ?? new DynamicDims();
        SymbolicOnes = symbolicOnes;
        Builder = new(torch.IsGradEnabled());
        // a relation between dynamic sizes the capture decided is guarded, explained by the line that decided it
        Shapes.Decided = d => Guards.Add(new SizeRelationGuard(d.Relation, d.Reason));
    }

    private readonly Dictionary<string, SymValue> _wrapped = [];
    private readonly List<(PyObject Tensor, TensorValue Value, Source Source)> _tensorInputs = [];
    private readonly List<Source> _inputSources = [];

    public GraphBuilder Builder { get; }
    public GuardSet Guards { get; } = new();

    /// <summary>The capture's symbolic sizes: their values in this call and the relations decided on them.</summary>
    public ShapeEnv Shapes { get; } = new();

    /// <summary>Which input dims are symbolic.</summary>
    public DynamicDims Dynamic { get; }

    /// <summary>Whether a varying dim of size 1 in this call is symbolic (see <see cref="DynamicDims.IsDynamic"/>).</summary>
    public bool SymbolicOnes { get; }

    /// <summary>
    /// Whether a decision relied on a symbol of size 1 in this call (a squeeze, a broadcast, a branch):
    /// such a capture is done again with its ones specialized.
    /// </summary>
    public bool ReliesOnOnes => Shapes.Decisions.Any(d => d.Relation.Left.Symbols.Concat(d.Relation.Right.Symbols).Any(name => Shapes.Hints[name] == 1));

    /// <summary>Name lookups no value guard covers (torch.sigmoid, type(m).forward): guarded at the end of the capture.</summary>
    public NamespaceReads Namespaces { get; } = new();

    /// <summary>The source lines the capture went through (inlined functions' included), for reports.</summary>
    public HashSet<(string File, int Line)> Lines { get; } = [];
    public ITorchBridge Torch { get; }
    public FrameState Frame { get; }

    /// <summary>Side effects so far (in-place ops, container and attribute stores): generators must add none.</summary>
    public int Mutations { get; set; }

    private readonly List<Action> _undo = [];
    private readonly List<ListValue> _mutatedLists = [];
    private readonly List<DictValue> _mutatedDicts = [];
    private readonly List<(ObjectValue Owner, string Name)> _storedAttributes = [];
    private readonly Dictionary<(Source, string), SymValue> _attributes = [];

    /// <summary>A point to undo symbolic mutations back to.</summary>
    public int UndoMark => _undo.Count;

    /// <summary>Undoes the mutations made since <paramref name="mark"/> (the instruction broke the graph and runs for real).</summary>
    public void RollBack(int mark)
    {
        for (var i = _undo.Count - 1; i >= mark; i--) _undo[i]();
        _undo.RemoveRange(mark, _undo.Count - mark);
    }

    /// <summary>Gives <paramref name="list"/> new contents, seen by every holder of the list.</summary>
    public void SetItems(ListValue list, IReadOnlyList<SymValue> items, bool sideEffect = true)
    {
        var (old, wasMutated) = (list.Items, list.Mutated);
        var tracked = list.Source is not null && !_mutatedLists.Contains(list);
        if (tracked) _mutatedLists.Add(list);
        _undo.Add(() =>
        {
            list.Items = old;
            list.Mutated = wasMutated;
            if (tracked) _mutatedLists.Remove(list);
        });
        list.Items = items;
        list.Mutated = true;
        if (sideEffect) Mutations++;
    }

    private readonly List<(Source Target, TensorValue Value)> _copyBacks = [];

    /// <summary>
    /// A module buffer the capture writes (batch norm's running statistics, num_batches_tracked): the
    /// graph computes its new value functionally, later reads in this capture see that value (under the
    /// buffer's own source, so an exit that hands the buffer on hands on the very tensor), and after the
    /// graph the new value is copied into the buffer. Undone if the instruction breaks.
    /// </summary>
    public TensorValue CopyBack(TensorValue buffer, TensorValue value)
    {
        var source = buffer.Source!;
        var key = source.ToString()!;
        var rebound = value with { Source = source };
        var old = _wrapped.GetValueOrDefault(key);
        var at = _copyBacks.FindIndex(c => c.Target.ToString() == key);
        var previous = at >= 0 ? _copyBacks[at] : default;
        if (at >= 0) _copyBacks[at] = (source, value with { Source = null });
        else _copyBacks.Add((source, value with { Source = null }));
        _wrapped[key] = rebound;
        // the value read before the write is stale from now on (a local may still hold it)
        var stale = old is TensorValue before && before.Node != value.Node ? before.Node : null;
        if (stale is not null) Builder.Retire(stale);
        _undo.Add(() =>
        {
            if (stale is not null) Builder.Unretire(stale);
            if (old is null) _wrapped.Remove(key);
            else _wrapped[key] = old;
            if (at >= 0) _copyBacks[at] = previous;
            else _copyBacks.RemoveAt(_copyBacks.Count - 1);
        });
        return rebound;
    }

    /// <summary>
    /// Whether a tensor the capture holds is a registered buffer of an nn.Module read from the frame
    /// (its source is module.name with name in module._buffers) that no view reads in the graph so far
    /// and that does not require grad: what <see cref="CopyBack"/> may write.
    /// </summary>
    public bool IsWritableBuffer(TensorValue tensor)
    {
        if (tensor.Source is not AttrSource { Base: var owner, Attr: var name } || tensor.Meta.RequiresGrad) return false;
        if (Builder[tensor.Node] is not (Placeholder or CallOp)) return false;
        if (Builder.Nodes.OfType<CallOp>().Any(c => (c.Op.Category == OpCategory.View || c.Op is { Category: OpCategory.Opaque, Aliases: true }) && c.Inputs.Contains(tensor.Node)))
            return false;
        using var module = owner.Resolve(Frame);
        if (!Torch.IsModule(module)) return false;
        using var buffers = module.GetAttr("_buffers");
        using var key = Py.Str(name);
        using var present = buffers.CallMethod("__contains__", key);
        return present.IsTrue();
    }

    /// <summary>Sets a user object's attributes (undone if the instruction breaks).</summary>
    public void SetAttributes(UserObjectValue obj, IReadOnlyList<KeyValuePair<string, SymValue>> attributes)
    {
        var old = obj.Attributes;
        _undo.Add(() => obj.Attributes = old);
        obj.Attributes = attributes;
    }

    /// <summary>Gives a dict new contents, seen by every holder (undone if the instruction breaks); the caller's dict is rewritten after the graph.</summary>
    public void SetDictItems(DictValue dict, IReadOnlyList<KeyValuePair<DictKey, SymValue>> items)
    {
        var (old, wasMutated) = (dict.Items, dict.Mutated);
        var tracked = dict.Source is not null && !_mutatedDicts.Contains(dict);
        if (tracked) _mutatedDicts.Add(dict);
        _undo.Add(() =>
        {
            dict.Items = old;
            dict.Mutated = wasMutated;
            if (tracked) _mutatedDicts.Remove(dict);
        });
        dict.Items = items;
        dict.Mutated = true;
        if (dict.Source is not null) Mutations++;
    }

    /// <summary>Gives a set made during the capture new contents (undone if the instruction breaks).</summary>
    public void SetSetItems(SetValue set, IReadOnlyList<DictKey> items)
    {
        var old = set.Items;
        _undo.Add(() => set.Items = old);
        set.Items = items;
    }

    /// <summary>Takes the next <paramref name="count"/> items of an iterator (all that remain when null).</summary>
    public List<SymValue> Consume(IteratorValue iterator, int? count = null)
    {
        var old = iterator.Position;
        var taken = iterator.Remaining.Take(count ?? int.MaxValue).ToList();
        _undo.Add(() => iterator.Position = old);
        iterator.Position += taken.Count;
        return taken;
    }

    /// <summary>obj.name = value on an object from the frame: later reads see it, and it is replayed after the graph.</summary>
    public void StoreAttribute(ObjectValue owner, string name, SymValue value)
    {
        var key = (owner.Source!, name);
        var had = _attributes.TryGetValue(key, out var old);
        var first = !_storedAttributes.Contains((owner, name));
        if (first) _storedAttributes.Add((owner, name));
        _undo.Add(() =>
        {
            if (had) _attributes[key] = old!;
            else _attributes.Remove(key);
            if (first) _storedAttributes.Remove((owner, name));
        });
        _attributes[key] = value;
        Mutations++;
    }

    /// <summary>The value an attribute store in this capture gave obj.name, if any.</summary>
    public SymValue? StoredAttribute(ObjectValue owner, string name) =>
        owner.Source is { } source && _attributes.TryGetValue((source, name), out var value) ? value : null;

    /// <summary>
    /// A real value read from <paramref name="source"/>, as a symbolic value with the guards that make
    /// the capture valid for it: tensors become graph inputs (tensor match), Python scalars constants
    /// (equality), sequences are unpacked (type and length), everything else is held by identity.
    /// </summary>
    public SymValue Wrap(PyObject value, Source source)
    {
        var key = source.ToString()!;
        if (_wrapped.TryGetValue(key, out var known)) return known;
        var wrapped = WrapNew(value, source);
        _wrapped[key] = wrapped;
        return wrapped;
    }

    private SymValue WrapNew(PyObject value, Source source)
    {
        if (Torch.IsTensor(value) && !Torch.IsPlainTensor(value))
        {
            // a tensor subclass may override torch functions: held as an object, so using it breaks
            using var subclass = value.Type;
            Guards.Add(new TypeMatchGuard(source, subclass.NewReference(), value.TypeName));
            return new ObjectValue(value.NewReference(), ObjectKind.Other, value.TypeName) { Source = source };
        }
        if (Torch.IsTensor(value))
        {
            foreach (var (tensor, existing, existingSource) in _tensorInputs)
                if (tensor.Is(value))
                {
                    Guards.Add(new DuplicateInputGuard(source, existingSource));
                    return existing with { Source = source };
                }
            var meta = Symbolic(Torch.ReadMeta(value), value, source);
            Guards.Add(new TensorMatchGuard(source, meta));
            var node = Builder.Placeholder(source.PlaceholderName(), meta);
            var tensorValue = new TensorValue(node.Name, meta) { Source = source };
            _tensorInputs.Add((value.NewReference(), tensorValue, source));
            _inputSources.Add(source);
            return tensorValue;
        }
        if (source is StackSource && value.IsFloat && !value.IsBool)
        {
            // a float a graph break computed (.item()): a graph input when ops take it, a guarded constant when Python reads it
            var guard = new ConstantMatchGuard(source, value.NewReference());
            string? input = null;
            return new ScalarInputValue(value.NewReference(), () => Guards.Add(guard), () => input ??= ScalarInput(source, value))
            {
                Source = source,
                DependsOn = [guard],
            };
        }
        if (IsConstant(value))
        {
            var guard = new ConstantMatchGuard(source, value.NewReference());
            return new ConstValue(value.NewReference(), () => Guards.Add(guard)) { Source = source, DependsOn = [guard] };
        }
        if (value.IsTuple || value.IsList)
        {
            using var type = value.Type;
            Guards.Add(new TypeMatchGuard(source, type.NewReference(), value.IsTuple ? "tuple" : "list"));
            Guards.Add(new LengthMatchGuard(source, value.Length));
            var items = value.ToItems().Select((item, i) => { using (item) return Wrap(item, new ItemSource(source, i)); }).ToList();
            if (!value.IsTuple || value.IsList) return new ListValue(items) { Source = source };
            // a namedtuple or a structseq (time.struct_time, torch.return_types.max) keeps its type
            // (fields by name; its exact type is guarded above)
            using var builtins = Py.Builtins;
            using var plainTuple = builtins.GetAttr("tuple");
            var named = !type.Is(plainTuple) && (type.HasAttr("_fields") || type.HasAttr("n_sequence_fields") && type.HasAttr("__match_args__"));
            return new TupleValue(items) { Source = source, NamedType = named ? type.NewReference() : null };
        }
        if (value.IsDict && DictKind(value) is { } dictKind)
        {
            // a dict, OrderedDict or defaultdict with constant keys: its type and keys guarded, each item by its own guards
            using var type = value.Type;
            Guards.Add(new TypeMatchGuard(source, type.NewReference(), value.TypeName));
            // keys() is the order Python iterates in (an OrderedDict's own, after move_to_end), not the hash table's
            using var keyView = value.CallMethod("keys");
            var keys = keyView.Iterate().Select(k => { using (k) return DictKey.Of(k)!; }).ToList();
            Guards.Add(new DictKeysGuard(source, keys));
            var items = keys.Select(k =>
            {
                using var item = value.GetItem(k.Value);
                return new KeyValuePair<DictKey, SymValue>(k, Wrap(item, k.Name is { } name ? new KeySource(source, name) : new DictItemSource(source, k)));
            }).ToList();
            ObjectValue? factory = null;
            if (dictKind == "defaultdict")
            {
                using var made = value.GetAttr("default_factory");
                factory = Wrap(made, new AttrSource(source, "default_factory")) as ObjectValue;
                if (factory is null) return new ObjectValue(value.NewReference(), ObjectKind.Other, value.TypeName) { Source = source };
            }
            return new DictValue(items) { Source = source, Type = dictKind == "dict" ? null : new ObjectValue(type.NewReference(), ObjectKind.Class, PythonObjects.QualifiedName(type)), Factory = factory };
        }
        if (source is StackSource && IsTemporaryIterator(value))
        {
            // a for loop's iterator left on the stack by a graph break: a new object on every call, so
            // never guarded by identity. Over plain values (range(n), a list of numbers) it stays
            // opaque, guarded by type: FOR_ITER on it runs for real and the entries after it serve
            // every iteration. Over objects (modules) the rest of the loop is unrolled from what it has
            // left to yield, guarded by type and length, each item by its own guards.
            using var type = value.Type;
            Guards.Add(new TypeMatchGuard(source, type.NewReference(), value.TypeName));
            var remaining = new RemainingItemsSource(source);
            using var items = remaining.Resolve(Frame);
            if (items.ToItems().All(item => { using (item) return IsConstant(item); }))
                return new ObjectValue(value.NewReference(), ObjectKind.Other, QualifiedName(value)) { Source = source };
            Guards.Add(new LengthMatchGuard(remaining, items.Length));
            // no source of its own: consumed by the graph, it is rebuilt from what it has left, not read again
            return new IteratorValue(items.ToItems().Select((item, i) => { using (item) return Wrap(item, new ItemSource(remaining, i)); }).ToList());
        }
        var kind = Classify(value);
        if (kind == ObjectKind.NnModule)
        {
            using var training = value.GetAttr("training");
            Guards.Add(new IdMatchGuard(source, value.NewReference(), IdMatchGuard.Describe(value)));
            Guards.Add(new ConstantMatchGuard(new AttrSource(source, "training"), training.NewReference()),
                $"uses the module {source}, captured in its current training mode");
            return new ObjectValue(value.NewReference(), kind, QualifiedName(value)) { Source = source };
        }
        if (kind is ObjectKind.Module or ObjectKind.TorchFunction && IsTrusted(value) && source is GlobalSource global)
            Namespaces.FrameEntry(builtins: false, global.Name, value); // the global still names torch (one check for them all)
        else
            Guards.Add(new IdMatchGuard(source, value.NewReference(), IdMatchGuard.Describe(value)));
        return new ObjectValue(value.NewReference(), kind, QualifiedName(value)) { Source = source };
    }

    private readonly Dictionary<long, Dim> _symbolsBySize = [];

    /// <summary>
    /// An input's metadata with its dynamic dims symbolic (one symbol per distinct size, as Dynamo's
    /// duck sizing: two inputs of equal sizes share it, and the guards then require them equal), its
    /// strides as the same expressions when it is contiguous. A non-contiguous input keeps its sizes.
    /// </summary>
    private TensorMeta Symbolic(TensorMeta meta, PyObject tensor, Source source)
    {
        if (Dynamic.Mode == DynamicMode.Never || meta.Rank == 0 || meta.Strides is not { } strides || !strides.Equals(meta.Shape.ContiguousStrides())) return meta;
        var marked = MarkedDims(tensor, "_capture_dynamic_dims");
        var markedStatic = MarkedDims(tensor, "_capture_static_dims");
        var dims = meta.Shape.Dims.Select((d, i) => Dynamic.IsDynamic(source, i, d.Value!.Value, marked, markedStatic, SymbolicOnes)
            ? _symbolsBySize.TryGetValue(d.Value!.Value, out var symbol) ? symbol : _symbolsBySize[d.Value!.Value] = Shapes.NewSymbol(d.Value!.Value)
            : d).ToList();
        return dims.All(d => d.IsConcrete) ? meta : TensorMeta.Contiguous(Shape.Of(dims), meta.DType, meta.RequiresGrad, meta.Device);
    }

    /// <summary>The dims capture.mark_dynamic / mark_static recorded on a tensor (a set attribute), if any.</summary>
    private static HashSet<int> MarkedDims(PyObject tensor, string attribute)
    {
        if (!tensor.HasAttr(attribute)) return [];
        using var dims = tensor.GetAttr(attribute);
        return dims.Iterate().Select(d => { using (d) return (int)d.ToInt64(); }).ToHashSet();
    }

    /// <summary>A Python float of the frame as a graph input (guarded by type): its placeholder's name.</summary>
    private string ScalarInput(Source source, PyObject value)
    {
        using var type = value.Type;
        Guards.Add(new TypeMatchGuard(source, type.NewReference(), "float"), $"passes {source} to the graph as an input (its value may change)");
        var node = Builder.Placeholder(source.PlaceholderName(), new ScalarMeta(ScalarKind.Float));
        _inputSources.Add(source);
        return node.Name;
    }

    // a builtin iterator (list, tuple, range, dict views) with few items left that no local names
    // (else the user may advance it outside the loop, and replacing it would lose that)
    private bool IsTemporaryIterator(PyObject value)
    {
        if (Frame.Locals.Values.Any(local => local.Is(value))) return false;
        using var frames = Py.Import("capture._frames");
        using var answer = frames.CallMethod("is_builtin_iterator", value);
        return answer.IsTrue();
    }

    /// <summary>
    /// The guards a tensor's metadata (sizes, dtype) follows from: its own tensor match when it is an
    /// input, else every input's (an intermediate's sizes follow from theirs). Notes the read for reports.
    /// </summary>
    public IReadOnlyList<Guard> GuardsBehind(TensorValue tensor, string what)
    {
        var inputs = Guards.Guards.OfType<TensorMatchGuard>().ToList();
        if (tensor.Source is { } source && inputs.FirstOrDefault(g => g.Source == source) is { } own)
        {
            Guards.Use(own, Guards.Site, $"reads {source}.{what}");
            return [own];
        }
        return inputs;
    }

    /// <summary>Python scalars, strings, None and dtypes: wrapped as constants.</summary>
    private bool IsConstant(PyObject value) =>
        value.IsNone || value.IsBool || value.IsInt || value.IsFloat || value.IsStr || Torch.AsDType(value) is not null;

    /// <summary>"dict", "OrderedDict" or "defaultdict" when every key is a constant (str, int, a tuple of such...); null otherwise.</summary>
    private string? DictKind(PyObject value)
    {
        using var type = value.Type;
        var kind = PythonObjects.QualifiedName(type) switch
        {
            "builtins.dict" => "dict", "collections.OrderedDict" => "OrderedDict", "collections.defaultdict" => "defaultdict", _ => null,
        };
        if (kind is null) return null;
        using var keys = value.CallMethod("keys");
        return keys.Iterate().All(k => { using (k) return IsConstantKey(k); }) ? kind : null;
    }

    private bool IsConstantKey(PyObject key) =>
        IsConstant(key) || key.TypeName == "tuple" && key.ToItems().All(i => { using (i) return IsConstantKey(i); });

    /// <summary>
    /// An attribute of an object: of a trusted module (torch.add, math.pi) its namespace guards it
    /// (a monkeypatch recompiles); of anything else, its source.
    /// </summary>
    /// <summary>A value read once and held as it is (a cell of a function the capture trusts): a constant, or an object by its kind.</summary>
    public SymValue Constant(PyObject value) =>
        IsConstant(value) ? new ConstValue(value.NewReference()) : new ObjectValue(value.NewReference(), Classify(value), QualifiedName(value));

    private static bool IsTorchVF(PyObject value)
    {
        using var vf = Py.Import("torch._VF");
        return value.Is(vf);
    }

    public SymValue WrapAttribute(ObjectValue owner, string name, PyObject value)
    {
        if (IsTorchVF(owner.Object))
            // torch._VF (what torch.nn.functional calls: _VF.threshold, _VF.gru_cell) forwards to torch's own functions
            return new ObjectValue(value.NewReference(), ObjectKind.TorchFunction, "torch._C._VariableFunctions." + name);
        if (owner.Kind == ObjectKind.Module && IsTrusted(owner.Object))
        {
            Namespaces.ModuleAttribute(owner.Object, name, value);
            if (Torch.IsTensor(value)) return Wrap(value, new AttrSource(owner.Source ?? new GlobalSource(owner.QualifiedName), name));
            if (IsConstant(value))
                return new ConstValue(value.NewReference());
            return new ObjectValue(value.NewReference(), Classify(value), TrustedAttributeName(owner.QualifiedName + "." + name, value));
        }
        if (owner.Source is null && IsTrusted(owner.Object) && IsConstant(value))
        {
            // a flag of torch's own state objects (torch.backends.cudnn.enabled): read again on every call
            using var functools = Py.Import("functools");
            using var partial = functools.GetAttr("partial");
            using var getattr = Py.Builtins.GetAttr("getattr");
            using var key = Py.Str(name);
            Guards.Add(new GlobalStateGuard($"{owner.QualifiedName}.{name}", partial.Call(getattr, owner.Object, key), value.NewReference()));
            return new ConstValue(value.NewReference());
        }
        if (owner.Source is null) throw new InlineBreakException($"attribute '{name}' of a {owner.QualifiedName} object made or returned inside the captured code (Capture re-reads only the caller's values on later calls)");
        return Wrap(value, new AttrSource(owner.Source, name));
    }

    /// <summary>The module whose globals these are, when Capture trusts it (torch.nn.functional); null otherwise.</summary>
    public string? TrustedModuleOf(PyObject globals)
    {
        using var key = Py.Str("__name__");
        using var has = globals.CallMethod("__contains__", key);
        if (!has.ToBoolean()) return null;
        using var name = globals.GetItem(key);
        if (!name.IsStr) return null;
        var module = name.AsString();
        return PythonObjects.IsTrustedModule(module) ? module : null;
    }

    /// <summary>A global of a trusted module: no guard (tensors, which are state, still get one through their source).</summary>
    /// <summary>A value from the builtins, pinned by namespace guards rather than a source of its own.</summary>
    public SymValue WrapBuiltin(PyObject value) =>
        IsConstant(value) ? new ConstValue(value.NewReference()) : new ObjectValue(value.NewReference(), Classify(value), QualifiedName(value));

    public SymValue WrapTrusted(TrustedModuleSource module, string name, PyObject value)
    {
        if (Torch.IsTensor(value)) return Wrap(value, new KeySource(module, name));
        if (IsConstant(value))
            return new ConstValue(value.NewReference());
        var kind = Classify(value);
        return new ObjectValue(value.NewReference(), kind, QualifiedName(value));
    }

    /// <summary>
    /// How the capture names what it read as torch.X: by that path (torch.split is torch.functional.split),
    /// unless user code put a function of its own there (torch.sigmoid = f), which is named as itself
    /// and inlined, not taken for the op.
    /// </summary>
    private static string TrustedAttributeName(string path, PyObject value)
    {
        var own = QualifiedName(value);
        var package = path[..path.IndexOf('.')];
        return own.StartsWith(package + ".", StringComparison.Ordinal) || own.StartsWith("_" + package + ".", StringComparison.Ordinal) || !own.Contains('.') ? path : own;
    }

    private static bool IsTrusted(PyObject value) => PythonObjects.IsTrusted(value);

    public ObjectKind Classify(PyObject value) => PythonObjects.Classify(value, Torch);

    private static string QualifiedName(PyObject value) => PythonObjects.QualifiedName(value);

    /// <summary>A lookup of <paramref name="name"/> on torch.Tensor, guarded; a graph break when user code replaced it.</summary>
    public void TensorTypeLookup(string name)
    {
        if (!Namespaces.TensorAttribute(name))
            throw new InlineBreakException($"torch.Tensor.{name} was replaced by user code: the call runs as written");
    }

    /// <summary>The capture is over: the input tensors it held to tell duplicates apart go now, not when .NET's finalizers run.</summary>
    public void ReleaseInputs()
    {
        foreach (var (tensor, _, _) in _tensorInputs) tensor.Dispose();
        _tensorInputs.Clear();
    }

    /// <summary>Ends the capture: the values the exit needs become graph outputs, in first-use order.</summary>
    public CaptureResult Finish(int entry, Func<OutputCollector, ExitPlan> exit)
    {
        var outputs = new OutputCollector();
        var plan = exit(outputs);
        foreach (var guard in Namespaces.Guards()) Guards.Add(guard, at: null);
        var effects = _mutatedLists.Select(l => (SideEffect)new SideEffect.ListContents(l.Source!, outputs.Contents(l)))
            .Concat(_mutatedDicts.Select(d => new SideEffect.DictContents(d.Source!, outputs.Contents(d))))
            .Concat(_storedAttributes.Select(a => new SideEffect.StoreAttr(a.Owner.Source!, a.Name, outputs.Spec(_attributes[(a.Owner.Source!, a.Name)]))))
            .Concat(_copyBacks.Select(c => new SideEffect.CopyInto(c.Target, outputs.Spec(c.Value))))
            .ToList();
        var graph = Builder.Output(new ListArg(outputs.Nodes.Select(n => (Arg)new RefArg(n)).ToEquatableList(), IsTuple: true));
        return new CaptureResult(entry, graph, _inputSources, Guards, plan) { SideEffects = effects, Lines = Lines };
    }
}

/// <summary>Turns symbolic values into <see cref="ValueSpec"/>s, registering tensors as graph outputs.</summary>
internal sealed class OutputCollector
{
    private readonly List<string> _nodes = [];
    private readonly Dictionary<SymValue, ValueSpec> _specs = new(ReferenceEqualityComparer.Instance);

    public IReadOnlyList<string> Nodes => _nodes;

    /// <summary>A user object's spec, registered before its attributes' specs (an attribute may refer back to it).</summary>
    private ValueSpec UserObjectSpec(UserObjectValue u)
    {
        var attributes = new List<KeyValuePair<string, ValueSpec>>();
        var spec = new ValueSpec.UserObject(u.Type.Object, attributes);
        _specs[u] = spec;
        foreach (var (name, value) in u.Attributes) attributes.Add(new(name, Spec(value)));
        return spec;
    }

    // One symbolic container held in several places (a local and a stack slot) must become one real
    // object, so specs are shared by reference and the runner builds each spec once.
    public ValueSpec Spec(SymValue value)
    {
        if (_specs.TryGetValue(value, out var known)) return known;
        var spec = NewSpec(value);
        _specs[value] = spec;
        return spec;
    }

    // A value read from the frame and not replaced is re-read from its source, so that it stays the
    // same object (lists and tensors from the caller keep their identity).
    private ValueSpec NewSpec(SymValue value) => value.Source is { } source
        ? new ValueSpec.FromSource(source)
        : value switch
    {
        TensorValue t => new ValueSpec.Output(IndexOf(t.Node)),
        ConstValue c => new ValueSpec.Constant(c.Value),
        TupleValue t => new ValueSpec.Tuple(t.Items.Select(Spec).ToList()) { NamedType = t.NamedType },
        ListValue l => new ValueSpec.List(l.Items.Select(Spec).ToList()),
        DictValue d => Contents(d),
        SetValue st => new ValueSpec.Set(st.Items),
        NullValue => new ValueSpec.Null(),
        ObjectValue o => new ValueSpec.Constant(o.Object),
        TensorMethodValue m => new ValueSpec.Method(Spec(m.Self), m.Name),
        ListMethodValue m => new ValueSpec.Method(Spec(m.List), m.Name),
        ModuleMethodValue m => new ValueSpec.Method(Spec(m.Self), m.Name),
        BoundMethodValue m => new ValueSpec.Method(Spec(m.Self), m.Name),
        PartialValue p => new ValueSpec.Partial(Spec(p.Function), p.Args.Select(Spec).ToList(),
            p.Kwargs.Select(k => new KeyValuePair<string, ValueSpec>(k.Key, Spec(k.Value))).ToList()),
        UserObjectValue u => UserObjectSpec(u),
        IteratorValue it => new ValueSpec.Iterator(it.Remaining.Select(Spec).ToList()),
        GradModeValue g => new ValueSpec.GradMode(g.Enabled),
        FunctionValue { Closure.Count: 0 } f => new ValueSpec.Function(f.CodeObject, f.Globals, f.Defaults.Select(Spec).ToList(),
            f.KwDefaults.Select(p => new KeyValuePair<string, ValueSpec>(p.Key, Spec(p.Value))).ToList()),
        FunctionValue f => throw new NotSupportedException($"the closure {f.Code.Name} made during capture cannot be rebuilt after a graph"),
        _ => throw new NotSupportedException($"cannot rebuild a {value.GetType().Name} after a graph"),
    };

    /// <summary>A list's contents as a new list (its own spec re-reads the frame's list, which a side effect rewrites).</summary>
    public ValueSpec Contents(ListValue list) => new ValueSpec.List(list.Items.Select(Spec).ToList());

    /// <summary>A dict's contents as a new dict of its type (its own spec re-reads the frame's dict, which a side effect rewrites).</summary>
    public ValueSpec Contents(DictValue dict) => new ValueSpec.Dict(dict.Items.Select(p => new KeyValuePair<DictKey, ValueSpec>(p.Key, Spec(p.Value))).ToList())
    {
        Type = dict.Type?.Object,
        Factory = dict.Factory?.Object,
    };

    private int IndexOf(string node)
    {
        var i = _nodes.IndexOf(node);
        if (i >= 0) return i;
        _nodes.Add(node);
        return _nodes.Count - 1;
    }
}
