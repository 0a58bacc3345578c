using System.Diagnostics;
using Capture.Codegen;
using Capture.Codegen.Blas;
using Capture.Graph;
using Capture.Python;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;

using Graph = Capture.Graph.Graph;

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

    /// <summary>Why the graph runs through torch node by node, when it does.</summary>
    public string? Eager { get; init; }

    string? ICompiledGraph.Source => Source;

    public PyObject Run(IReadOnlyList<PyObject> inputs) => Backend.Run(this, inputs);
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

    /// <summary>Runs a compiled graph on Python values (GIL held) and returns its output.</summary>
    public PyObject Run(KernelCompiledGraph compiled, IReadOnlyList<PyObject> inputs, PyObject? root = null)
    {
        if (compiled.Eager is not null) return _eager.Run(compiled.Captured, inputs, root);
        var graph = compiled.Optimized.Graph;
        var placeholders = graph.Placeholders.ToList();
        if (placeholders.Count != inputs.Count)
            throw new ArgumentException($"the graph takes {placeholders.Count} inputs, {inputs.Count} given");
        var env = new Dictionary<string, PyObject>();
        try
        {
            for (var i = 0; i < inputs.Count; i++) env[placeholders[i].Name] = inputs[i].NewReference();
            foreach (var group in compiled.Optimized.Fusion.Groups)
            {
                foreach (var input in group.Inputs) Ensure(input, graph, env, root);
                compiled.Gemms.TryGetValue(group.Id, out var gemm);
                if (compiled.Entries.TryGetValue(group.Id, out var entry))
                {
                    var kernel = compiled.Kernels[group.Id];
                    if (group.Kind == FusionKind.Extern) ExecuteExtern(graph[KernelLowering.ExternNode(graph, group)], gemm, env, root);
                    if (RunKernel(kernel, entry, graph, env)) continue;
                }
                foreach (var node in group.Nodes.Where(n => !env.ContainsKey(n))) ExecuteExtern(graph[node], gemm, env, root);
            }
            foreach (var name in graph.Output.Inputs) Ensure(name, graph, env, root);
            return _calls.Value(graph.Output.Value, name => env[name].NewReference());
        }
        finally
        {
            foreach (var value in env.Values) value.Dispose();
        }
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
        if (gemm is not null && gemm.Node == node.Name && BlasGemm.TryRun(torch, gemm, env)) return;
        Execute(node, env, root);
    }

    private void Execute(Node node, Dictionary<string, PyObject> env, PyObject? root)
    {
        try { env[node.Name] = _eager.Execute(node, env, root, checkMetadata: false); }
        catch (Exception e) when (e is PythonException or NotSupportedException) { throw new GraphExecutionException(node, e); }
    }

    /// <summary>
    /// Runs a kernel on the values in <paramref name="env"/>, allocating its outputs; false (nothing
    /// written to env) when a reduction kernel's operand has strides its collapsed row cannot
    /// address: the group then runs through torch.
    /// </summary>
    private unsafe bool RunKernel(Kernel kernel, KernelEntry entry, Graph graph, Dictionary<string, PyObject> env)
    {
        var rank = kernel.Domain.Count;
        var outer = kernel.OuterRank;
        var perOperand = kernel.Reduced is null ? rank : outer + 1;
        var pointers = new nint[kernel.Operands.Count];
        var strides = new long[Math.Max(1, kernel.Operands.Count * perOperand)];
        var outputs = new List<(string Name, PyObject Tensor)>();
        try
        {
            for (var o = 0; o < kernel.Operands.Count; o++)
            {
                var operand = kernel.Operands[o];
                PyObject tensor;
                TensorMeta info;
                if (operand.IsOutput)
                {
                    // allocated here with the metadata the graph gives it: nothing to read back but its address
                    info = (TensorMeta)graph[operand.Value].Meta;
                    tensor = torch.EmptyStrided(info.Shape.Concrete(), info.Strides!, info.DType, info.Device);
                    outputs.Add((operand.Value, tensor));
                }
                else
                {
                    tensor = env[operand.Value];
                    info = torch.ReadMeta(tensor);
                }
                if (info.DType != operand.Type || info.Device != Device.Cpu)
                    throw new InvalidOperationException($"kernel {kernel.Name}: {operand.Value} is {info.DType.TorchName()} on {info.Device}, the kernel was built for {operand.Type.TorchName()} on cpu");
                // the shape the operand broadcasts to: the domain, or a row operand's reduced shape
                var target = operand.Row ? kernel.Reduced! : kernel.Domain;
                var sizes = info.Shape.Concrete();
                if (info.Rank > target.Count || sizes.Select((n, i) => (n, i)).Any(p => p.n != 1 && p.n != target[target.Count - info.Rank + p.i]))
                    throw new InvalidOperationException($"kernel {kernel.Name}: {operand.Value} has sizes [{string.Join(", ", sizes)}], which do not broadcast to [{string.Join(", ", target)}]");
                pointers[o] = torch.DataPtr(tensor);
                // strides broadcast to the target: aligned right, 0 where the operand has size 1 or no dim
                var broadcast = new long[target.Count];
                for (var d = 0; d < target.Count; d++)
                {
                    var own = d - (target.Count - info.Rank);
                    broadcast[d] = own < 0 || sizes[own] == 1 ? 0 : info.Strides![own];
                }
                if (kernel.Reduced is null) broadcast.CopyTo(strides, o * rank);
                else if (operand.Row)
                {
                    // the outer dims come first in a reduced shape, kept dims or not; no stride along the row
                    for (var d = 0; d < outer; d++) strides[o * perOperand + d] = broadcast[d];
                    strides[o * perOperand + outer] = 0;
                }
                else
                {
                    for (var d = 0; d < outer; d++) strides[o * perOperand + d] = broadcast[d];
                    if (CollapsedStride(broadcast, kernel.Domain, outer) is not { } along) return false;
                    strides[o * perOperand + outer] = along;
                }
            }
            fixed (nint* p = pointers)
            fixed (long* s = strides)
            {
                var (pp, ss) = ((nint)p, (nint)s);
                using (Interpreter.ReleaseGil()) entry((nint*)pp, (long*)ss);
            }
            foreach (var (name, tensor) in outputs) env[name] = tensor;
            outputs.Clear();
            return true;
        }
        finally
        {
            foreach (var (_, tensor) in outputs) tensor.Dispose();
        }
    }

    /// <summary>
    /// One stride walking dims <paramref name="from"/>.. of <paramref name="domain"/> in row-major
    /// order, when the operand's strides there allow it (each dim's stride is the next one's times its
    /// size, size-1 dims skipped); null when they do not.
    /// </summary>
    private static long? CollapsedStride(long[] strides, IReadOnlyList<long> domain, int from)
    {
        long? inner = null;
        long expected = 0;
        for (var d = domain.Count - 1; d >= from; d--)
        {
            if (domain[d] == 1) continue;
            if (inner is null) (inner, expected) = (strides[d], strides[d] * domain[d]);
            else if (strides[d] != expected) return null;
            else expected = strides[d] * domain[d];
        }
        return inner ?? 0;
    }
}
