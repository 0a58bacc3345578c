using Capture.Runtime.Torch;

namespace Capture.Runtime.Dispatch;

/// <summary>
/// The graph inputs of an inference capture (grad mode off) that may be frozen into the compiled graph
/// as constants: parameters and buffers of nn.Modules read as <c>module.name</c>, plain contiguous CPU
/// tensors never written through <c>.data</c> while frozen before. TorchScript's and Inductor's freezing
/// assume weights never change; here each frozen input keeps a guard (<see cref="FrozenTensorGuard"/>:
/// same tensor, same version counter and data, same requires_grad, <c>.data</c> untouched), so an
/// optimizer step, <c>load_state_dict</c>, a <c>.data</c> swap or <c>requires_grad_()</c> recompiles
/// instead of running stale weights.
/// </summary>
internal sealed class Freezing
{
    private readonly Dictionary<string, (TensorMatchGuard Guard, PyObject Tensor)> _candidates = [];
    private readonly PyObject _module;

    private Freezing(PyObject module) => _module = module;

    /// <summary>By placeholder, the elements each candidate would be frozen with.</summary>
    public Dictionary<string, TensorData> Data { get; } = [];

    /// <summary>The candidates of <paramref name="entry"/>, read from <paramref name="frame"/> (the frame it was captured from); null when none.</summary>
    public static Freezing? Of(CaptureResult entry, FrameState frame, TorchBridge bridge)
    {
        var placeholders = entry.Graph.Placeholders.ToList();
        if (placeholders.Count != entry.InputSources.Count) return null;
        var tensorGuards = entry.Guards.Guards.OfType<TensorMatchGuard>().ToDictionary(g => g.Source);
        Freezing? freezing = null;
        for (var i = 0; i < placeholders.Count; i++)
        {
            if (entry.InputSources[i] is not AttrSource { Base: var owner, Attr: var name } source) continue;
            if (!tensorGuards.TryGetValue(source, out var guard) || guard.Expected.Device != Device.Cpu) continue;
            if (!guard.Expected.Equals(TensorMeta.Contiguous(guard.Expected.Shape, guard.Expected.DType, guard.Expected.RequiresGrad, guard.Expected.Device))) continue;
            using var ownerValue = SourceValue.Of(owner, frame);
            using var value = SourceValue.Of(source, frame);
            if (!bridge.IsModule(ownerValue.Object) || !IsParameterOrBuffer(ownerValue.Object, name, value.Object) || !bridge.IsPlainTensor(value.Object)) continue;
            freezing ??= new Freezing(Py.Import("capture._frozen"));
            if (freezing.Escaped(value.Object)) continue;
            freezing._candidates[placeholders[i].Name] = (guard, value.Object.NewReference());
            freezing.Data[placeholders[i].Name] = bridge.Runtime.DataOf(value.Object);
        }
        if (freezing is not null) freezing._runningStatistics.UnionWith(RunningStatistics(entry.Graph));
        return freezing;
    }

    // inputs a batch_norm reads as running_mean / running_var (arguments 1 and 2, or by keyword)
    private readonly HashSet<string> _runningStatistics = [];

    private static IEnumerable<string> RunningStatistics(Graph graph) =>
        graph.Nodes.OfType<CallOp>().Where(c => c.Op == Ops.BatchNorm).SelectMany(c =>
            c.Args.Skip(1).Take(2).Concat(c.Kwargs.Where(k => k.Name is "running_mean" or "running_var").Select(k => k.Value))
                .OfType<RefArg>().Select(r => r.Name));

    /// <summary>Swaps the tensor guard of each input the compile froze for a frozen-tensor guard, and notes the tensors frozen.</summary>
    public void Apply(GuardSet guards, IReadOnlyList<string> frozen)
    {
        using var escaped = _module.GetAttr("escaped");
        using var freeze = _module.GetAttr("freeze");
        foreach (var name in frozen)
        {
            var (guard, tensor) = _candidates[name];
            freeze.Call(tensor).Dispose();
            guards.Replace(guard, new FrozenTensorGuard(guard.Source, tensor.NewReference(), tensor.GetAttrInt64("_version"),
                (nint)tensor.CallMethodInt64("data_ptr"), guard.Expected, escaped.NewReference(),
                _runningStatistics.Contains(name) ? Data[name].Bytes.ToArray() : null));
        }
    }

    private bool Escaped(PyObject tensor)
    {
        using var escaped = _module.GetAttr("escaped");
        using var key = Py.Int(tensor.Address);
        using var found = escaped.CallMethod("__contains__", key);
        return found.ToBoolean();
    }

    /// <summary>Whether <paramref name="value"/> is <paramref name="owner"/>'s parameter or buffer <paramref name="name"/> (not a plain attribute).</summary>
    private static bool IsParameterOrBuffer(PyObject owner, string name, PyObject value)
    {
        foreach (var registry in new[] { "_parameters", "_buffers" })
        {
            using var dict = owner.GetAttr(registry);
            if (dict.IsDict && dict.DictItemAddress(name) == value.Address) return true;
        }
        return false;
    }
}
