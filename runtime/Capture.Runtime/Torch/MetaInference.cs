using Capture.Runtime.Torch;

namespace Capture.Runtime.Torch;

/// <summary>
/// Metadata for ops outside the registry: the call runs on torch's meta device (tensors with
/// sizes, strides and dtype but no data), and the result's metadata is read off. The graph then
/// holds the op as an opaque call, which backends run through torch.
/// </summary>
public sealed class MetaInference(TorchRuntime torch)
{
    private readonly PythonCalls _calls = new(torch);

    /// <summary>Runs <paramref name="opName"/> on meta tensors standing for the arguments (GIL held).</summary>
    public ValueMeta Infer(string opName, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Func<string, ValueMeta> metaOf)
    {
        var made = new List<PyObject>();
        PyObject Lookup(string name) => MetaValue(metaOf(name), made);
        var pyArgs = args.Select(a => _calls.Value(a, Lookup)).ToList();
        var pyKwargs = kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Name, _calls.Value(k.Value, Lookup))).ToList();
        var requiresGrad = made.Count > 0 && args.Concat(kwargs.Select(k => k.Value)).SelectMany(a => a.References())
            .Any(r => metaOf(r) is TensorMeta { RequiresGrad: true });
        try
        {
            using var result = _calls.Callable(opName).Call(pyArgs, pyKwargs);
            return Read(result, requiresGrad);
        }
        catch (PythonException e)
        {
            var first = e.Message.Split('\n', 2)[0].Trim();
            if (first.Contains("'Meta' backend", StringComparison.Ordinal))
                throw new NotSupportedException($"{opName} has no meta kernel in torch, so Capture cannot infer its result without running it (an op outside Capture's registry)");
            throw new ShapeError(opName, $"torch's meta device rejects this call: {first}");
        }
        finally
        {
            foreach (var o in pyArgs.Concat(pyKwargs.Select(k => k.Value)).Concat(made)) o.Dispose();
        }
    }

    private PyObject MetaValue(ValueMeta meta, List<PyObject> made)
    {
        switch (meta)
        {
            case TensorMeta t:
                var tensor = torch.EmptyStrided(t.Shape.Concrete("meta-device inference"), t.Strides!, t.DType, new Device("meta"));
                made.Add(tensor.NewReference());
                return tensor;
            case TupleMeta tuple:
                var items = tuple.Items.Select(i => MetaValue(i, made)).ToList();
                try { return Py.Tuple(items); }
                finally { foreach (var i in items) i.Dispose(); }
            default:
                throw new NotSupportedException($"meta-device inference needs tensor arguments, not {MetaText.Format(meta)}");
        }
    }

    private ValueMeta Read(PyObject result, bool requiresGrad)
    {
        if (torch.IsTensor(result))
        {
            var info = torch.Read(result);
            // The meta device stood in for the CPU: the real call produces a CPU tensor.
            return new TensorMeta(new Shape(info.Sizes), info.DType, Device.Cpu, info.Strides.ToEquatableList(), requiresGrad && info.DType.IsFloatingPoint());
        }
        if (result.IsTuple || result.IsList)
        {
            var items = result.ToItems();
            try { return new TupleMeta(items.Select(i => Read(i, requiresGrad)).ToEquatableList()); }
            finally { foreach (var i in items) i.Dispose(); }
        }
        if (result.IsBool) return new ScalarMeta(ScalarKind.Bool);
        if (result.IsInt) return new ScalarMeta(ScalarKind.Int);
        if (result.IsFloat) return new ScalarMeta(ScalarKind.Float);
        if (result.IsNone) return NoneMeta.Instance;
        throw new NotSupportedException($"an opaque op returning {result.TypeName} cannot enter a graph");
    }
}
