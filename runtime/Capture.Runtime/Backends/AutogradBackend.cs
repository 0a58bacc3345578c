using System.Diagnostics;
using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;


/// <summary>
/// A graph compiled with its gradients: the forward and backward graphs of a partition, each
/// compiled by the inner backend, run inside a torch.autograd.Function (capture/_autograd.py) so
/// that loss.backward() runs the compiled backward. When the graph cannot be differentiated,
/// <see cref="Partition"/> is null, <see cref="Forward"/> is the whole graph compiled as it is,
/// torch's autograd tracks its ops, and <see cref="Reason"/> says why.
/// </summary>
public sealed class AutogradCompiledGraph : ICompiledGraph
{
    public required AutogradBackend Backend { get; init; }
    public required Graph Captured { get; init; }
    public required ICompiledGraph Forward { get; init; }
    public ICompiledGraph? Backward { get; init; }
    public Partition? Partition { get; init; }

    /// <summary>The other partitioner's result on the same joint graph, for reports.</summary>
    public Partition? Alternative { get; init; }

    public string? Reason { get; init; }
    public required IReadOnlyList<CompilePhase> Phases { get; init; }

    public string? Source => Backward is null ? Forward.Source
        : Forward.Source is null && Backward.Source is null ? null
        : $"// forward\n{Forward.Source}\n// backward\n{Backward.Source}";

    internal PyObject? RunForward { get; init; }
    internal PyObject? RunBackward { get; init; }
    internal PyObject? DifferentiableFlags { get; init; }

    public PyObject Run(IReadOnlyList<PyObject> inputs) => Backend.Run(this, inputs);
}

/// <summary>
/// Wraps a backend with AOT autograd: a graph compiled under grad mode whose inputs require grad
/// is differentiated (JointGraph), split by the min-cut partitioner, and its forward and backward
/// compiled by the inner backend for no-grad execution. Guards pin grad mode and every input's
/// requires_grad, so a cached pair never runs where another graph is needed; calls under
/// torch.no_grad() get the inner backend's inference graph.
/// </summary>
public sealed class AutogradBackend(IGraphBackend inner, TorchRuntime torch) : IGraphBackend
{
    private readonly PythonCalls _calls = new(torch);
    private PyObject? _function;

    public IGraphBackend Inner => inner;

    public string Name => inner.Name;

    public ICompiledGraph Compile(Graph graph, bool gradEnabled)
    {
        if (!gradEnabled || !graph.Placeholders.Any(p => JointGraph.NeedsGrad(p.Meta))) return inner.Compile(graph, gradEnabled);
        var watch = Stopwatch.StartNew();
        JointGraph joint;
        Partition partition, alternative;
        try
        {
            (joint, partition, alternative) = Partitioners.Differentiate(graph);
        }
        catch (NotSupportedException e)
        {
            return new AutogradCompiledGraph
            {
                Backend = this, Captured = graph, Forward = inner.Compile(graph, gradEnabled), Phases = [],
                Reason = $"no compiled backward: {e.Message}; torch's autograd differentiates the graph's ops",
            };
        }
        var autograd = new CompilePhase("autograd", watch.Elapsed,
            $"joint graph {joint.Graph.Nodes.Count} nodes; {partition}; {alternative}");
        var forward = inner.Compile(partition.Forward, gradEnabled: false);
        var backward = inner.Compile(partition.Backward, gradEnabled: false);
        var compiled = new AutogradCompiledGraph
        {
            Backend = this, Captured = graph, Forward = forward, Backward = backward, Partition = partition, Alternative = alternative,
            Phases = [autograd, .. forward.Phases.Select(p => p with { Name = "forward " + p.Name }), .. backward.Phases.Select(p => p with { Name = "backward " + p.Name })],
            RunForward = PyFunction.Create("run_forward", (args, _) =>
            {
                using var inputs = args.GetItem(0);
                return RunGraph(forward, inputs.ToItems().ToList());
            }, "run_forward(inputs) -> (outputs, saved): the compiled forward graph"),
            RunBackward = PyFunction.Create("run_backward", (args, _) =>
            {
                using var saved = args.GetItem(0);
                using var tangents = args.GetItem(1);
                return RunGraph(backward, saved.ToItems().Concat(tangents.ToItems()).ToList());
            }, "run_backward(saved, tangents) -> gradients: the compiled backward graph"),
            DifferentiableFlags = Flags(joint.Differentiable),
        };
        return compiled;
    }

    private static PyObject Flags(IReadOnlyList<bool> values)
    {
        var items = values.Select(Py.Bool).ToList();
        try { return Py.Tuple(items); }
        finally { foreach (var item in items) item.Dispose(); }
    }

    private static PyObject RunGraph(ICompiledGraph graph, List<PyObject> inputs)
    {
        try { return graph.Run(inputs); }
        finally { foreach (var i in inputs) i.Dispose(); }
    }

    /// <summary>Runs the pair through the autograd.Function and rebuilds the graph's output.</summary>
    public PyObject Run(AutogradCompiledGraph compiled, IReadOnlyList<PyObject> inputs)
    {
        if (compiled.Partition is not { } partition) return compiled.Forward.Run(inputs);
        _function ??= LoadFunction();
        var joint = partition.Joint;
        var args = new List<PyObject> { compiled.RunForward!, compiled.RunBackward!, compiled.DifferentiableFlags! };
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

public static class CompiledGraphs
{
    /// <summary>The compiled graph that runs the forward (the whole graph, when there is no split).</summary>
    public static ICompiledGraph Main(this ICompiledGraph compiled) => compiled is AutogradCompiledGraph a ? a.Forward : compiled;
}

/// <summary>What reports say about a compiled graph's gradients (text, HTML and explain share it).</summary>
public static class AutogradSummary
{
    public static string Status(ICompiledGraph? compiled) => compiled switch
    {
        AutogradCompiledGraph { Partition: { } p, Alternative: var alternative } =>
            $"forward/backward split ({p}{(alternative is null ? "" : $"; saving everything needed would keep {alternative.Saved.Count} tensors, {Partitioners.FormatBytes(alternative.SavedBytes)}")}); loss.backward() runs the compiled backward",
        AutogradCompiledGraph { Reason: { } reason } => reason,
        _ => "no forward/backward split: no input requires grad, or grad mode is off (an inference graph)",
    };

    /// <summary>"name: f32[8, 32]" for each value the forward saves.</summary>
    public static IEnumerable<string> Saved(Partition partition) =>
        partition.Saved.Select(n => $"{n}: {MetaText.Format(partition.Forward[n].Meta)}");
}
