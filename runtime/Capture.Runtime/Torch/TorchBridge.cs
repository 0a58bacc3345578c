using Capture.Runtime.Torch;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Torch;

/// <summary>The runtime's side of <see cref="ITorchBridge"/>: torch interop and meta-device inference for capture.</summary>
public sealed class TorchBridge : ITorchBridge, IDisposable
{
    private readonly TorchRuntime torch;
    private readonly MetaInference _meta;
    private readonly PyObject _dtypeType;
    private readonly PyObject _isGradEnabled;
    private readonly PyObject _moduleType;

    public TorchBridge(TorchRuntime torch)
    {
        this.torch = torch;
        _meta = new MetaInference(torch);
        using var float32 = torch.DTypeObject(DType.Float32);
        _dtypeType = float32.Type;
        using var module = Py.Import("torch");
        _isGradEnabled = module.GetAttr("is_grad_enabled");
        using var nn = module.GetAttr("nn");
        _moduleType = nn.GetAttr("Module");
    }

    public bool IsTensor(PyObject value) => torch.IsTensor(value);

    /// <summary>The torch interop the bridge is made of.</summary>
    public TorchRuntime Runtime => torch;

    public bool IsPlainTensor(PyObject value) => torch.IsPlainTensor(value);

    public TensorMeta ReadMeta(PyObject tensor) => torch.ReadMeta(tensor);

    public DType? AsDType(PyObject value)
    {
        if (!value.IsInstance(_dtypeType)) return null;
        try { return torch.DTypeOf(value); }
        catch (NotSupportedException) { return null; }
    }

    public PyObject DTypeObject(DType dtype) => torch.DTypeObject(dtype);

    public bool IsGradEnabled() => _isGradEnabled.CallBool();

    public void SetGradEnabled(bool enabled)
    {
        using var torch = Py.Import("torch");
        using var c = torch.GetAttr("_C");
        using var set = c.GetAttr("_set_grad_enabled");
        using var mode = Py.Bool(enabled);
        set.Call(mode).Dispose();
    }

    public bool IsModule(PyObject value) => value.IsInstance(_moduleType);

    public OpaqueResult InferOpaque(string opName, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Func<string, ValueMeta> metaOf) =>
        _meta.Infer(opName, args, kwargs, metaOf);

    public void Dispose()
    {
        _dtypeType.Dispose();
        _isGradEnabled.Dispose();
        _moduleType.Dispose();
    }
}
