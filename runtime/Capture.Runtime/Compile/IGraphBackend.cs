namespace Capture.Runtime.Compile;

/// <summary>A graph compiled for one backend: what the pipeline did, and the means to run it.</summary>
public interface ICompiledGraph
{
    CompileTrace Trace { get; }

    /// <summary>
    /// Runs it on Python values (GIL held) and returns its output. <paramref name="checkedMetas"/>:
    /// per input, the metadata its tensor guard has just checked (dtype, device, sizes and strides),
    /// or null where unchecked; a backend may use it instead of reading the tensors again.
    /// </summary>
    PyObject Run(IReadOnlyList<PyObject> inputs, IReadOnlyList<TensorMeta?>? checkedMetas = null);
}

/// <summary>What `capture.compile(backend=...)` names: turns captured graphs into something that runs.</summary>
public interface IGraphBackend
{
    string Name { get; }

    /// <summary>Whether the backend can take graph inputs as constants (<see cref="Compile"/>'s <c>frozen</c>).</summary>
    bool Freezes => false;

    /// <summary>
    /// Compiles <paramref name="graph"/> for calls made with grad mode <paramref name="gradEnabled"/>
    /// (the capture's guards pin it), GIL held. <paramref name="frozen"/>: inputs (by placeholder) the
    /// compile may take as these constants; the trace says which it took (<see cref="CompileTrace.Frozen"/>),
    /// and the compiled graph is still called with every input.
    /// </summary>
    ICompiledGraph Compile(Graph graph, bool gradEnabled, IReadOnlyDictionary<string, TensorData>? frozen = null);
}
