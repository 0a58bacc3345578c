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
        // the inputs are the caller's handles, borrowed: env owns only the values computed here
        var env = new Dictionary<string, PyObject>();
        // what is known of values without reading them: the inputs' metadata as guards just checked it,
        // and each kernel output's metadata and address (the kernel allocated it so)
        var known = new Dictionary<string, KnownTensor>();
        // views made by address only (kernels and BLAS read them so): torch gets them made when it reads them
        var unmade = part.SizeSymbols ? null : new HashSet<string>();
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
                            unmade?.Remove(name);
                        }
                foreach (var input in group.Inputs) Ensure(part, input, graph, env, known, unmade);
                part.Part.Gemms.TryGetValue(group.Id, out var gemm);
                if (part.Part.Entries.ContainsKey(group.Id))
                {
                    if (group.Kind == FusionKind.Extern) ExecuteExtern(part, graph[KernelLowering.ExternNode(graph, group)], gemm, env, known, unmade, sizes);
                    if (part.Launch(group.Id).Run(torch, env, known, sizes)) continue;
                }
                foreach (var node in group.Nodes.Where(n => !env.ContainsKey(n)))
                    if (graph[node] is Constant) Ensure(part, node, graph, env, known, unmade);
                    else ExecuteExtern(part, graph[node], gemm, env, known, unmade, sizes);
            }
            foreach (var name in graph.Output.Inputs)
            {
                Ensure(part, name, graph, env, known, unmade);
                Make(part, name, env, unmade);
                // a constant's tensor (or a view of one) is shared by every call: the caller gets a copy of its own
                if ((graph[name] is Constant || part.IsConstantView(graph[name])) && env.Remove(name, out var shared))
                    using (shared) env[name] = shared.CallMethod("clone");
            }
            return OutputTuple(graph.Output.Value, env) ?? _calls.Value(graph.Output.Value, name => env[name].NewReference());
        }
        finally
        {
            for (var i = 0; i < placeholders.Count && i < inputs.Count; i++) env.Remove(placeholders[i]);
            foreach (var value in env.Values) value.Dispose();
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
    /// made: its address and metadata go to <paramref name="known"/> (what kernels and BLAS read), and
    /// env holds the value it views, which keeps that memory alive, until torch reads it (<see cref="Make"/>).
    /// </summary>
    private void Ensure(RunnablePart part, string name, Graph graph, Dictionary<string, PyObject> env, Dictionary<string, KnownTensor> known, HashSet<string>? unmade)
    {
        if (env.ContainsKey(name)) return;
        var node = graph[name];
        if (unmade is not null && part.PlaceOf(name) is { } place && known.TryGetValue(place.Root, out var root) && root.DataPtr != 0
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
                foreach (var input in node.Inputs) Ensure(part, input, graph, env, known, unmade);
                Execute(part, node, env, unmade);
                env.Remove(name, out var made); // the cache owns it now
                return made!;
            }, torch);
            return;
        }
        foreach (var input in node.Inputs) Ensure(part, input, graph, env, known, unmade);
        Execute(part, node, env, unmade);
        if (unmade is not null && !part.Placed(name)) part.Learn(name, PlaceOfMade(graph, name, env, known));
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
    private void Make(RunnablePart part, string name, Dictionary<string, PyObject> env, HashSet<string>? unmade)
    {
        if (unmade is null || !unmade.Remove(name)) return;
        var place = part.PlaceOf(name)!;
        using var root = env[name];
        using var sizes = Py.IntTuple(place.Meta.Shape.Concrete());
        using var strides = Py.IntTuple(place.Meta.Strides!);
        using var offset = Py.Int(root.CallMethodInt64("storage_offset") + place.ByteOffset / place.Meta.DType.ItemSize());
        env[name] = root.CallMethod("as_strided", sizes, strides, offset);
    }

    /// <summary>Runs a node, through BLAS when it is the group's planned product and its operands' layouts allow.</summary>
    private void ExecuteExtern(RunnablePart part, Node node, Codegen.Blas.GemmCall? gemm, Dictionary<string, PyObject> env, Dictionary<string, KnownTensor> known,
        HashSet<string>? unmade, IReadOnlyDictionary<string, long>? sizes)
    {
        if (node is Cond or WhileLoop && part.Subgraph(node.Name) is { } sub)
        {
            // the interpreter's cond / while_loop, running the compiled subgraphs for the branch or the body
            Execute(part, node, env, unmade, new Dictionary<string, Func<IReadOnlyList<PyObject>, PyObject>[]>
            {
                [node.Name] = [.. sub.Select(p => (Func<IReadOnlyList<PyObject>, PyObject>)(inputs => Run(p, inputs, null)))],
            });
            return;
        }
        KernelThreads.Park(); // BLAS's and torch's threads get both cores
        if (gemm is not null && gemm.Node == node.Name && BlasGemm.TryRun(torch, gemm, env, known, sizes)) return;
        Execute(part, node, env, unmade);
    }

    /// <summary>Runs a node through torch (the views it reads made first).</summary>
    private void Execute(RunnablePart part, Node node, Dictionary<string, PyObject> env, HashSet<string>? unmade,
        IReadOnlyDictionary<string, Func<IReadOnlyList<PyObject>, PyObject>[]>? compiled = null)
    {
        if (unmade is { Count: > 0 })
            foreach (var input in node.Inputs) Make(part, input, env, unmade);
        try { env[node.Name] = interpreter.Execute(node, env, null, checkMetadata: false, compiled); }
        catch (Exception e) when (e is PythonException or NotSupportedException) { throw GraphExecutionException.Of(node, e); }
    }
}

/// <summary>
/// A value's metadata known without reading it (checked by a guard, or given by the graph to the
/// kernel that allocated it), and its data address when known (0: read it).
/// </summary>
internal readonly record struct KnownTensor(TensorMeta Meta, nint DataPtr);

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
