namespace Capture.Frontend;

/// <summary>
/// What capture needs from torch, provided by the runtime layer (which owns torch interop): tensor
/// metadata, dtype objects, global state, and metadata for ops outside the registry.
/// </summary>
public interface ITorchBridge
{
    bool IsTensor(PyObject value);

    /// <summary>A torch.Tensor or nn.Parameter (a subclass may override torch functions: it is not captured as a tensor).</summary>
    bool IsPlainTensor(PyObject value);

    /// <summary>The tensor's metadata as a graph input (sizes, dtype, device, strides, requires_grad).</summary>
    TensorMeta ReadMeta(PyObject tensor);

    /// <summary>The DType a torch.dtype object stands for, or null for other objects.</summary>
    DType? AsDType(PyObject value);

    PyObject DTypeObject(DType dtype);

    bool IsGradEnabled();

    bool IsModule(PyObject value);

    /// <summary>Runs an op outside the registry on torch's fake tensors and reads its result's metadata.</summary>
    OpaqueResult InferOpaque(string opName, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Func<string, ValueMeta> metaOf);
}
