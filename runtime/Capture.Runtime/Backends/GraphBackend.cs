using Capture.Runtime.Compile;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;

/// <summary>
/// A backend (eager, roslyn, llvm): compiles graphs through its <see cref="CompilePipeline"/> and runs
/// what the trace holds: an optimized graph's fusion groups as kernels (<see cref="KernelRunner"/>),
/// or a graph node by node through torch (<see cref="GraphInterpreter"/>). A forward/backward split
/// runs inside a torch.autograd.Function (capture/_autograd.py), so loss.backward() runs the compiled
/// backward; guards pin grad mode and every input's requires_grad, so a cached pair never runs where
/// another graph is needed.
/// </summary>
public sealed class GraphBackend(CompilePipeline pipeline, TorchRuntime torch) : IGraphBackend
{
    private readonly GraphInterpreter _interpreter = new(torch);
    private readonly PythonCalls _calls = new(torch);
    private PyObject? _function;

    public string Name => pipeline.Backend;

    public CompilePipeline Pipeline => pipeline;

    public bool Freezes => pipeline.Compiler is not null;

    ICompiledGraph IGraphBackend.Compile(Graph graph, bool gradEnabled, IReadOnlyDictionary<string, TensorData>? frozen) => Compile(graph, gradEnabled, frozen);

    public CompiledGraph Compile(Graph graph, bool gradEnabled = false, IReadOnlyDictionary<string, TensorData>? frozen = null)
    {
        var trace = pipeline.Run(graph, gradEnabled, frozen);
        return new CompiledGraph(this, trace);
    }

    internal PyObject RunPart(RunnablePart part, IReadOnlyList<PyObject> inputs, IReadOnlyList<TensorMeta?>? checkedMetas,
        IReadOnlyDictionary<string, Func<IReadOnlyList<PyObject>, PyObject>[]>? subgraphs = null) =>
        part.Part.Optimized is null ? _interpreter.Run(part.Part.Graph, inputs, compiled: subgraphs) : Kernels.Run(part, inputs, checkedMetas);

    private KernelRunner Kernels => _kernelsOrNull ??= new KernelRunner(torch, _interpreter);
    private KernelRunner? _kernelsOrNull;

    /// <summary>Runs a split graph's pair through the autograd.Function and rebuilds the graph's output.</summary>
    internal PyObject RunSplit(CompiledGraph compiled, IReadOnlyList<PyObject> inputs)
    {
        _function ??= LoadFunction();
        var joint = compiled.Trace.Split!.Joint;
        var args = new List<PyObject> { compiled.RunForward!, compiled.RunBackward!, compiled.DifferentiableFlags!, compiled.TangentsOfInputs! };
        args.AddRange(inputs);
        using var apply = _function.GetAttr("apply");
        using var outputs = apply.Call(args, []);
        var byName = new Dictionary<string, PyObject>();
        try
        {
            for (var i = 0; i < joint.TensorOutputs.Count; i++) byName[joint.TensorOutputs[i]] = outputs.GetItem(i);
            return _calls.Value(joint.OutputTemplate, name => byName[name].NewReference());
        }
        finally { foreach (var o in byName.Values) o.Dispose(); }
    }

    private static PyObject LoadFunction()
    {
        using var module = Py.Import("capture._autograd");
        return module.GetAttr("CompiledGraphFunction");
    }
}

/// <summary>A graph compiled by a <see cref="GraphBackend"/>: its trace and the parts that run.</summary>
public sealed class CompiledGraph : ICompiledGraph
{
    private readonly GraphBackend _backend;
    private readonly RunnablePart[] _parts;

    internal CompiledGraph(GraphBackend backend, CompileTrace trace)
    {
        _backend = backend;
        Trace = trace;
        _parts = [.. trace.Parts.Select(p => new RunnablePart(p))];
        // control flow with gradients: the subgraphs compiled on their own (each a CompiledGraph, its split included)
        if (trace.Main.SubgraphTraces.Count > 0)
            _subgraphs = trace.Main.SubgraphTraces.ToDictionary(kv => kv.Key, kv => kv.Value
                .Select(t => new CompiledGraph(backend, t)).Select(g => (Func<IReadOnlyList<PyObject>, PyObject>)(inputs => g.Run(inputs))).ToArray());
        // control flow with gradients, cut into pieces: each a CompiledGraph of its own, run in order
        if (trace.Main.Pieces.Count > 0)
            _pieces = [.. trace.Main.Pieces.Select(t => (new CompiledGraph(backend, t),
                t.Captured.Placeholders.Select(p => p.Name).ToArray(),
                t.Captured.Output.Value is ListArg results ? results.Items.Select(r => ((RefArg)r).Name).ToArray() : []))];
        if (trace.Frozen.Count > 0)
        {
            var frozen = trace.Frozen.ToHashSet();
            _kept = [.. trace.Captured.Placeholders.Select((p, i) => (p, i)).Where(x => !frozen.Contains(x.p.Name)).Select(x => x.i)];
        }
        if (trace.Split is not { } split) return;
        var (forward, backward) = (_parts[0], _parts[1]);
        RunForward = PyFunction.Create("run_forward", (args, _) =>
        {
            using var inputs = args.GetItem(0);
            return RunOwned(forward, inputs.ToItems().ToList());
        }, "run_forward(inputs) -> (outputs, saved): the compiled forward graph");
        RunBackward = PyFunction.Create("run_backward", (args, _) =>
        {
            using var saved = args.GetItem(0);
            using var tangents = args.GetItem(1);
            return RunOwned(backward, saved.ToItems().Concat(tangents.ToItems()).ToList());
        }, "run_backward(saved, tangents) -> gradients: the compiled backward graph");
        DifferentiableFlags = TupleOfNew(split.Joint.Differentiable.Select(Py.Bool));
        TangentsOfInputs = TupleOfNew(split.Joint.TangentsOfPrimals().Select(t => Py.IntTuple(t.Select(i => (long)i).ToList())));
    }

    /// <summary>A tuple of new references, which it takes its own references to (ours are released).</summary>
    private static PyObject TupleOfNew(IEnumerable<PyObject> items)
    {
        var list = items.ToList();
        try { return Py.Tuple(list); }
        finally { foreach (var item in list) item.Dispose(); }
    }

    public CompileTrace Trace { get; }

    internal PyObject? RunForward { get; }
    internal PyObject? RunBackward { get; }
    internal PyObject? DifferentiableFlags { get; }
    internal PyObject? TangentsOfInputs { get; }

    // the inputs the compiled graph reads, by index, when some were frozen (null: all)
    private readonly int[]? _kept;

    private readonly Dictionary<string, Func<IReadOnlyList<PyObject>, PyObject>[]>? _subgraphs;

    // the pieces of a graph cut at its control flow: each with the names it reads and the names of its results
    private readonly (CompiledGraph Graph, string[] Reads, string[] Results)[]? _pieces;

    public PyObject Run(IReadOnlyList<PyObject> inputs, IReadOnlyList<TensorMeta?>? checkedMetas = null)
    {
        if (_kept is { } kept)
        {
            var reads = new PyObject[kept.Length];
            var metas = checkedMetas is null ? null : new TensorMeta?[kept.Length];
            for (var i = 0; i < kept.Length; i++)
            {
                reads[i] = inputs[kept[i]];
                if (metas is not null) metas[i] = checkedMetas![kept[i]];
            }
            (inputs, checkedMetas) = (reads, metas);
        }
        if (_pieces is not null) return RunPieces(inputs);
        return Trace.Split is null ? _backend.RunPart(_parts[0], inputs, checkedMetas, _subgraphs) : _backend.RunSplit(this, inputs);
    }

    /// <summary>Runs the pieces in order, each on the values it reads by name; the last one's result is the graph's.</summary>
    private PyObject RunPieces(IReadOnlyList<PyObject> inputs)
    {
        var values = new Dictionary<string, PyObject>();
        var owned = new List<PyObject>();
        try
        {
            foreach (var (p, i) in Trace.Captured.Placeholders.Select((p, i) => (p, i))) values[p.Name] = inputs[i];
            for (var k = 0; ; k++)
            {
                var (graph, reads, results) = _pieces![k];
                var result = graph.Run([.. reads.Select(r => values[r])]);
                if (k == _pieces.Length - 1) return result;
                using (result)
                    for (var i = 0; i < results.Length; i++)
                    {
                        var item = result.GetItem(i);
                        owned.Add(item);
                        values[results[i]] = item;
                    }
            }
        }
        finally { foreach (var o in owned) o.Dispose(); }
    }

    private PyObject RunOwned(RunnablePart part, List<PyObject> inputs)
    {
        try { return _backend.RunPart(part, inputs, null); }
        finally { foreach (var i in inputs) i.Dispose(); }
    }
}
