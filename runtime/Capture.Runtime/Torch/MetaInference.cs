using Capture.Runtime.Torch;

namespace Capture.Runtime.Torch;

/// <summary>
/// Metadata for ops outside the registry: the call runs under torch's FakeTensorMode (tensors with
/// sizes, strides and dtype but no data; torch's meta kernels, decompositions, or its real kernel on
/// zeros where it has neither: capture/_fake.py), and the result's metadata is read off. The graph then
/// holds the op as an opaque call, which backends run through torch. A call that writes into an
/// argument is refused; one whose result shares memory with an argument is marked so
/// (<see cref="OpaqueResult.Aliases"/>), and passes treat it as a view.
/// </summary>
public sealed class MetaInference(TorchRuntime torch)
{
    private readonly PythonCalls _calls = new(torch);
    private PyObject? _helper;

    private PyObject Helper => _helper ??= Py.Import("capture._fake");

    /// <summary>Runs <paramref name="opName"/> on fake tensors standing for the arguments (GIL held).</summary>
    public OpaqueResult Infer(string opName, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Func<string, ValueMeta> metaOf)
    {
        var made = new List<PyObject>();
        PyObject Lookup(string name) => FakeValue(metaOf(name), made);
        var pyArgs = args.Select(a => _calls.Value(a, Lookup)).ToList();
        var pyKwargs = kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Name, _calls.Value(k.Value, Lookup))).ToList();
        var requiresGrad = made.Count > 0 && args.Concat(kwargs.Select(k => k.Value)).SelectMany(a => a.References())
            .Any(r => metaOf(r) is TensorMeta { RequiresGrad: true });
        try
        {
            using var positional = Py.Tuple(pyArgs);
            using var keywords = Py.Dict(pyKwargs);
            using var fakes = Py.List(made);
            using var infer = Helper.GetAttr("infer");
            using var answer = infer.Call(_calls.Callable(opName), positional, keywords, fakes);
            using var result = answer.GetItem(0);
            using var wrote = answer.GetItem(1);
            using var aliased = answer.GetItem(2);
            using var random = answer.GetItem(3);
            if (wrote.IsTrue())
                throw new NotSupportedException($"{opName} writes into its argument in place, and it is outside Capture's op registry (use its out-of-place form)");
            return new OpaqueResult(Read(opName, result, requiresGrad), aliased.IsTrue(), NamedTupleType(result), random.IsTrue());
        }
        catch (PythonException e)
        {
            var first = e.PythonMessage.Split('\n', 2)[0].Trim();
            if (e.PythonType.EndsWith("DataDependent", StringComparison.Ordinal))
                throw new NotSupportedException($"{opName}: {first}");
            if (e.PythonType is "RuntimeError" or "ValueError" or "IndexError" or "TypeError" && !first.Contains("not implemented", StringComparison.OrdinalIgnoreCase))
                throw new ShapeError(opName, $"torch rejects this call: {first}");
            throw new NotSupportedException($"{opName} cannot run on fake tensors, so Capture cannot infer its result without running it ({e.PythonType}: {first})");
        }
        finally
        {
            foreach (var o in pyArgs.Concat(pyKwargs.Select(k => k.Value)).Concat(made)) o.Dispose();
        }
    }

    private PyObject FakeValue(ValueMeta meta, List<PyObject> made)
    {
        switch (meta)
        {
            case TensorMeta t:
                if (t.Device != Device.Cpu) throw new NotSupportedException($"an op outside the registry on a {t.Device} tensor");
                using (var sizes = Py.IntTuple(t.Shape.Concrete("fake-tensor inference")))
                using (var strides = Py.IntTuple(t.Strides!))
                using (var dtype = torch.DTypeObject(t.DType))
                using (var make = Helper.GetAttr("tensor"))
                {
                    var tensor = make.Call(sizes, strides, dtype);
                    made.Add(tensor.NewReference());
                    return tensor;
                }
            case TupleMeta tuple:
                var items = tuple.Items.Select(i => FakeValue(i, made)).ToList();
                try { return Py.Tuple(items); }
                finally { foreach (var i in items) i.Dispose(); }
            default:
                throw new NotSupportedException($"fake-tensor inference needs tensor arguments, not {MetaText.Format(meta)}");
        }
    }

    /// <summary>"torch.return_types.NAME" for torch's named tuple results (topk, median, sort...), else null.</summary>
    private static string? NamedTupleType(PyObject result)
    {
        if (!result.IsTuple) return null;
        using var type = result.Type;
        using var module = type.GetAttr("__module__");
        using var name = type.GetAttr("__name__");
        return module.IsStr && module.AsString() == "torch.return_types" && name.IsStr ? "torch.return_types." + name.AsString() : null;
    }

    private ValueMeta Read(string opName, PyObject result, bool requiresGrad)
    {
        if (torch.IsTensor(result))
        {
            var meta = torch.ReadMeta(result);
            if (meta.Device != Device.Cpu) throw new NotSupportedException($"{opName} returns a tensor on {meta.Device}: graphs hold CPU tensors");
            return meta with { RequiresGrad = requiresGrad && meta.DType.IsFloatingPoint() };
        }
        if (result.IsTuple || result.IsList)
        {
            var items = result.ToItems();
            try { return new TupleMeta(items.Select(i => Read(opName, i, requiresGrad)).ToEquatableList()); }
            finally { foreach (var i in items) i.Dispose(); }
        }
        if (result.IsBool) return new ScalarMeta(ScalarKind.Bool);
        if (result.IsInt) return new ScalarMeta(ScalarKind.Int);
        if (result.IsFloat) return new ScalarMeta(ScalarKind.Float);
        if (result.IsNone) return NoneMeta.Instance;
        throw new NotSupportedException($"an opaque op returning {result.TypeName} cannot enter a graph");
    }
}
