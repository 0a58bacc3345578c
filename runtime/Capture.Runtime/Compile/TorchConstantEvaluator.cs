using Capture.Runtime.Compile;
using Capture.Runtime.Backends;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Compile;


/// <summary>
/// Constant folding's evaluator: runs a constant subgraph through the graph interpreter (torch itself,
/// so a folded value is exactly eager's) and copies out each tensor's elements. get_attr nodes read
/// the <paramref name="root"/> module's parameters and buffers when folding frozen weights.
/// </summary>
public sealed class TorchConstantEvaluator(TorchRuntime torch, PyObject? root = null) : IConstantEvaluator
{
    private GraphInterpreter? _backend; // made under the GIL: it holds Python objects

    public IReadOnlyList<TensorData> Evaluate(Graph graph)
    {
        using var gil = Interpreter.Gil();
        using var noGrad = Py.Import("torch").CallMethod("no_grad");
        noGrad.CallMethod("__enter__").Dispose();
        try
        {
            _backend ??= new GraphInterpreter(torch);
            using var result = _backend.Run(graph, [], root);
            return result.ToItems().Select(item => { using (item) return torch.DataOf(item); }).ToList();
        }
        finally
        {
            using var none = Py.None;
            noGrad.CallMethod("__exit__", none, none, none).Dispose();
        }
    }
}
