namespace Capture.Frontend;

/// <summary>
/// Tensor methods outside the op registry that enter graphs as opaque calls of
/// <c>torch.Tensor.NAME</c> (square, cumsum, topk, movedim, ...): torch's fake tensors give the
/// result's metadata, backends call torch. Both capture paths ask here. Refused: in-place methods
/// (NAME_: a write the graph must see), methods that read values or reach outside the graph
/// (item, tolist, backward, hooks, storage), and names torch.Tensor does not have.
/// </summary>
public static class OpaqueMethods
{
    private static readonly HashSet<string> Refused =
    [
        "item", "tolist", "numpy", "backward", "register_hook", "retain_grad", "data_ptr", "storage", "untyped_storage",
        "storage_offset", "pin_memory", "cpu", "cuda", "record_stream",
        "get_device", "type", "new",
    ];

    /// <summary>The opaque op name for <paramref name="method"/>, or null with <paramref name="why"/> when it cannot be one.</summary>
    public static string? Name(string method, out string why)
    {
        why = "";
        if (method.StartsWith("__", StringComparison.Ordinal))
        {
            why = $"Tensor.{method} is outside Capture's op registry (use the operator or function it implements)";
            return null;
        }
        if (method.EndsWith('_'))
        {
            why = $"Tensor.{method} writes in place and is outside Capture's op registry (use its out-of-place form)";
            return null;
        }
        if (Refused.Contains(method))
        {
            why = $"Tensor.{method}() reads the tensor's values or reaches outside the graph";
            return null;
        }
        using var torch = Py.Import("torch");
        using var tensor = torch.GetAttr("Tensor");
        if (!tensor.HasAttr(method))
        {
            why = $"torch.Tensor has no method '{method}'";
            return null;
        }
        return "torch.Tensor." + method;
    }
}
