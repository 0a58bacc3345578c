using Capture.Bytecode;
using Capture.Graph;
using Capture.Python;
using Capture.Runtime.Backends;

namespace Capture.Runtime.Torch;

/// <summary>The runtime's side of <see cref="ITorchBridge"/>: torch interop and meta-device inference for capture.</summary>
public sealed class TorchBridge(TorchRuntime torch) : ITorchBridge, IDisposable
{
    private readonly MetaInference _meta = new(torch);
    private readonly PyObject _dtypeType = torch.DTypeObject(DType.Float32).Type;
    private readonly PyObject _isGradEnabled = Py.Import("torch").GetAttr("is_grad_enabled");
    private readonly PyObject _moduleType = Py.Eval("__import__('torch').nn.Module");

    public bool IsTensor(PyObject value) => torch.IsTensor(value);

    public TensorMeta ReadMeta(PyObject tensor)
    {
        var info = torch.Read(tensor);
        return new TensorMeta(new Shape(info.Sizes), info.DType, info.Device, info.Strides.ToEquatableList(), info.RequiresGrad);
    }

    public DType? AsDType(PyObject value)
    {
        if (!value.IsInstance(_dtypeType)) return null;
        try { return torch.DTypeOf(value); }
        catch (NotSupportedException) { return null; }
    }

    public PyObject DTypeObject(DType dtype) => torch.DTypeObject(dtype);

    public bool IsGradEnabled()
    {
        using var enabled = _isGradEnabled.Call();
        return enabled.ToBoolean();
    }

    public bool IsModule(PyObject value) => value.IsInstance(_moduleType);

    public ValueMeta InferOpaque(string opName, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Func<string, ValueMeta> metaOf) =>
        _meta.Infer(opName, args, kwargs, metaOf);

    public void Dispose()
    {
        _dtypeType.Dispose();
        _isGradEnabled.Dispose();
        _moduleType.Dispose();
    }
}
