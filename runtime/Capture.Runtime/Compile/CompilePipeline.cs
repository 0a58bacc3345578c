using System.Collections.Frozen;
using System.Diagnostics;
using Capture.Codegen;
using Capture.Codegen.Blas;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Compile;

/// <summary>
/// The one way a captured graph is compiled, for every backend, the CLI and reports:
///   captured graph
///   -> (inputs require grad, grad mode on) joint forward/backward graph, min-cut partition
///   -> per graph that runs (the whole graph, or each half):
///        optimizer passes (OptimizerPipeline, with this backend's decompositions) and fusion groups
///        -> kernels lowered from fusion groups, their C# or LLVM IR, compiled (or loaded from the
///           kernel cache); matrix products planned for BLAS
/// The eager backend (no kernel compiler) stops after the split: its graphs run as captured, node
/// by node through torch. Each step is timed and kept in the <see cref="CompileTrace"/>.
/// </summary>
public sealed class CompilePipeline(string backend, TorchRuntime torch, IKernelCompiler? compiler = null, KernelCache? cache = null, KernelSchedule? schedule = null)
{
    /// <summary>
    /// Ops split into the parts kernels compute (a row reduction and its prologue and epilogue,
    /// a pointwise chain): their parts fuse with the ops around them. linear becomes a gemm (torch's
    /// mm on the transposed weight) and a bias add that joins the activation's kernel, instead of
    /// addmm's copy of the bias into the output before the gemm.
    /// </summary>
    public static readonly FrozenSet<OpDef> Decomposed = FrozenSet.ToFrozenSet<OpDef>(
    [
        Ops.Gelu, Ops.Silu, Ops.Softmax, Ops.LogSoftmax, Ops.Logsumexp,
        Ops.FunctionalSoftmax, Ops.FunctionalLogSoftmax, Ops.Linear, Ops.LayerNorm, Ops.BatchNorm,
        Ops.Hardtanh, Ops.Relu6, Ops.Hardsigmoid, Ops.Hardswish, Ops.SiluC, Ops.TransformerEncoderLayerFwd,
    ]);

    public string Backend => backend;

    /// <summary>The code generator and compiler kernels go through; null for the eager backend.</summary>
    public IKernelCompiler? Compiler => compiler;

    public KernelCache? Cache => cache;

    /// <summary>Vector width and parallel split of the generated loops (the host's by default).</summary>
    public KernelSchedule Schedule { get; } = schedule ?? KernelSchedule.Host;

    /// <summary>
    /// Compiles <paramref name="captured"/> for calls made with grad mode <paramref name="gradEnabled"/> (GIL held).
    /// <paramref name="frozen"/>: inputs that may be taken as these constants (see <see cref="Freeze"/>).
    /// </summary>
    public CompileTrace Run(Graph captured, bool gradEnabled, IReadOnlyDictionary<string, TensorData>? frozen = null)
    {
        var phases = new List<CompilePhase>();
        if (!gradEnabled || !captured.Placeholders.Any(p => JointGraph.NeedsGrad(p.Meta)))
        {
            var taken = new List<string>();
            var part = Part("graph", captured, gradEnabled, phases, gradEnabled ? null : frozen, taken);
            return new CompileTrace { Backend = backend, Captured = captured, Parts = [part], Phases = phases, Frozen = taken };
        }
        if (compiler is not null && captured.Nodes.Any(n => n is Cond or WhileLoop) && CutAtControlFlow(captured, gradEnabled, phases) is { } cut) return cut;
        var watch = Stopwatch.StartNew();
        AutogradSplit split;
        try
        {
            var (joint, partition, alternative) = Partitioners.Differentiate(captured);
            split = new AutogradSplit(joint, partition, alternative);
        }
        catch (NotSupportedException e)
        {
            return new CompileTrace
            {
                Backend = backend, Captured = captured, Parts = [Part("graph", captured, gradEnabled, phases)], Phases = phases,
                NoSplitReason = $"no compiled backward: {e.Message}; torch's autograd differentiates the graph's ops",
            };
        }
        phases.Add(new CompilePhase("autograd", watch.Elapsed, $"joint graph {split.Joint.Graph.Nodes.Count} nodes; {split.Partition}; {split.Alternative}"));
        // both halves run inside an autograd.Function, under no_grad
        var forward = Part("forward", split.Partition.Forward, gradEnabled: false, phases);
        var backward = Part("backward", split.Partition.Backward, gradEnabled: false, phases);
        return new CompileTrace { Backend = backend, Captured = captured, Split = split, Parts = [forward, backward], Phases = phases };
    }

    /// <summary>
    /// A graph that needs gradients and keeps control flow, cut at its cond/while_loop nodes (null where it
    /// cannot be, see <see cref="ControlFlowPieces.Cut"/>): each piece of ops compiles with its own
    /// forward/backward split, each control-flow piece runs the branch or loop body the predicate picks,
    /// compiled with its own; torch's autograd chains their compiled backwards.
    /// </summary>
    private CompileTrace? CutAtControlFlow(Graph captured, bool gradEnabled, List<CompilePhase> phases)
    {
        var watch = Stopwatch.StartNew();
        var graph = WithoutWritesToIntermediates(captured);
        if (WritesOrSwitchesGradMode(graph) || ControlFlowPieces.Cut(graph) is not { } pieces) return null;
        if (pieces.Count == 1)
            return new CompileTrace
            {
                Backend = backend, Captured = captured, Parts = [ControlFlowPart("graph", graph, gradEnabled, phases)], Phases = phases,
                NoSplitReason = "control flow: the branch or loop body that runs has its own compiled forward/backward split; torch's autograd chains them",
            };
        phases.Add(new CompilePhase("cut at control flow", watch.Elapsed, $"{pieces.Count} pieces, each compiled with its own forward/backward split"));
        var traces = pieces.Select((piece, i) =>
        {
            var trace = Run(piece, gradEnabled);
            phases.AddRange(trace.Phases.Select(p => p with { Name = $"piece {i + 1} {p.Name}" }));
            return trace with { Parts = [.. trace.Parts.Select(p => p with { Role = p.Role == "graph" ? $"piece {i + 1}" : $"piece {i + 1} {p.Role}" })] };
        }).ToList();
        return new CompileTrace
        {
            Backend = backend, Captured = captured, Phases = phases,
            Parts = [new CompiledPart { Role = "graph", Graph = graph, Pieces = traces }],
        };
    }

    /// <summary>
    /// A graph of control flow whose results need gradients: its own ops run through torch's autograd,
    /// each branch and loop body compiles as a graph of its own, with its own backward.
    /// </summary>
    private CompiledPart ControlFlowPart(string role, Graph graph, bool gradEnabled, List<CompilePhase> phases)
    {
        var traces = new Dictionary<string, IReadOnlyList<CompileTrace>>();
        foreach (var node in graph.Nodes.Where(n => n is Cond or WhileLoop))
            traces[node.Name] = [.. Graph.SubgraphsOf(node).Select(sub =>
            {
                var trace = Run(sub.Graph, gradEnabled);
                // what compiling it took, under its name
                phases.AddRange(trace.Phases.Select(p => p with { Name = $"{node.Name} {sub.Role} {p.Name}" }));
                return trace with { Parts = [.. trace.Parts.Select(p => p with { Role = p.Role == "graph" ? $"{node.Name} {sub.Role}" : $"{node.Name} {sub.Role} {p.Role}" })] };
            })];
        return new CompiledPart
        {
            Role = role, Graph = graph, SubgraphTraces = traces,
            // a graph that only picks a branch runs nothing through torch itself
            NodeByNode = ControlFlowPieces.IsControlFlowOnly(graph) ? null
                : "the graph keeps control flow and its results need autograd: its own ops run through torch; each branch and loop body is compiled with its own backward",
        };
    }

    /// <summary>Why a graph runs node by node through torch on a kernel backend, or null when it compiles.</summary>
    public static string? NodeByNodeReason(Graph graph, bool gradEnabled)
    {
        if (WritesOrSwitchesGradMode(graph))
            return "the graph writes or switches grad mode: it runs in order through torch";
        // control flow compiles, each branch and loop body a graph of its own, where no gradient is needed
        // (with gradients, Part compiles each branch and body with its own backward: ControlFlowPart)
        if (graph.Nodes.Any(n => n is Cond or WhileLoop) && gradEnabled && graph.AllNodes().Any(n => n.Meta is TensorMeta { RequiresGrad: true }))
            return "the graph keeps control flow (cond, while_loop) and its results need autograd: its own ops run through torch's autograd";
        foreach (var (_, sub) in graph.Nodes.SelectMany(Graph.SubgraphsOf))
            if (NodeByNodeReason(sub, gradEnabled) is { } inner)
                return $"a subgraph of its control flow cannot compile ({inner})";
        if (gradEnabled && graph.Nodes.Any(n => n.Meta is TensorMeta { RequiresGrad: true }))
            return "its results need autograd (inputs require grad, grad mode on) and it has no compiled backward: it runs through torch";
        return null;
    }

    /// <summary>Whether the graph writes in place, switches global state (grad mode) or calls modules: it must run in order through torch.</summary>
    private static bool WritesOrSwitchesGradMode(Graph graph) =>
        graph.Nodes.OfType<CallOp>().Any(c => c.Op.IsInPlace || c.Op.Category is OpCategory.GlobalState) || graph.Nodes.Any(n => n is CallModule);

    /// <summary>
    /// The graph with its in-place ops made functional when they write only values the graph itself
    /// computed (torchvision's ReLU(inplace=True), a residual's <c>out += identity</c>): nothing outside
    /// the graph can see those writes, and the functional form fuses into kernels. A graph that
    /// writes into its inputs or through views stays as it is (it runs in order through torch).
    /// </summary>
    public static Graph WithoutWritesToIntermediates(Graph graph)
    {
        try { return Functionalize.Apply(graph); }
        catch (NotSupportedException) { return graph; }
    }

    /// <summary>
    /// The graph with the inputs in <paramref name="frozen"/> replaced by constants holding those
    /// elements (each contiguous, as a constant is), and their names in <paramref name="taken"/>.
    /// Freezing parameters lets the optimizer fold what is computed from them alone (batch norm's
    /// scale and shift, a folded conv's weights) once, at compile time; guards see that they stay unchanged.
    /// </summary>
    public static Graph Freeze(Graph graph, IReadOnlyDictionary<string, TensorData> frozen, List<string> taken)
    {
        var returned = ReturnedOrViewed(graph);
        var nodes = graph.Nodes.Select(node =>
        {
            if (node is not Placeholder { Meta: TensorMeta meta } p || !frozen.TryGetValue(p.Name, out var data) || returned.Contains(p.Name)) return node;
            if (!meta.Equals(TensorMeta.Contiguous(meta.Shape, meta.DType, meta.RequiresGrad, meta.Device)) || meta.Device != Device.Cpu || data.DType != meta.DType) return node;
            taken.Add(p.Name);
            return new Constant(p.Name, data, meta with { RequiresGrad = false }) { Source = p.Source };
        }).ToList();
        return taken.Count == 0 ? graph : new Graph(nodes);
    }

    /// <summary>
    /// The inputs the graph returns, or returns views of (`return self.weight.t()`): eager gives the caller
    /// the parameter itself or a view of it (writing into it writes the parameter), so they stay inputs.
    /// </summary>
    private static HashSet<string> ReturnedOrViewed(Graph graph)
    {
        var found = new HashSet<string>();
        var seen = new HashSet<string>();
        var stack = new Stack<string>(graph.Output.Inputs);
        while (stack.TryPop(out var name))
        {
            if (!seen.Add(name)) continue;
            switch (graph[name])
            {
                case Placeholder:
                    found.Add(name);
                    break;
                case CallOp { Op.Category: OpCategory.View } or CallOp { Op: { Category: OpCategory.Opaque, Aliases: true } }:
                    foreach (var input in graph[name].Inputs) stack.Push(input);
                    break;
            }
        }
        return found;
    }

    private CompiledPart Part(string role, Graph graph, bool gradEnabled, List<CompilePhase> phases, IReadOnlyDictionary<string, TensorData>? frozen = null, List<string>? taken = null)
    {
        if (compiler is null) return new CompiledPart { Role = role, Graph = graph };
        // under no_grad nothing the graph computes requires grad (unless the graph switches grad mode itself)
        if (!gradEnabled && !graph.Nodes.OfType<CallOp>().Any(c => c.Op.Category == OpCategory.GlobalState)) graph = graph.WithoutGrad();
        graph = WithoutWritesToIntermediates(graph);
        if (NodeByNodeReason(graph, gradEnabled) is { } why)
        {
            // control flow whose results need gradients: the graph's own ops run through torch's autograd,
            // and each branch or loop body compiles as a graph of its own, with its own backward
            if (gradEnabled && graph.Nodes.Any(n => n is Cond or WhileLoop) && !WritesOrSwitchesGradMode(graph))
                return ControlFlowPart(role, graph, gradEnabled, phases);
            return new CompiledPart { Role = role, Graph = graph, NodeByNode = why };
        }
        var prefix = role == "graph" ? "" : role + " ";
        var watch = Stopwatch.StartNew();
        if (frozen is { Count: > 0 } && taken is not null)
        {
            graph = Freeze(graph, frozen, taken);
            if (taken.Count > 0)
                phases.Add(new CompilePhase(prefix + "freeze", watch.Elapsed,
                    $"{taken.Count} parameter{(taken.Count == 1 ? "" : "s")} and buffers frozen as constants ({taken.Sum(n => ((TensorMeta)graph[n].Meta).Shape.NumElements()):N0} elements)"));
            watch.Restart();
        }
        var context = new PassContext
        {
            Constants = new TorchConstantEvaluator(torch), Decompose = op => Decomposed.Contains(op),
            ChannelsLast = Environment.GetEnvironmentVariable("CAPTURE_CHANNELS_LAST") != "0",
            OneDnn = torch.HasOneDnn,
            OneDnnLayout = Environment.GetEnvironmentVariable("CAPTURE_ONEDNN_LAYOUT") != "0",
        };
        var optimized = OptimizerPipeline.Run(graph, context);
        var notes = context.Records.Where(r => r.Note is not null).Select(r => r.Note).ToList();
        phases.Add(new CompilePhase(prefix + "optimize", watch.Elapsed, notes.Count == 0 ? null : string.Join("; ", notes)));
        // each branch and loop body compiles as a graph of its own (the runner runs the one the predicate picks)
        var subgraphs = new Dictionary<string, IReadOnlyList<CompiledPart>>();
        foreach (var node in optimized.Graph.Nodes.Where(n => n is Cond or WhileLoop))
            subgraphs[node.Name] = [.. Graph.SubgraphsOf(node).Select(sub => Part($"{node.Name} {sub.Role}", sub.Graph, gradEnabled, phases))];

        watch.Restart();
        var kernels = new Dictionary<int, Kernel>();
        foreach (var group in optimized.Fusion.Groups)
            if (KernelLowering.Lower(optimized.Graph, group, $"g{group.Id}") is { } kernel) kernels[group.Id] = kernel;
        var generated = kernels.Count == 0 ? null : compiler.Generate(kernels.Values.ToList(), Schedule);
        var source = generated?.Source ?? "";
        var gemms = GemmsOf(optimized);
        phases.Add(new CompilePhase(prefix + "codegen", watch.Elapsed, $"{kernels.Count} kernel{(kernels.Count == 1 ? "" : "s")}, {source.Length} chars of {compiler.Language}"
            + (gemms.Count > 0 ? $"; {gemms.Count} matrix product{(gemms.Count == 1 ? "" : "s")} through BLAS" : "")
            + (Convolutions(optimized.Graph) is > 0 and var convs ? $"; {convs} convolution{(convs == 1 ? "" : "s")} through torch (oneDNN)" : "")));
        var entries = new Dictionary<int, KernelEntry>();
        CompiledKernels? module = null;
        if (generated is not null)
        {
            watch.Restart();
            var compiled = module = generated.Compile(cache, CaptureSession.Version);
            foreach (var kernel in kernels.Values) entries[kernel.Group] = compiled.Entries[kernel.Name];
            phases.Add(new CompilePhase(prefix + compiler.Name, watch.Elapsed, compiled.FromCache ? "loaded from the kernel cache" : null));
        }
        return new CompiledPart
        {
            Role = role, Graph = graph, Optimized = optimized, Passes = context.Records, Kernels = kernels, Entries = entries, Module = module, Gemms = gemms,
            Source = source, Language = compiler.Language, Subgraphs = subgraphs,
        };
    }

    private static int Convolutions(Graph graph) => graph.Nodes.Count(n => n is CallOp { Op: var op } && (op == Ops.Conv2d || op == Ops.Conv1d || op == Ops.MkldnnConvolution));

    /// <summary>The extern groups whose product BLAS computes (mm, bmm, matmul of float matrices), when a BLAS is loaded.</summary>
    private static Dictionary<int, GemmCall> GemmsOf(OptimizedGraph optimized)
    {
        var gemms = new Dictionary<int, GemmCall>();
        foreach (var group in optimized.Fusion.Groups.Where(g => g.Kind == FusionKind.Extern))
            if (GemmCall.Of(optimized.Graph, KernelLowering.ExternNode(optimized.Graph, group)) is { } gemm
                && (OpenBlas.IsAvailable || gemm.Type == DType.Float32 && OneDnnGemm.IsAvailable)) gemms[group.Id] = gemm;
        return gemms;
    }
}
