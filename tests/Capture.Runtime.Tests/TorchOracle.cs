using Capture.Graphs;
using Capture.Python;

namespace Capture.Runtime.Tests;

/// <summary>What torch says an expression over given inputs produces: metadata, or an error.</summary>
public sealed record OracleResult(ValueMeta? Meta, string? Error, string Device);

/// <summary>
/// Evaluates an expression (the same text a graph prints, over inputs a0, a1, ...) in torch. It runs
/// on the CPU; when the CPU has no kernel for a dtype ("not implemented for 'Half'") it asks torch's
/// meta device, which applies the same shape and dtype rules without computing.
/// </summary>
public sealed class TorchOracle : IDisposable
{
    /// <summary>_make(shape, dtype, strides, device, seed): the inputs every oracle here builds.</summary>
    internal const string Make = """
        import operator, torch

        def _make(shape, dtype, strides, device, seed):
            g = torch.Generator().manual_seed(seed)
            if device == "meta":
                t = torch.empty(shape, dtype=dtype, device="meta")
            elif dtype.is_floating_point:
                t = torch.randn(shape, generator=g).to(dtype)
            elif dtype == torch.bool:
                t = torch.randint(0, 2, shape, generator=g).bool()
            else:  # small positive ints: valid indices, no division by zero
                t = torch.randint(1, 4, shape, generator=g).to(dtype)
            if strides is not None:
                out = torch.empty_strided(shape, strides, dtype=dtype, device=device)
                out.copy_(t)
                t = out
            return t
        """;

    private const string Source = Make + """

        _short = {torch.float32: "f32", torch.float64: "f64", torch.float16: "f16", torch.bfloat16: "bf16",
                  torch.int64: "i64", torch.int32: "i32", torch.bool: "b8"}

        def _describe(r):
            if isinstance(r, torch.Tensor):
                text = f"{_short.get(r.dtype, str(r.dtype))}[{', '.join(map(str, r.shape))}]{{{', '.join(map(str, r.stride()))}}}"
                return text + (" grad" if r.requires_grad else "")
            if isinstance(r, (tuple, list)):
                items = [_describe(x) for x in r]
                return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
            if isinstance(r, bool):
                return "bool"
            if isinstance(r, int):
                return "int"
            if isinstance(r, float):
                return "float"
            return "None" if r is None else type(r).__name__

        def oracle(expression, specs):
            last = None
            for device in ("cpu", "meta"):
                ns = {"torch": torch, "operator": operator}
                for i, (shape, dtype, strides) in enumerate(specs):
                    ns[f"a{i}"] = _make(shape, getattr(torch, dtype), strides, device, i)
                try:
                    return (_describe(eval(expression, ns)), None, device)
                except Exception as e:
                    if device == "cpu" and ("probability" in str(e) or "multinomial distribution" in str(e)):
                        # an error about the values, not the shapes (multinomial of randn): non-negative values say what shapes give
                        ns.update({k: v.abs() for k, v in ns.items() if isinstance(v, torch.Tensor) and v.is_floating_point()})
                        try:
                            return (_describe(eval(expression, ns)), None, device)
                        except Exception as retry:
                            e = retry
                    last = (None, f"{type(e).__name__}: {e}", device)
                    if device == "cpu" and "not implemented for" in str(e):
                        continue
                    return last
            return last
        """;

    private readonly PyObject _namespace;
    private readonly PyObject _oracle;

    public TorchOracle()
    {
        _namespace = Py.Exec(Source, filename: "torch_oracle.py");
        _oracle = _namespace.GetItem("oracle");
    }

    public OracleResult Evaluate(string expression, IReadOnlyList<TensorMeta> inputs)
    {
        var specs = inputs.Select(Spec).ToArray();
        using var list = Py.List(specs);
        foreach (var s in specs) s.Dispose();
        using var expr = Py.Str(expression);
        using var result = _oracle.Call(expr, list);
        using var meta = result.GetItem(0);
        using var error = result.GetItem(1);
        using var device = result.GetItem(2);
        return new OracleResult(meta.IsNone ? null : MetaText.Parse(meta.AsString()), error.IsNone ? null : error.AsString(), device.AsString());
    }

    internal static PyObject Spec(TensorMeta t)
    {
        using var shape = Py.IntTuple(t.Shape.Concrete());
        using var dtype = Py.Str(t.DType.TorchName());
        using var strides = t.Strides is { } s && !s.Equals(t.Shape.ContiguousStrides()) ? Py.IntTuple(s) : Py.None;
        return Py.Tuple(shape, dtype, strides);
    }

    public void Dispose()
    {
        _oracle.Dispose();
        _namespace.Dispose();
    }
}
