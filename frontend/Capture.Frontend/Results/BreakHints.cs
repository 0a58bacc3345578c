namespace Capture.Frontend;

/// <summary>
/// What a user can change so that a graph break goes away: one line per kind of break, matched on
/// the reason's words, shown under each break in explain and reports. The reason says what broke and
/// where; the hint says how to avoid it (in the user's code, or with which Capture option).
/// </summary>
public static class BreakHints
{
    private static readonly (string[] Patterns, string Hint)[] Table =
    [
        (["Tensor.backward()", "requires_grad_"],
            "run backward() and optimizer steps after the compiled forward returns: Capture compiles the backward itself (AOT autograd)."),
        (["numpy"],
            "numpy arrays are not graph values: use the matching torch op on the tensor."),
        (["has effects outside the graph"],
            "print, input and open run in Python between two graphs: move them out of the compiled function (return the values and print them after the call)."),
        (["is not traced"],
            "call it outside the compiled function, or wrap the code that uses it in a helper marked @capture.disable so the split is explicit."),
        (["data-dependent branch", "data-dependent `and`/`or`", "`not` on a tensor"],
            "a Python if/while on a tensor's value needs the value: use torch.where for an element-wise choice, or mode=\"ast\", which keeps the branch in the graph as a cond."),
        (["needs the tensor's values", "needs their values", ".item()", ".tolist()"],
            "keep the value a tensor inside the compiled function (x.sum() rather than x.sum().item()) and read it after the call returns."),
        (["depends on tensor values", "differ for different tensor values"],
            "the result's size depends on the values (nonzero, unique, boolean masks): the graph ends there; a fixed-size form (torch.where, masked_fill, topk) keeps it whole."),
        (["dtype torch.complex"],
            "complex tensors run outside graphs: keep complex math (torch.fft, torch.polar) outside the compiled function, or work on torch.view_as_real's real pairs."),
        (["writes into its argument in place", "writes in place and is outside"],
            "use the out-of-place form (y = x.op(...) instead of x.op_(...)): in-place ops outside the op registry are not captured."),
        (["nn.Module with hooks", "with forward hooks"],
            "a module with hooks is called as it is: remove the hooks while compiling, or compile the module inside the hooked one."),
        (["overrides nn.Module.__call__", "the forward set on"],
            "define forward on the class rather than overriding __call__ or assigning forward on the instance."),
        (["has side effects (it cannot run ahead"],
            "a generator whose body has side effects (appends, prints) cannot be run ahead of its consumer: build a list in a loop instead."),
        (["non-string key", "keys must be constants", "unhashable key", "set of values not known", "with values not known at capture time"],
            "dict keys and set items must be Python constants (str, int, tuples of them): key by a name or an index, not by a tensor."),
        (["was read before the buffer it came from was written"],
            "read the buffer after the batch_norm call that updates it (or .clone() it first): the old value is gone once the module wrote it."),
        (["each step of the loop runs in Python"],
            "a loop resumed after a break inside its body runs each iteration's step in Python: remove the break inside the loop (the one reported before this)."),
        (["is not captured yet", "is not supported"],
            "if the call only computes with tensors, capture.allow_in_graph(fn) makes it one node of the graph; otherwise move it out of the compiled function or mark it @capture.disable."),
        (["capture.disable"],
            "remove @capture.disable from the function if it can be captured."),
        (["inlining deeper than"],
            "deep recursion is not inlined: make the recursion a loop, or mark the recursive helper @capture.disable."),
        (["KeyError", "IndexError", "out of range", "raised", "StopIteration", "is not defined", "before it is assigned"],
            "Python raises here for these values: the graph ends and the error comes from the user's line, as in eager."),
        (["with block over a"],
            "with blocks are captured over torch.no_grad/enable_grad/set_grad_enabled and over plain classes with __enter__ and __exit__; call other context managers outside the compiled function."),
    ];

    private const string Default =
        "if the code it calls only computes with tensors, capture.allow_in_graph(fn) makes it one node of the graph; otherwise move it out of the compiled function.";

    /// <summary>The hint for a break with this reason.</summary>
    public static string For(string reason)
    {
        foreach (var (patterns, hint) in Table)
            if (patterns.Any(p => reason.Contains(p, StringComparison.Ordinal))) return hint;
        return Default;
    }
}
