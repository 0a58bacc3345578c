using Capture.Codegen;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;


/// <summary>
/// One compiled kernel's calls. What does not change between calls is worked out once: each output
/// operand's sizes, strides and dtype (from the graph's metadata), each operand's target shape. Per
/// call it allocates the outputs, reads the inputs' addresses and strides, broadcasts the strides to
/// the domain (collapsing a reduction's row), and runs the kernel with the GIL released.
/// </summary>
internal sealed class KernelLaunch
{
    private readonly Kernel _kernel;
    private readonly KernelEntry _entry;
    private readonly TensorMeta?[] _outputMeta;
    private readonly long[]?[] _outputSizes;
    private readonly IReadOnlyList<long> _graphDomain;

    public KernelLaunch(Kernel kernel, KernelEntry entry, Graph graph)
    {
        _kernel = kernel;
        _entry = entry;
        _graphDomain = kernel.GraphDomain;
        _outputMeta = new TensorMeta?[kernel.Operands.Count];
        _outputSizes = new long[]?[kernel.Operands.Count];
        for (var o = 0; o < kernel.Operands.Count; o++)
        {
            if (!kernel.Operands[o].IsOutput) continue;
            var meta = (TensorMeta)graph[kernel.Operands[o].Value].Meta;
            _outputMeta[o] = meta;
            _outputSizes[o] = meta.Shape.IsConcrete ? [.. meta.Shape.Concrete()] : null; // dynamic: per call
        }
        if (kernel.SymbolicDomain is { } symbolic)
            _symbols = [.. symbolic.Concat(kernel.SymbolicReduced ?? EquatableList<Dim>.Empty).SelectMany(d => d.Expr?.Symbols ?? []).Concat(_outputMeta.OfType<TensorMeta>().SelectMany(m => m.Shape.Dims.Concat(m.StrideDims!)).SelectMany(d => d.Expr?.Symbols ?? [])).Distinct()];
    }

    /// <summary>The size symbols a kernel over dynamic sizes reads (its domain's, its outputs').</summary>
    private readonly string[]? _symbols;

    /// <summary>
    /// Runs the kernel on the values in <paramref name="env"/> and puts its outputs there; false
    /// (nothing written to env) when a reduction kernel's operand has strides its collapsed row
    /// cannot address: the group then runs through torch. <paramref name="known"/> gives the metadata
    /// (and address) of values known without reading them (the rest are read from their tensors); the
    /// kernel's outputs are added to it. <paramref name="bound"/>: the run's size-symbol values;
    /// <paramref name="kept"/>: memory kept across calls for outputs (the rest are allocated).
    /// </summary>
    public unsafe bool Run(TorchRuntime torch, Dictionary<string, PyObject> env, Dictionary<string, KnownTensor> known, IReadOnlyDictionary<string, long>? bound = null,
        IReadOnlyDictionary<string, KeptBuffer>? kept = null)
    {
        var kernel = _kernel;
        var count = kernel.Operands.Count;
        var rank = kernel.Domain.Count;
        var outer = kernel.OuterRank;
        var perOperand = kernel.Reduced is null ? rank : outer + 1;
        var pointers = new nint[count];
        // over dynamic sizes: this call's domain (kernel order) and work items follow the operands' strides
        var sizes = kernel.SymbolicDomain is null ? null : SizeSymbols.Values(bound, env, _symbols!, $"kernel {kernel.Name}");
        var strides = new long[Math.Max(1, count * perOperand + (sizes is null ? 0 : rank + KernelSchedule.RuntimeWorkItemCount))];
        var graphDomain = _graphDomain;
        IReadOnlyList<long>? reduced = kernel.Reduced;
        if (sizes is not null)
        {
            var domain = kernel.SymbolicDomain!.Select(d => d.Evaluate(sizes)).ToArray();
            for (var d = 0; d < rank; d++) strides[kernel.SizesAt + d] = domain[d];
            KernelSchedule.Host.RuntimeWorkItems(kernel, domain, strides.AsSpan(kernel.SizesAt + rank));
            var inGraphOrder = new long[rank];
            for (var d = 0; d < rank; d++) inGraphOrder[kernel.Permutation is { } perm ? perm[d] : d] = domain[d];
            graphDomain = inGraphOrder;
            if (kernel.SymbolicReduced is { } reducedShape) reduced = [.. reducedShape.Select(d => d.Evaluate(sizes))];
        }
        var broadcast = new long[rank];
        var outputs = new PyObject?[count];
        var outputMetas = new TensorMeta?[count]; // an output's metadata for this call's sizes, where the graph's is symbolic
        try
        {
            for (var o = 0; o < count; o++)
            {
                var operand = kernel.Operands[o];
                PyObject tensor;
                TensorMeta info;
                long[] operandSizes;
                nint address = 0;
                if (_outputMeta[o] is { } keptMeta && kept is not null && kept.TryGetValue(operand.Value, out var buffer))
                {
                    // memory kept across calls (RunnablePart.PlanKept): only kernels and BLAS read this value
                    info = keptMeta;
                    operandSizes = _outputSizes[o]!;
                    tensor = outputs[o] = buffer.Tensor.NewReference();
                    address = buffer.Address;
                }
                else if (_outputMeta[o] is { } output)
                {
                    // allocated here with the metadata the graph gives it (its sizes for this call's symbols):
                    // nothing to read back but its address
                    info = sizes is null || _outputSizes[o] is not null && output.Strides is not null ? output : Graphs.SizeValues.Substitute(output, sizes);
                    operandSizes = _outputSizes[o] ?? [.. info.Shape.Concrete()];
                    tensor = outputs[o] = torch.EmptyStrided(operandSizes, info.Strides!, info.DType, info.Device);
                    if (!ReferenceEquals(info, output)) outputMetas[o] = info;
                }
                else
                {
                    tensor = env[operand.Value];
                    if (known.TryGetValue(operand.Value, out var k))
                    {
                        info = k.Meta;
                        address = k.DataPtr;
                    }
                    else info = torch.ReadMeta(tensor);
                    operandSizes = [.. info.Shape.Concrete()];
                }
                if (info.DType != operand.Type || info.Device != Device.Cpu)
                    throw new InvalidOperationException($"kernel {kernel.Name}: {operand.Value} is {info.DType.TorchName()} on {info.Device}, the kernel was built for {operand.Type.TorchName()} on cpu");
                // the shape the operand broadcasts to: the domain (in the graph's dim order), or a row operand's reduced shape
                var target = operand.Row ? reduced! : graphDomain;
                if (!BroadcastsTo(operandSizes, target))
                    throw new InvalidOperationException($"kernel {kernel.Name}: {operand.Value} has sizes [{string.Join(", ", operandSizes)}], which do not broadcast to [{string.Join(", ", target)}]");
                pointers[o] = address != 0 ? address : torch.DataPtr(tensor);
                // strides broadcast to the target: aligned right, 0 where the operand has size 1 or no dim
                for (var d = 0; d < target.Count; d++)
                {
                    var own = d - (target.Count - operandSizes.Length);
                    broadcast[d] = own < 0 || operandSizes[own] == 1 ? 0 : info.Strides![own];
                }
                if (kernel.Permutation is { } perm)
                    for (var d = 0; d < rank; d++) strides[o * rank + d] = broadcast[perm[d]];
                else if (kernel.Reduced is null) Array.Copy(broadcast, 0, strides, o * rank, rank);
                else if (operand.Row)
                {
                    // the outer dims come first in a reduced shape, kept dims or not; no stride along the row
                    for (var d = 0; d < outer; d++) strides[o * perOperand + d] = broadcast[d];
                    strides[o * perOperand + outer] = 0;
                }
                else
                {
                    for (var d = 0; d < outer; d++) strides[o * perOperand + d] = broadcast[d];
                    if (CollapsedStride(broadcast, graphDomain, outer) is not { } along) return false;
                    strides[o * perOperand + outer] = along;
                }
            }
            fixed (nint* p = pointers)
            fixed (long* s = strides)
            {
                var (pp, ss) = ((nint)p, (nint)s);
                using (Interpreter.ReleaseGil()) _entry((nint*)pp, (long*)ss);
            }
            for (var o = 0; o < count; o++)
            {
                if (outputs[o] is not { } tensor) continue;
                env[kernel.Operands[o].Value] = tensor;
                known[kernel.Operands[o].Value] = new KnownTensor(outputMetas[o] ?? _outputMeta[o]!, pointers[o]);
                outputs[o] = null;
            }
            return true;
        }
        finally
        {
            foreach (var tensor in outputs) tensor?.Dispose();
        }
    }

    /// <summary>Whether sizes broadcast to target (aligned right, each size 1 or the target's).</summary>
    private static bool BroadcastsTo(long[] sizes, IReadOnlyList<long> target)
    {
        if (sizes.Length > target.Count) return false;
        for (var i = 0; i < sizes.Length; i++)
            if (sizes[i] != 1 && sizes[i] != target[target.Count - sizes.Length + i]) return false;
        return true;
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
