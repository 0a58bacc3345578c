using System.Diagnostics;
using Capture.Codegen;
using Capture.Codegen.Blas;
using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;


/// <summary>A graph compiled for a kernel backend (roslyn, llvm): the optimized graph, its kernels and their generated source.</summary>
public sealed class KernelCompiledGraph : ICompiledGraph
{
    public required KernelBackend Backend { get; init; }
    public required Graph Captured { get; init; }
    public required OptimizedGraph Optimized { get; init; }
    public required IReadOnlyDictionary<int, Kernel> Kernels { get; init; }
    public required IReadOnlyDictionary<int, KernelEntry> Entries { get; init; }

    /// <summary>The matrix products run through BLAS, by fusion group (the others run through torch).</summary>
    public IReadOnlyDictionary<int, GemmCall> Gemms { get; init; } = new Dictionary<int, GemmCall>();

    /// <summary>The generated source, C# or LLVM IR (empty when no group was lowered).</summary>
    public required string Source { get; init; }

    /// <summary>What <see cref="Source"/> is written in ("C#", "LLVM IR").</summary>
    public string Language => Backend.Compiler.Language;

    public required IReadOnlyList<CompilePhase> Phases { get; init; }

    /// <summary>The names of the optimized graph's inputs, in order.</summary>
    public IReadOnlyList<string> Placeholders => _placeholders ??= [.. Optimized.Graph.Placeholders.Select(p => p.Name)];

    private string[]? _placeholders;

    /// <summary>Why the graph runs through torch node by node, when it does.</summary>
    public string? Eager { get; init; }

    string? ICompiledGraph.Source => Source;

    public PyObject Run(IReadOnlyList<PyObject> inputs) => Backend.Run(this, inputs);

    public PyObject Run(IReadOnlyList<PyObject> inputs, IReadOnlyList<TensorMeta?> checkedMetas) => Backend.Run(this, inputs, checkedMetas: checkedMetas);

    private readonly Dictionary<int, KernelLaunch> _launches = [];

    /// <summary>The launch of fusion group <paramref name="group"/>'s kernel (made on its first call).</summary>
    internal KernelLaunch Launch(int group)
    {
        if (!_launches.TryGetValue(group, out var launch))
            _launches[group] = launch = new KernelLaunch(Kernels[group], Entries[group], Optimized.Graph);
        return launch;
    }
}

/// <summary>
/// backend="roslyn" and backend="llvm": the graph goes through the optimizer; pointwise and
/// reduction fusion groups are lowered to kernels (C# compiled by Roslyn, or LLVM IR compiled by
/// LLVM; or loaded from the kernel cache) and run on torch tensors' memory with the GIL released;
/// every other group's nodes run through torch, as the eager backend runs them. Graphs that write or switch grad mode run as captured through the eager backend (their
/// order matters), and so do graphs whose results need autograd (the compiled backward is autograd's
/// issue): their inputs require grad and grad mode is on.
/// </summary>
public sealed class KernelBackend(TorchRuntime torch, IKernelCompiler compiler, KernelCache? cache = null, KernelSchedule? schedule = null) : IGraphBackend
{
    /// <summary>
    /// Ops split into the parts kernels compute (a row reduction and its prologue and epilogue,
    /// a pointwise chain): their parts fuse with the ops around them. linear becomes a gemm (torch's
    /// mm on the transposed weight) and a bias add that joins the activation's kernel, instead of
    /// addmm's copy of the bias into the output before the gemm.
    /// </summary>
    public static readonly IReadOnlySet<string> Decomposed = new HashSet<string>
    {
        "torch.nn.functional.gelu", "torch.nn.functional.silu", "torch.softmax", "torch.log_softmax", "torch.logsumexp",
        "torch.nn.functional.softmax", "torch.nn.functional.log_softmax", "torch.nn.functional.linear",
        "torch.nn.functional.layer_norm", "torch.nn.functional.batch_norm",
    };

    private readonly EagerBackend _eager = new(torch);
    private readonly PythonCalls _calls = new(torch);

    public string Name => Compiler.Name;

    /// <summary>The code generator and compiler kernels go through.</summary>
    public IKernelCompiler Compiler { get; } = compiler;

    public KernelCache? Cache { get; } = cache;

    /// <summary>Vector width and parallel split of the generated loops (the host's by default).</summary>
    public KernelSchedule Schedule { get; } = schedule ?? KernelSchedule.Host;

    ICompiledGraph IGraphBackend.Compile(Graph graph, bool gradEnabled) => Compile(graph, gradEnabled);

    public KernelCompiledGraph Compile(Graph graph, bool gradEnabled = false)
    {
        var phases = new List<CompilePhase>();
        var watch = Stopwatch.StartNew();
        var context = new PassContext { Constants = new TorchConstantEvaluator(torch), Decompose = op => Decomposed.Contains(op.Name) };
        var optimized = OptimizerPipeline.Run(graph, context);
        phases.Add(new CompilePhase("optimize", watch.Elapsed));
        KernelCompiledGraph Eagerly(string why) => new()
        {
            Backend = this, Captured = graph, Optimized = optimized, Kernels = new Dictionary<int, Kernel>(),
            Entries = new Dictionary<int, KernelEntry>(), Source = "", Phases = phases, Eager = why,
        };
        if (graph.Nodes.Any(n => n is Cond or WhileLoop))
            return Eagerly("the graph keeps control flow (cond, while_loop): it runs through torch, subgraphs included, until they are compiled too");
        if (graph.Nodes.OfType<CallOp>().Any(c => c.Op.IsInPlace || c.Op.Category is OpCategory.GlobalState or OpCategory.Opaque)
            || graph.Nodes.Any(n => n is CallModule))
            return Eagerly("the graph writes, switches grad mode or calls opaque code: it runs in order through torch");
        if (gradEnabled && graph.Nodes.Any(n => n.Meta is TensorMeta { RequiresGrad: true }))
            return Eagerly("its results need autograd (inputs require grad, grad mode on): it runs through torch until compiled backward graphs exist");

        watch.Restart();
        var kernels = new Dictionary<int, Kernel>();
        foreach (var group in optimized.Fusion.Groups)
            if (KernelLowering.Lower(optimized.Graph, group, $"g{group.Id}") is { } kernel) kernels[group.Id] = kernel;
        var generated = kernels.Count == 0 ? null : Compiler.Generate(kernels.Values.ToList(), Schedule);
        var source = generated?.Source ?? "";
        var gemms = GemmsOf(optimized);
        phases.Add(new CompilePhase("codegen", watch.Elapsed, $"{kernels.Count} kernel{(kernels.Count == 1 ? "" : "s")}, {source.Length} chars of {Compiler.Language}"
            + (gemms.Count > 0 ? $"; {gemms.Count} matrix product{(gemms.Count == 1 ? "" : "s")} through BLAS" : "")));
        var entries = new Dictionary<int, KernelEntry>();
        if (generated is not null)
        {
            watch.Restart();
            var compiled = generated.Compile(Cache, CaptureRuntime.Version);
            foreach (var kernel in kernels.Values) entries[kernel.Group] = compiled.Entries[kernel.Name];
            phases.Add(new CompilePhase(Compiler.Name, watch.Elapsed, compiled.FromCache ? "loaded from the kernel cache" : null));
        }
        return new KernelCompiledGraph
        {
            Backend = this, Captured = graph, Optimized = optimized, Kernels = kernels, Entries = entries, Source = source, Phases = phases,
            Gemms = gemms,
        };
    }

    /// <summary>The extern groups whose product BLAS computes (mm, bmm, matmul of float matrices), when a BLAS is loaded.</summary>
    private static Dictionary<int, GemmCall> GemmsOf(OptimizedGraph optimized)
    {
        var gemms = new Dictionary<int, GemmCall>();
        if (!OpenBlas.IsAvailable) return gemms;
        foreach (var group in optimized.Fusion.Groups.Where(g => g.Kind == FusionKind.Extern))
            if (GemmCall.Of(optimized.Graph, KernelLowering.ExternNode(optimized.Graph, group)) is { } gemm) gemms[group.Id] = gemm;
        return gemms;
    }

    /// <summary>
    /// Runs a compiled graph on Python values (GIL held) and returns its output. <paramref name="checkedMetas"/>:
    /// the inputs' metadata as the caller's guards just checked it (null entries, or none: read from the tensors).
    /// </summary>
    public PyObject Run(KernelCompiledGraph compiled, IReadOnlyList<PyObject> inputs, PyObject? root = null, IReadOnlyList<TensorMeta?>? checkedMetas = null)
    {
        if (compiled.Eager is not null) return _eager.Run(compiled.Captured, inputs, root);
        var graph = compiled.Optimized.Graph;
        var placeholders = compiled.Placeholders;
        if (placeholders.Count != inputs.Count)
            throw new ArgumentException($"the graph takes {placeholders.Count} inputs, {inputs.Count} given");
        // the inputs are the caller's handles, borrowed: env owns only the values computed here
        var env = new Dictionary<string, PyObject>();
        TensorMeta? checkedMeta(string name)
        {
            if (checkedMetas is null) return null;
            for (var i = 0; i < placeholders.Count; i++)
                if (placeholders[i] == name) return checkedMetas[i];
            return null;
        }
        try
        {
            for (var i = 0; i < inputs.Count; i++) env[placeholders[i]] = inputs[i];
            foreach (var group in compiled.Optimized.Fusion.Groups)
            {
                foreach (var input in group.Inputs) Ensure(input, graph, env, root);
                compiled.Gemms.TryGetValue(group.Id, out var gemm);
                if (compiled.Entries.ContainsKey(group.Id))
                {
                    if (group.Kind == FusionKind.Extern) ExecuteExtern(graph[KernelLowering.ExternNode(graph, group)], gemm, env, root);
                    if (compiled.Launch(group.Id).Run(torch, env, checkedMeta)) continue;
                }
                foreach (var node in group.Nodes.Where(n => !env.ContainsKey(n))) ExecuteExtern(graph[node], gemm, env, root);
            }
            foreach (var name in graph.Output.Inputs) Ensure(name, graph, env, root);
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

    /// <summary>Computes a value no kernel makes (a view, a constant) when first needed.</summary>
    private void Ensure(string name, Graph graph, Dictionary<string, PyObject> env, PyObject? root)
    {
        if (env.ContainsKey(name)) return;
        var node = graph[name];
        foreach (var input in node.Inputs) Ensure(input, graph, env, root);
        Execute(node, env, root);
    }

    /// <summary>Runs a node, through BLAS when it is the group's planned product and its operands' layouts allow.</summary>
    private void ExecuteExtern(Node node, GemmCall? gemm, Dictionary<string, PyObject> env, PyObject? root)
    {
        KernelThreads.Park(); // BLAS's and torch's threads get both cores
        if (gemm is not null && gemm.Node == node.Name && BlasGemm.TryRun(torch, gemm, env)) return;
        Execute(node, env, root);
    }

    private void Execute(Node node, Dictionary<string, PyObject> env, PyObject? root)
    {
        try { env[node.Name] = _eager.Execute(node, env, root, checkMetadata: false); }
        catch (Exception e) when (e is PythonException or NotSupportedException) { throw new GraphExecutionException(node, e); }
    }
}
