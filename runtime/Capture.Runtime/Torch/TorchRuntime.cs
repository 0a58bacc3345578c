namespace Capture.Runtime.Torch;

/// <summary>
/// The imported torch module with its dtype objects, for reading tensors' metadata and allocating
/// output tensors. Made once per interpreter (<see cref="Import"/>); every member requires the GIL.
/// </summary>
public sealed class TorchRuntime : IDisposable
{
    private readonly PyObject _torch;
    private readonly PyObject _tensorType;
    private readonly PyObject _empty;
    private readonly PyObject _emptyStrided;
    private readonly Dictionary<DType, PyObject> _dtypeObjects;
    private readonly PyObject[] _dtypeList; // in DTypeInfo.All's order

    private TorchRuntime(PyObject torch)
    {
        _torch = torch;
        _tensorType = torch.GetAttr("Tensor");
        _empty = torch.GetAttr("empty");
        _emptyStrided = torch.GetAttr("empty_strided");
        _dtypeObjects = DTypeInfo.All.ToDictionary(d => d, d => torch.GetAttr(d.TorchName()));
        _dtypeList = DTypeInfo.All.Select(d => _dtypeObjects[d]).ToArray();
        using var version = torch.GetAttr("__version__");
        Version = version.AsString();
        using var c = torch.GetAttr("_C");
        using var mkldnn = c.GetAttr("has_mkldnn");
        HasOneDnn = mkldnn.IsTrue();
    }

    /// <summary>Imports torch; a missing torch names the Debian package to install.</summary>
    public static TorchRuntime Import()
    {
        try
        {
            return new TorchRuntime(Py.Import("torch"));
        }
        catch (PythonException e) when (e.PythonType == "ModuleNotFoundError")
        {
            throw new InvalidOperationException("torch is not importable by Debian's python3.11: apt-get install -y python3-torch", e);
        }
    }

    public string Version { get; }

    /// <summary>torch is built with oneDNN (torch.backends.mkldnn.is_available()): torch.mkldnn_convolution exists.</summary>
    public bool HasOneDnn { get; }

    public bool IsTensor(PyObject value) => value.IsInstance(_tensorType);

    /// <summary>A torch.Tensor or nn.Parameter, not a subclass that may override torch functions.</summary>
    public bool IsPlainTensor(PyObject value)
    {
        if (value.TypeIs(_tensorType)) return true;
        _parameterType ??= Py.Eval("__import__('torch').nn.Parameter");
        return value.TypeIs(_parameterType);
    }

    private PyObject? _parameterType;

    public DType DTypeOf(PyObject torchDtype)
    {
        foreach (var (dtype, obj) in _dtypeObjects)
            if (obj.Is(torchDtype)) return dtype;
        throw new NotSupportedException($"dtype {torchDtype} is not supported by Capture (supported: {string.Join(", ", DTypeInfo.All.Select(d => "torch." + d.TorchName()))})");
    }

    /// <summary>A new handle to torch's dtype object for <paramref name="dtype"/>.</summary>
    public PyObject DTypeObject(DType dtype) => _dtypeObjects[dtype].NewReference();

    public TensorInfo Read(PyObject tensor)
    {
        var meta = ReadMeta(tensor);
        return new TensorInfo(meta.DType, meta.Device, meta.Shape.Concrete(), meta.Strides!, tensor.CallMethodInt64("storage_offset"), DataPtr(tensor), meta.RequiresGrad);
    }

    /// <summary>A tensor's dtype, device, sizes, strides and requires_grad (what guards and kernels check), in five reads.</summary>
    public TensorMeta ReadMeta(PyObject tensor)
    {
        if (!IsTensor(tensor)) throw new InvalidCastException($"expected a torch.Tensor, got {tensor.TypeName}");
        var dtype = tensor.GetAttrIdentity("dtype", _dtypeList);
        if (dtype < 0)
        {
            using var other = tensor.GetAttr("dtype");
            DTypeOf(other); // raises: not a dtype Capture supports
        }
        var sizes = tensor.CallMethodInt64s("size");
        var strides = tensor.CallMethodInt64s("stride");
        return new TensorMeta(new Shape(sizes), DTypeInfo.All[dtype], DeviceOf(tensor), strides.ToEquatableList(), tensor.GetAttrBool("requires_grad"));
    }

    /// <summary>torch's data_ptr(): the address of the tensor's first element.</summary>
    public nint DataPtr(PyObject tensor) => (nint)tensor.CallMethodInt64("data_ptr");

    /// <summary>The address of a tensor's storage (where its memory starts, whatever its offset): equal for tensors that share memory.</summary>
    public nint StoragePtr(PyObject tensor)
    {
        using var storage = tensor.CallMethod("storage");
        return (nint)storage.CallMethodInt64("data_ptr");
    }

    private static Device DeviceOf(PyObject tensor)
    {
        if (tensor.GetAttrBool("is_cpu")) return Graphs.Device.Cpu;
        using var device = tensor.GetAttr("device");
        using var type = device.GetAttr("type");
        using var index = device.GetAttr("index");
        return new Device(type.AsString(), index.IsNone ? null : (int)index.ToInt64());
    }

    /// <summary>A new uninitialized contiguous tensor.</summary>
    public PyObject Empty(IReadOnlyList<long> sizes, DType dtype, Device? device = null) =>
        Allocate(_empty, [sizes], dtype, device);

    /// <summary>A new uninitialized tensor with the given strides.</summary>
    public PyObject EmptyStrided(IReadOnlyList<long> sizes, IReadOnlyList<long> strides, DType dtype, Device? device = null)
    {
        // compiled graphs allocate the same outputs on every call: the arguments are built once
        var key = (sizes.ToEquatableList(), strides.ToEquatableList(), dtype, device ?? Graphs.Device.Cpu);
        if (!_emptyStridedArgs.TryGetValue(key, out var prepared))
        {
            if (_emptyStridedArgs.Count >= 4096) ClearPrepared();
            using var sizesTuple = Py.IntTuple(sizes);
            using var stridesTuple = Py.IntTuple(strides);
            using var dtypeObject = DTypeObject(dtype);
            using var deviceObject = Py.Str(key.Item4.ToString());
            prepared = (Py.Tuple([sizesTuple, stridesTuple]), Py.Dict([new("dtype", dtypeObject), new("device", deviceObject)]));
            _emptyStridedArgs[key] = prepared;
        }
        return _emptyStrided.CallPrepared(prepared.Args, prepared.Kwargs);
    }

    private readonly Dictionary<(EquatableList<long>, EquatableList<long>, DType, Device), (PyObject Args, PyObject Kwargs)> _emptyStridedArgs = [];

    private void ClearPrepared()
    {
        foreach (var (args, kwargs) in _emptyStridedArgs.Values)
        {
            args.Dispose();
            kwargs.Dispose();
        }
        _emptyStridedArgs.Clear();
    }

    /// <summary>A new CPU tensor holding a constant's elements.</summary>
    public unsafe PyObject FromData(TensorData data, TensorMeta meta)
    {
        if (meta.Device != Graphs.Device.Cpu) throw new NotSupportedException($"constants on {meta.Device} (Capture folds constants on the CPU)");
        var tensor = Empty(meta.Shape.Concrete("a constant"), data.DType);
        using var pointer = tensor.CallMethod("data_ptr");
        data.Bytes.CopyTo(new Span<byte>((void*)(nint)pointer.ToInt64(), data.Bytes.Length));
        if (meta.Strides is not { } strides || strides.Equals(meta.Shape.ContiguousStrides())) return tensor;
        // the elements are in contiguous order; the constant is laid out as its metadata says (a channels-last weight)
        using (tensor)
        {
            var laidOut = EmptyStrided(meta.Shape.Concrete(), strides, data.DType, meta.Device);
            laidOut.CallMethod("copy_", tensor).Dispose();
            return laidOut;
        }
    }

    /// <summary>A tensor's elements, in contiguous order (a copy).</summary>
    public unsafe TensorData DataOf(PyObject tensor)
    {
        using var contiguous = tensor.CallMethod("contiguous");
        var info = Read(contiguous);
        if (info.Device != Graphs.Device.Cpu) throw new NotSupportedException($"reading the elements of a tensor on {info.Device}");
        var bytes = new byte[info.NumElements * info.DType.ItemSize()];
        new ReadOnlySpan<byte>((void*)info.DataPtr, bytes.Length).CopyTo(bytes);
        return new TensorData(info.DType, bytes);
    }

    private PyObject Allocate(PyObject factory, IReadOnlyList<IReadOnlyList<long>> shapeArgs, DType dtype, Device? device)
    {
        var args = shapeArgs.Select(Py.IntTuple).ToArray();
        using var dtypeObject = DTypeObject(dtype);
        using var deviceObject = Py.Str((device ?? Graphs.Device.Cpu).ToString());
        try
        {
            return factory.Call(args, [new("dtype", dtypeObject), new("device", deviceObject)]);
        }
        finally
        {
            foreach (var a in args) a.Dispose();
        }
    }

    public void Dispose()
    {
        ClearPrepared();
        foreach (var obj in _dtypeObjects.Values) obj.Dispose();
        _emptyStrided.Dispose();
        _empty.Dispose();
        _tensorType.Dispose();
        _torch.Dispose();
    }
}
