using Capture.Graphs;
using Capture.Python;

namespace Capture.Runtime.Backends;


/// <summary>One step of compiling a graph and what it cost ("optimize", "codegen", "roslyn": cached...).</summary>
public sealed record CompilePhase(string Name, TimeSpan Time, string? Note = null)
{
    public override string ToString() => $"{Name} {Time.TotalMilliseconds:0.0} ms{(Note is null ? "" : $" ({Note})")}";
}

/// <summary>A graph ready to run on one backend.</summary>
public interface ICompiledGraph
{
    /// <summary>The graph as captured (what it computes).</summary>
    Graph Captured { get; }

    /// <summary>What compiling it took, phase by phase (empty for the eager backend).</summary>
    IReadOnlyList<CompilePhase> Phases { get; }

    /// <summary>Generated source, when the backend generates any.</summary>
    string? Source { get; }

    /// <summary>Runs it on Python values (GIL held) and returns its output.</summary>
    PyObject Run(IReadOnlyList<PyObject> inputs);

    /// <summary>
    /// Runs it on inputs whose metadata the caller has just checked (a capture's tensor guards, which
    /// pin dtype, device, sizes and strides): <paramref name="checkedMetas"/>[i] is input i's, or null
    /// where unchecked. A backend may use it instead of reading the tensors' metadata again.
    /// </summary>
    PyObject Run(IReadOnlyList<PyObject> inputs, IReadOnlyList<TensorMeta?> checkedMetas) => Run(inputs);
}

/// <summary>What `capture.compile(backend=...)` names: turns captured graphs into something that runs.</summary>
public interface IGraphBackend
{
    string Name { get; }

    /// <summary>
    /// Compiles <paramref name="graph"/> for calls made with grad mode <paramref name="gradEnabled"/>
    /// (the capture's guards pin it), GIL held.
    /// </summary>
    ICompiledGraph Compile(Graph graph, bool gradEnabled);
}
