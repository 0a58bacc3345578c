using Capture.Graphs;
using Capture.Python;

namespace Capture.Frontend;

/// <summary>What the AST path needs from torch, provided by the runtime layer (which owns torch interop).</summary>
public interface IFrontendTorch
{
    bool IsTensor(PyObject value);

    /// <summary>A torch.Tensor or nn.Parameter, not a subclass that may override torch functions.</summary>
    bool IsPlainTensor(PyObject value);

    TensorMeta ReadMeta(PyObject tensor);

    /// <summary>The DType a torch.dtype object stands for, or null for other objects.</summary>
    DType? AsDType(PyObject value);

    bool IsModule(PyObject value);

    bool IsGradEnabled();

    /// <summary>Runs an op outside the registry on torch's meta device and reads its result's metadata.</summary>
    ValueMeta InferOpaque(string opName, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs, Func<string, ValueMeta> metaOf);
}
