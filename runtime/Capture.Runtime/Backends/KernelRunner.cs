using Capture.Codegen;
using Capture.Runtime.Compile;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;

/// <summary>
/// Runs an optimized graph on a kernel backend (roslyn, llvm), fusion group by fusion group: a
/// group with a kernel runs it on torch tensors' memory with the GIL released (an extern group first
/// calls its library op: BLAS for a planned matrix product, else torch); any other group's nodes run
/// through torch, as the interpreter runs them. Views and constants no kernel makes are computed when
/// first read.
/// </summary>
public sealed class KernelRunner(TorchRuntime torch, GraphInterpreter interpreter)
{
    private readonly PythonCalls _calls = new(torch);

    /// <summary>
    /// One run's values: env holds each value's handle (the inputs borrowed from the caller), known what
    /// is known of values without reading them (the inputs' metadata as guards just checked it, each
    /// kernel's or product's output's metadata and address).
    /// </summary>
    private sealed class RunState(RunnablePart part)
    {
        public readonly RunnablePart Part = part;
        public readonly Dictionary<string, PyObject> Env = [];
        public readonly Dictionary<string, KnownTensor> Known = [];
        // views made by address only (kernels and BLAS read them so): torch gets them made when it reads them
        public readonly HashSet<string>? Unmade = part.SizeSymbols ? null : [];
        // while the part learns which of its values torch reads: those values (a view's read counts for the value it views)
        public HashSet<string>? ReadByTorch;
        public bool LearnedPlace;
        // the memory kept across calls for the values only kernels and BLAS read (null: allocate each)
        public IReadOnlyDictionary<string, KeptBuffer>? Kept;
    }

    /// <summary>
    /// Runs <paramref name="part"/> on Python values (GIL held) and returns its output.
    /// <paramref name="checkedMetas"/>: the inputs' metadata as the caller's guards just checked it
    /// (null entries, or none: read from the tensors).
    /// </summary>
    public PyObject Run(RunnablePart part, IReadOnlyList<PyObject> inputs, IReadOnlyList<TensorMeta?>? checkedMetas)
    {
        var optimized = part.Part.Optimized!;
        var graph = optimized.Graph;
        var placeholders = part.Placeholders;
        if (placeholders.Count != inputs.Count)
            throw new ArgumentException($"the graph takes {placeholders.Count} inputs, {inputs.Count} given");
        var state = new RunState(part);
        var (env, known) = (state.Env, state.Known);
        if (state.Unmade is not null)
        {
            state.Kept = part.TakeKept();
            if (state.Kept is null && part.Learning) state.ReadByTorch = [];
        }
        try
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                env[placeholders[i]] = inputs[i];
                if (checkedMetas is not null && checkedMetas[i] is { } meta) known[placeholders[i]] = new KnownTensor(meta, 0);
            }
            var sizes = part.SizeSymbols ? SizeSymbols.Bind(part.PlaceholderMetas, inputs, env) : null;
            var groups = optimized.Fusion.Groups;
            var frees = part.Frees;
            for (var g = 0; g < groups.Count; g++)
            {
                var group = groups[g];
                Interpreter.ThrowIfInterrupted(); // Ctrl-C: KeyboardInterrupt between kernels
                // what the previous group read last goes now, as eager frees an intermediate after its last
                // use: keeping every intermediate to the end made a call's peak memory the whole graph's,
                // which glibc gave back to the OS after each call and faulted in again on the next
                if (g > 0)
                    foreach (var name in frees[g - 1])
                        if (env.Remove(name, out var dead))
                        {
                            dead.Dispose();
                            known.Remove(name);
                            state.Unmade?.Remove(name);
                        }
                foreach (var input in group.Inputs) Ensure(state, input, graph);
                part.Part.Gemms.TryGetValue(group.Id, out var gemm);
                if (part.Part.Entries.ContainsKey(group.Id))
                {
                    if (group.Kind == FusionKind.Extern) ExecuteExtern(state, graph[KernelLowering.ExternNode(graph, group)], gemm, sizes);
                    if (part.Launch(group.Id).Run(torch, env, known, sizes, state.Kept)) continue;
                }
                foreach (var node in group.Nodes.Where(n => !env.ContainsKey(n)))
                    if (graph[node] is Constant) Ensure(state, node, graph);
                    else ExecuteExtern(state, graph[node], gemm, sizes);
            }
            foreach (var name in graph.Output.Inputs)
            {
                Ensure(state, name, graph);
                Make(state, name);
                // a constant's tensor (or a view of one) is shared by every call: the caller gets a copy of its own
                if ((graph[name] is Constant || part.IsConstantView(graph[name])) && env.Remove(name, out var shared))
                    using (shared) env[name] = shared.CallMethod("clone");
            }
            var output = OutputTuple(graph.Output.Value, env) ?? _calls.Value(graph.Output.Value, name => env[name].NewReference());
            // a call that made no view for the first time read what every later call reads: what torch did not read can be kept
            if (state.ReadByTorch is { } read && !state.LearnedPlace) part.PlanKept(read, torch);
            return output;
        }
        finally
        {
            for (var i = 0; i < placeholders.Count && i < inputs.Count; i++) env.Remove(placeholders[i]);
            foreach (var value in env.Values) value.Dispose();
            if (state.Kept is not null) part.ReturnKept();
        }
    }

    /// <summary>The common output, a tuple of values, built straight from env (no handle per item); null for any other.</summary>
    private static PyObject? OutputTuple(Arg output, Dictionary<string, PyObject> env)
    {
        if (output is not ListArg { IsTuple: true } tuple) return null;
        var items = new PyObject[tuple.Items.Count];
        for (var i = 0; i < items.Length; i++)
        {
            if (tuple.Items[i] is not RefArg r) return null;
            items[i] = env[r.Name];
        }
        return Py.Tuple(items);
    }

    /// <summary>
    /// Computes a value no kernel makes (a view, a constant) when first needed. A view whose place in
    /// the memory of a value this part allocated is known (<see cref="RunnablePart.PlaceOf"/>) is not
    /// made: its address and metadata go to known (what kernels and BLAS read), and env holds the value
    /// it views, which keeps that memory alive, until torch reads it (<see cref="Make"/>).
    /// </summary>
    private void Ensure(RunState state, string name, Graph graph)
    {
        var (part, env, known) = (state.Part, state.Env, state.Known);
        if (env.ContainsKey(name)) return;
        var node = graph[name];
        if (state.Unmade is { } unmade && part.PlaceOf(name) is { } place && known.TryGetValue(place.Root, out var root) && root.DataPtr != 0
            && env.TryGetValue(place.Root, out var rootTensor))
        {
            env[name] = rootTensor.NewReference();
            known[name] = new KnownTensor(place.Meta, root.DataPtr + (nint)place.ByteOffset);
            unmade.Add(name);
            return;
        }
        if (node is Constant constant)
        {
            // made once and shared by every call: its metadata and address too
            (env[name], known[name]) = part.ConstantTensor(constant, torch);
            return;
        }
        if (part.IsConstantView(node))
        {
            // a view of constants (a frozen weight's transpose for a product): also made once
            (env[name], known[name]) = part.ConstantView(node, () =>
            {
                foreach (var input in node.Inputs) Ensure(state, input, graph);
                Execute(state, node);
                env.Remove(name, out var made); // the cache owns it now
                return made!;
            }, torch);
            return;
        }
        foreach (var input in node.Inputs) Ensure(state, input, graph);
        Execute(state, node);
        if (state.Unmade is not null && !part.Placed(name))
        {
            part.Learn(name, PlaceOfMade(graph, name, env, known));
            state.LearnedPlace = true;
        }
    }

    /// <summary>
    /// Where a view just made lies in the memory of the value its chain of views starts from, when that
    /// value's address is known (a kernel's or BLAS product's output, a constant) and the view shares its
    /// storage (not a copy: contiguous() or reshape() may copy); null otherwise.
    /// </summary>
    private RunnablePart.ViewPlace? PlaceOfMade(Graph graph, string name, Dictionary<string, PyObject> env, Dictionary<string, KnownTensor> known)
    {
        if (graph[name] is not CallOp { Op.Category: OpCategory.View, Op.IsInPlace: false, Meta: TensorMeta } || !env.TryGetValue(name, out var view)) return null;
        var root = name;
        while (graph[root] is CallOp { Op.Category: OpCategory.View, Op.IsInPlace: false } step && step.Args.Count > 0 && step.Args[0] is RefArg r) root = r.Name;
        if (root == name || !known.TryGetValue(root, out var rootKnown) || rootKnown.DataPtr == 0 || !env.TryGetValue(root, out var rootTensor)) return null;
        if (!torch.IsTensor(view) || torch.StoragePtr(view) != torch.StoragePtr(rootTensor)) return null;
        return new RunnablePart.ViewPlace(root, torch.DataPtr(view) - rootKnown.DataPtr, torch.ReadMeta(view));
    }

    /// <summary>Makes a view <see cref="Ensure"/> left unmade, for torch to read: the viewed value's memory, by address and strides.</summary>
    private void Make(RunState state, string name)
    {
        if (state.Unmade is not { } unmade || !unmade.Remove(name)) return;
        var place = state.Part.PlaceOf(name)!;
        var env = state.Env;
        using var root = env[name];
        using var sizes = Py.IntTuple(place.Meta.Shape.Concrete());
        using var strides = Py.IntTuple(place.Meta.Strides!);
        using var offset = Py.Int(root.CallMethodInt64("storage_offset") + place.ByteOffset / place.Meta.DType.ItemSize());
        env[name] = ReadByTorch(state, place.Root, root.CallMethod("as_strided", sizes, strides, offset));
    }

    /// <summary>
    /// Notes that torch reads <paramref name="value"/> (directly or through a view, <paramref name="tensor"/>)
    /// while the part learns, and returns what torch may read: a copy where the value's memory is kept
    /// across calls (torch could keep a view of it past this call); the part then stops keeping memory.
    /// </summary>
    private static PyObject ReadByTorch(RunState state, string value, PyObject tensor)
    {
        state.ReadByTorch?.Add(value);
        if (state.Kept?.ContainsKey(value) != true) return tensor;
        state.Part.StopKeeping();
        using (tensor) return tensor.CallMethod("clone");
    }

    /// <summary>Runs a node, through BLAS when it is the group's planned product and its operands' layouts allow.</summary>
    private void ExecuteExtern(RunState state, Node node, Codegen.Blas.GemmCall? gemm, IReadOnlyDictionary<string, long>? sizes)
    {
        if (node is Cond or WhileLoop && state.Part.Subgraph(node.Name) is { } sub)
        {
            // the interpreter's cond / while_loop, running the compiled subgraphs for the branch or the body
            Execute(state, node, new Dictionary<string, Func<IReadOnlyList<PyObject>, PyObject>[]>
            {
                [node.Name] = [.. sub.Select(p => (Func<IReadOnlyList<PyObject>, PyObject>)(inputs => Run(p, inputs, null)))],
            });
            return;
        }
        KernelThreads.Park(); // BLAS's and torch's threads get both cores
        if (gemm is not null && gemm.Node == node.Name && BlasGemm.TryRun(torch, gemm, state.Env, state.Known, sizes, state.Kept)) return;
        Execute(state, node);
    }

    /// <summary>Runs a node through torch (the views it reads made first).</summary>
    private void Execute(RunState state, Node node, IReadOnlyDictionary<string, Func<IReadOnlyList<PyObject>, PyObject>[]>? compiled = null)
    {
        var env = state.Env;
        foreach (var input in node.Inputs)
        {
            if (state.Unmade?.Contains(input) == true) Make(state, input);
            else if ((state.ReadByTorch is not null || state.Kept is not null) && env.Remove(input, out var tensor)) env[input] = ReadByTorch(state, input, tensor);
        }
        try { env[node.Name] = interpreter.Execute(node, env, null, checkMetadata: false, compiled); }
        catch (Exception e) when (e is PythonException or NotSupportedException) { throw GraphExecutionException.Of(node, e); }
    }
}

/// <summary>
/// A value's metadata known without reading it (checked by a guard, or given by the graph to the
/// kernel that allocated it), and its data address when known (0: read it).
/// </summary>
internal readonly record struct KnownTensor(TensorMeta Meta, nint DataPtr);

/// <summary>The memory a value gets on every call (<see cref="RunnablePart.PlanKept"/>): a tensor with its metadata, and its address.</summary>
internal sealed record KeptBuffer(PyObject Tensor, nint Address);

/// <summary>A compiled part with what its calls reuse: its inputs' names and each kernel's launch (made on its first call).</summary>
public sealed class RunnablePart(CompiledPart part)
{
    private readonly Dictionary<int, KernelLaunch> _launches = [];
    private string[]? _placeholders;

    public CompiledPart Part => part;

    /// <summary>The names of the graph's inputs, in order.</summary>
    public IReadOnlyList<string> Placeholders => _placeholders ??= [.. (part.Optimized?.Graph ?? part.Graph).Placeholders.Select(p => p.Name)];

    /// <summary>The metadata of the graph's inputs, in order.</summary>
    public IReadOnlyList<ValueMeta> PlaceholderMetas => _placeholderMetas ??= [.. (part.Optimized?.Graph ?? part.Graph).Placeholders.Select(p => p.Meta)];
    private ValueMeta[]? _placeholderMetas;

    /// <summary>Whether an input has a dynamic size (a run binds the size symbols from the inputs).</summary>
    public bool SizeSymbols => _sizeSymbols ??= (part.Optimized?.Graph ?? part.Graph).Placeholders.Any(p => SizeValues.IsSymbolic(p.Meta));
    private bool? _sizeSymbols;

    private readonly Dictionary<string, (PyObject Tensor, KnownTensor Known)> _constants = [];
    private string[][]? _frees;

    /// <summary>
    /// Per fusion group, the values no later group (nor the output) reads: the runner frees them after
    /// that group. A value computed when first read (a view, a constant) counts as read, with its
    /// inputs, by the group that reads it. Never the graph's inputs (the caller's) or its outputs.
    /// </summary>
    internal string[][] Frees => _frees ??= ComputeFrees();

    private string[][] ComputeFrees()
    {
        var graph = part.Optimized!.Graph;
        var groups = part.Optimized.Fusion.Groups;
        var grouped = groups.SelectMany(g => g.Nodes).ToHashSet();
        var last = new Dictionary<string, int>();
        void Read(string name, int at)
        {
            if (last.TryGetValue(name, out var seen) && seen >= at) return;
            last[name] = at;
            if (!grouped.Contains(name)) foreach (var input in graph[name].Inputs) Read(input, at);
        }
        for (var g = 0; g < groups.Count; g++)
        {
            foreach (var input in groups[g].Inputs) Read(input, g);
            foreach (var node in groups[g].Nodes) foreach (var input in graph[node].Inputs) Read(input, g);
        }
        foreach (var name in graph.Output.Inputs) Read(name, groups.Count);
        var kept = graph.Placeholders.Select(p => p.Name).ToHashSet();
        var frees = new List<string>[groups.Count];
        for (var g = 0; g < groups.Count; g++) frees[g] = [];
        foreach (var (name, at) in last)
            if (at < groups.Count && !kept.Contains(name)) frees[at].Add(name);
        return [.. frees.Select(f => f.ToArray())];
    }

    /// <summary>
    /// A constant's tensor, made on first use and shared by later calls (a new handle): a frozen weight
    /// is not copied per call. Safe to share: the graph does not write (it runs kernels), and an output
    /// that is a constant is copied for the caller.
    /// </summary>
    internal (PyObject Tensor, KnownTensor Known) ConstantTensor(Constant constant, TorchRuntime torch) =>
        Shared(constant.Name, () => torch.FromData(constant.Value, (TensorMeta)constant.Meta), torch);

    /// <summary>The tensor of a node every call shares (a constant, a view of constants): made by <paramref name="make"/> on first use, a new handle each time.</summary>
    private (PyObject Tensor, KnownTensor Known) Shared(string name, Func<PyObject> make, TorchRuntime torch)
    {
        lock (_constants)
        {
            if (!_constants.TryGetValue(name, out var made))
            {
                var tensor = make();
                _constants[name] = made = (tensor, new KnownTensor(torch.ReadMeta(tensor), torch.DataPtr(tensor)));
            }
            return (made.Tensor.NewReference(), made.Known);
        }
    }

    private readonly Dictionary<string, bool> _constantViewNodes = [];

    // memory kept across calls for the values only kernels and BLAS read: planned after a call that
    // learned nothing new (see PlanKept), taken by one run at a time
    private Dictionary<string, KeptBuffer>? _kept;
    private int _keptPlanned; // 1 once a run planned it (or found nothing to keep)
    private volatile bool _noKeeping;
    private int _keptInUse;

    /// <summary>The most memory a part keeps across calls (beyond it, its values are allocated per call as before).</summary>
    public const long MaxKeptBytes = 256L << 20;

    /// <summary>Whether runs still note what torch reads (the memory to keep is not planned yet).</summary>
    internal bool Learning => Volatile.Read(ref _keptPlanned) == 0 && !_noKeeping;

    /// <summary>
    /// The kept memory for this run, or null (none planned, none worth keeping, or another run has it:
    /// a second thread, or a subgraph of this one, allocates as before).
    /// </summary>
    internal IReadOnlyDictionary<string, KeptBuffer>? TakeKept()
    {
        if (_kept is not { Count: > 0 } kept || _noKeeping) return null;
        return Interlocked.CompareExchange(ref _keptInUse, 1, 0) == 0 ? kept : null;
    }

    internal void ReturnKept() => Volatile.Write(ref _keptInUse, 0);

    /// <summary>Torch read a value whose memory is kept (the plan missed a reader): later runs allocate per call again.</summary>
    internal void StopKeeping() => _noKeeping = true;

    /// <summary>
    /// Plans the memory kept across calls, after a run that made no view for the first time (with
    /// constant sizes, what it read is what every later run reads). A value a kernel or BLAS product
    /// writes, that no torch op reads (nor a view of it that torch reads) and the graph does not
    /// return, is never seen outside the runner: it gets memory kept across calls instead of a new
    /// tensor per call (torch.empty_strided through Python for each, the GPT's 31 a call). Values whose
    /// lifetimes (the fusion groups from the one that writes it to the last that reads it) do not
    /// overlap share memory, so what is kept is about a call's peak of such values, not their sum.
    /// </summary>
    internal void PlanKept(HashSet<string> readByTorch, TorchRuntime torch)
    {
        if (Interlocked.Exchange(ref _keptPlanned, 1) != 0) return;
        var optimized = part.Optimized!;
        var graph = optimized.Graph;
        var groups = optimized.Fusion.Groups;
        var frees = Frees;
        var outputs = graph.Output.Inputs.ToHashSet();
        var capacity = new List<long>();
        var free = new List<int>();
        var slotOf = new Dictionary<string, (int Slot, TensorMeta Meta, long Bytes)>();
        for (var g = 0; g < groups.Count; g++)
        {
            if (g > 0)
                foreach (var name in frees[g - 1])
                    if (slotOf.TryGetValue(name, out var done)) free.Add(done.Slot);
            foreach (var value in Written(groups[g].Id))
            {
                if (readByTorch.Contains(value) || outputs.Contains(value) || slotOf.ContainsKey(value)) continue;
                if (graph[value].Meta is not TensorMeta { Shape.IsConcrete: true, Strides: { } strides } meta || meta.Device != Device.Cpu) continue;
                var sizes = meta.Shape.Concrete();
                if (sizes.Any(s => s == 0)) continue;
                // in 8-byte words, so that every dtype's view of a slot is aligned
                var bytes = ((1 + sizes.Select((s, d) => (s - 1) * strides[d]).Sum()) * meta.DType.ItemSize() + 7) / 8 * 8;
                // the smallest free slot it fits, else the largest free one (grown), else a new one
                var fits = free.Where(s => capacity[s] >= bytes).OrderBy(s => capacity[s]).Cast<int?>().FirstOrDefault()
                    ?? free.OrderByDescending(s => capacity[s]).Cast<int?>().FirstOrDefault();
                int slot;
                if (fits is { } taken)
                {
                    free.Remove(taken);
                    slot = taken;
                    capacity[slot] = Math.Max(capacity[slot], bytes);
                }
                else
                {
                    slot = capacity.Count;
                    capacity.Add(bytes);
                }
                slotOf[value] = (slot, meta, bytes);
            }
        }
        if (slotOf.Count == 0 || capacity.Sum() > MaxKeptBytes) return;
        var slots = capacity.Select(bytes => torch.Empty([bytes / 8], DType.Float64)).ToList();
        var kept = new Dictionary<string, KeptBuffer>();
        foreach (var (value, (slot, meta, bytes)) in slotOf)
        {
            using var zero = Py.Int(0);
            using var words = Py.Int(bytes / 8);
            using var bytesOf = slots[slot].CallMethod("narrow", zero, zero, words);
            using var dtype = torch.DTypeObject(meta.DType);
            using var typed = bytesOf.CallMethod("view", dtype);
            using var sizes = Py.IntTuple(meta.Shape.Concrete());
            using var strides = Py.IntTuple(meta.Strides!);
            var tensor = typed.CallMethod("as_strided", sizes, strides);
            kept[value] = new KeptBuffer(tensor, torch.DataPtr(tensor));
        }
        foreach (var slot in slots) slot.Dispose(); // each value's tensor holds its slot's memory
        _kept = kept;
    }

    /// <summary>The values a group's kernel or BLAS product writes into memory the runner allocates.</summary>
    private IEnumerable<string> Written(int group)
    {
        if (part.Gemms.TryGetValue(group, out var gemm)) yield return gemm.Node;
        if (part.Entries.ContainsKey(group) && part.Kernels.TryGetValue(group, out var kernel))
            foreach (var operand in kernel.Operands)
                if (operand.IsOutput) yield return operand.Value;
    }

    /// <summary>
    /// Where a view the runner makes when first read lies in the memory of the value its chain of views
    /// starts from (<see cref="Root"/>, a value whose address the runner knows: a kernel's or BLAS
    /// product's output, a constant): the byte offset from the root's address, and the view's metadata.
    /// </summary>
    internal sealed record ViewPlace(string Root, long ByteOffset, TensorMeta Meta);

    private readonly Dictionary<string, ViewPlace?> _viewPlaces = [];

    /// <summary>
    /// The place of a view, learned when a call first made it through torch; null where it has none (a
    /// copy, a root whose address is not known) or none is known yet. With constant sizes a later call's
    /// view is at the same place in its root's new memory: kernels and BLAS read it by address and
    /// strides, and torch is not asked to make it (a GPT's split, view and transpose chains per layer).
    /// </summary>
    internal ViewPlace? PlaceOf(string view)
    {
        lock (_viewPlaces) return _viewPlaces.GetValueOrDefault(view);
    }

    /// <summary>Whether a view's place (or that it has none) is known.</summary>
    internal bool Placed(string view)
    {
        lock (_viewPlaces) return _viewPlaces.ContainsKey(view);
    }

    internal void Learn(string view, ViewPlace? place)
    {
        lock (_viewPlaces) _viewPlaces.TryAdd(view, place);
    }

    /// <summary>
    /// Whether a node is a view computed from constants alone (a frozen weight's <c>t()</c>, a slice of
    /// a frozen buffer by constant bounds): the same tensor on every call, so it is made once.
    /// </summary>
    internal bool IsConstantView(Node node)
    {
        lock (_constantViewNodes)
        {
            if (_constantViewNodes.TryGetValue(node.Name, out var known)) return known;
            var graph = part.Optimized?.Graph ?? part.Graph;
            var result = node is CallOp { Op.Category: OpCategory.View, Op.IsInPlace: false, Meta: TensorMeta } c
                && !c.Args.Concat(c.Kwargs.Select(k => k.Value)).Any(HasSize)
                && c.Inputs.Any() && c.Inputs.All(i => graph[i] is Constant || IsConstantView(graph[i]));
            return _constantViewNodes[node.Name] = result;
        }
    }

    private static bool HasSize(Arg arg) => arg switch
    {
        SizeArg => true,
        ListArg l => l.Items.Any(HasSize),
        SliceArg s => HasSize(s.Start) || HasSize(s.Stop) || HasSize(s.Step),
        _ => false,
    };

    /// <summary>A view of constants (<see cref="IsConstantView"/>), made by <paramref name="make"/> on first use and shared by later calls (a new handle).</summary>
    internal (PyObject Tensor, KnownTensor Known) ConstantView(Node node, Func<PyObject> make, TorchRuntime torch) => Shared(node.Name, make, torch);

    private readonly Dictionary<string, IReadOnlyList<RunnablePart>?> _subgraphs = [];

    /// <summary>The compiled subgraphs of a cond or while_loop node (made on first use), or null when it has none (it runs through torch).</summary>
    internal IReadOnlyList<RunnablePart>? Subgraph(string node)
    {
        lock (_subgraphs)
        {
            if (!_subgraphs.TryGetValue(node, out var runnable))
                _subgraphs[node] = runnable = part.Subgraphs.TryGetValue(node, out var parts) && parts.All(p => p.Optimized is not null)
                    ? parts.Select(p => new RunnablePart(p)).ToList() : null;
            return runnable;
        }
    }

    internal KernelLaunch Launch(int group)
    {
        lock (_launches)
        {
            if (!_launches.TryGetValue(group, out var launch))
                _launches[group] = launch = new KernelLaunch(part.Kernels[group], part.Entries[group], part.Optimized!.Graph);
            return launch;
        }
    }
}
