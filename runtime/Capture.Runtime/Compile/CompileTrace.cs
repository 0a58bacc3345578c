using Capture.Codegen;
using Capture.Codegen.Blas;

namespace Capture.Runtime.Compile;

/// <summary>One step of compiling a graph and what it cost ("optimize", "codegen", "roslyn": cached...).</summary>
public sealed record CompilePhase(string Name, TimeSpan Time, string? Note = null)
{
    public override string ToString() => $"{Name} {Time.TotalMilliseconds:0.0} ms{(Note is null ? "" : $" ({Note})")}";
}

/// <summary>A graph differentiated and split: the joint graph, the partition that runs (min-cut) and the other one, for reports.</summary>
public sealed record AutogradSplit(JointGraph Joint, Partition Partition, Partition Alternative);

/// <summary>
/// One graph the pipeline compiled: the whole captured graph ("graph"), or one half of a
/// forward/backward split. <see cref="Optimized"/> is what runs on a kernel backend (the optimizer's
/// graph with its fusion groups); where it is null, <see cref="Graph"/> runs node by node through
/// torch, as the eager backend runs everything, and <see cref="NodeByNode"/> says why.
/// </summary>
public sealed record CompiledPart
{
    public required string Role { get; init; }
    public required Graph Graph { get; init; }
    public OptimizedGraph? Optimized { get; init; }
    public IReadOnlyList<PassRecord> Passes { get; init; } = [];
    public IReadOnlyDictionary<int, Kernel> Kernels { get; init; } = new Dictionary<int, Kernel>();
    public IReadOnlyDictionary<int, KernelEntry> Entries { get; init; } = new Dictionary<int, KernelEntry>();

    /// <summary>The compiled module the entries point into: held here, so its code stays loaded as long as this part.</summary>
    public CompiledKernels? Module { get; init; }

    /// <summary>The matrix products run through BLAS, by fusion group (the other extern groups run through torch).</summary>
    public IReadOnlyDictionary<int, GemmCall> Gemms { get; init; } = new Dictionary<int, GemmCall>();

    /// <summary>The generated source, C# or LLVM IR (empty when no group was lowered), and its language.</summary>
    public string Source { get; init; } = "";
    public string? Language { get; init; }

    /// <summary>Why the graph runs node by node through torch on a kernel backend (null where kernels run, and on the eager backend).</summary>
    public string? NodeByNode { get; init; }

    /// <summary>
    /// The compiled subgraphs of the graph's control flow, by node name: a cond's [true, false], a
    /// while_loop's [condition, body]. The runner runs a branch or an iteration through these.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<CompiledPart>> Subgraphs { get; init; } = new Dictionary<string, IReadOnlyList<CompiledPart>>();

    /// <summary>
    /// Where the graph needs gradients and keeps control flow (it runs through torch): each subgraph
    /// compiled as a graph of its own, with its own forward/backward split, by node name (a cond's
    /// [true, false], a while_loop's [condition, body]). The interpreter runs these for the subgraphs.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<CompileTrace>> SubgraphTraces { get; init; } = new Dictionary<string, IReadOnlyList<CompileTrace>>();

    /// <summary>
    /// Where the graph needs gradients and keeps control flow: the graph cut at its cond/while_loop nodes
    /// (<see cref="ControlFlowPieces"/>), each piece compiled as a graph of its own, in the order they run:
    /// a piece of ops with its own forward/backward split, a control-flow piece with its compiled branches.
    /// Each piece reads its placeholders by name from the graph's inputs and earlier pieces' results.
    /// </summary>
    public IReadOnlyList<CompileTrace> Pieces { get; init; } = [];
}

/// <summary>
/// Everything one compile did, in order: the captured graph, the forward/backward split when
/// gradients are needed, and per graph that runs the optimizer's result, its kernels and their
/// generated source, with the time of each phase. Backends run what it holds; the CLI, explain and
/// reports print it, so what they show is what runs.
/// </summary>
public sealed record CompileTrace
{
    public required string Backend { get; init; }
    public required Graph Captured { get; init; }
    public AutogradSplit? Split { get; init; }

    /// <summary>Why a graph that needs gradients has no compiled backward (torch's autograd then tracks its ops).</summary>
    public string? NoSplitReason { get; init; }

    /// <summary>[the graph], or [forward, backward] after a split.</summary>
    public required IReadOnlyList<CompiledPart> Parts { get; init; }
    public required IReadOnlyList<CompilePhase> Phases { get; init; }

    /// <summary>
    /// The captured graph's inputs taken as constants (placeholder names): parameters and buffers of an
    /// inference graph, frozen. The compiled graph is still called with every input; it drops these.
    /// </summary>
    public IReadOnlyList<string> Frozen { get; init; } = [];

    /// <summary>The part that computes the graph's outputs: the graph itself, or the forward half.</summary>
    public CompiledPart Main => Parts[0];

    public CompiledPart? Backward => Parts.Count > 1 ? Parts[1] : null;

    /// <summary>
    /// All generated source, the halves of a split and the subgraphs of control flow (a cond's branches,
    /// a loop's body) under their own headings (null when nothing was generated).
    /// </summary>
    public string? Source => AllParts.All(p => p.Source.Length == 0) ? null
        : AllParts.Count == 1 ? Parts[0].Source
        : string.Concat(AllParts.Where(p => p.Source.Length > 0).Select(p => $"// {p.Role}\n{p.Source}\n")).TrimEnd('\n');

    public string? Language => AllParts.Select(p => p.Language).FirstOrDefault(l => l is not null);

    public int KernelCount => AllParts.Sum(p => p.Kernels.Count);

    /// <summary>The parts and, after each, the compiled subgraphs of its control flow (recursively).</summary>
    public IReadOnlyList<CompiledPart> AllParts => [.. Parts.SelectMany(Flatten)];

    private static IEnumerable<CompiledPart> Flatten(CompiledPart part) =>
        part.Subgraphs.Values.SelectMany(s => s).SelectMany(Flatten)
            .Concat(part.SubgraphTraces.Values.SelectMany(s => s).SelectMany(t => t.AllParts))
            .Concat(part.Pieces.SelectMany(t => t.AllParts)).Prepend(part);
}
