using Capture.Graphs;

namespace Capture.Runtime.Tests;

/// <summary>One shape-rule case: a call over inputs a0, a1... (IR text, which is also Python).</summary>
public sealed record RuleCase(string Expression, IReadOnlyList<TensorMeta> Inputs, bool ExpectNotSupported = false)
{
    public override string ToString() =>
        $"{Expression} with {string.Join(", ", Inputs.Select((t, i) => $"a{i}: {MetaText.Format(t)}"))}";
}

/// <summary>Generated cases per op family: dtypes, broadcasting, keepdim, negative dims, 0-d and empty tensors.</summary>
public static class ShapeRuleCases
{
    private static readonly string[] AllDTypes = ["f32", "f64", "f16", "bf16", "i64", "i32", "b8"];
    private static readonly string[] MainDTypes = ["f32", "f64", "i64", "b8", "bf16"];

    private static RuleCase C(string expression, params string[] inputs) =>
        new(expression, inputs.Select(i => (TensorMeta)MetaText.Parse(i)).ToArray());

    private static RuleCase Unsupported(string expression, params string[] inputs) => C(expression, inputs) with { ExpectNotSupported = true };

    public static IReadOnlyList<string> Families { get; } =
        ["unary", "binary", "ternary", "reduction", "linalg", "normalization", "convolution", "view", "indexing", "creation", "conversion", "inplace", "embedding", "backward"];

    public static IEnumerable<RuleCase> Family(string name) => name switch
    {
        "unary" => Unary(),
        "binary" => Binary(),
        "ternary" => Ternary(),
        "reduction" => Reductions(),
        "linalg" => LinearAlgebra(),
        "normalization" => Normalization(),
        "convolution" => Convolution(),
        "view" => Views(),
        "indexing" => Indexing(),
        "creation" => Creation(),
        "conversion" => Conversion(),
        "inplace" => InPlace(),
        "embedding" => Embedding(),
        "backward" => Backward(),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static IEnumerable<RuleCase> Unary()
    {
        string[] shapes = ["[]", "[0]", "[5]", "[2, 3]", "[2, 0, 3]"];
        string[] ops = ["exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "erf", "reciprocal",
                        "neg", "abs", "floor", "ceil", "sign", "round", "relu", "logical_not"];
        foreach (var op in ops)
            foreach (var d in AllDTypes)
                foreach (var s in shapes.Take(op.Length % 2 == 0 ? 3 : 5))
                    yield return C($"torch.{op}(a0)", d + s);
        foreach (var d in AllDTypes)
        {
            yield return C("a0.exp()", d + "[3, 2]");
            yield return C("torch.nn.functional.relu(a0)", d + "[4]");
            yield return C("torch.nn.functional.gelu(a0)", d + "[2, 3]");
            yield return C("torch.nn.functional.gelu(a0, approximate='tanh')", d + "[2, 3]");
            yield return C("torch.nn.functional.silu(a0)", d + "[2, 3]");
            yield return C("torch.round(a0, decimals=2)", d + "[3]");
        }
        foreach (var d in new[] { "f32", "f64" })
        {
            yield return C("torch.multinomial(a0, 2)", d + "[5]");
            yield return C("torch.multinomial(a0, 7, True)", d + "[3, 4]");
            yield return C("a0.multinomial(1)", d + "[2, 6]");
        }
        yield return C("torch.multinomial(a0, 5)", "f32[3, 4]");
        yield return C("torch.multinomial(a0, 2)", "f32[2, 3, 4]");
        foreach (var d in AllDTypes)
        {
            yield return C("torch._C._nn.hardtanh(a0, -0.5, 0.75)", d + "[2, 3]");
            yield return C("torch._C._nn.hardtanh(a0)", d + "[3]");
            yield return C("torch._C._nn.relu6(a0)", d + "[2, 3]");
            yield return C("torch._C._nn.hardsigmoid(a0)", d + "[4]");
            yield return C("torch._C._nn.hardswish(a0)", d + "[2, 2]");
            yield return C("torch._C._nn.silu(a0)", d + "[3, 2]");
        }
        yield return C("torch._C._nn.hardtanh(a0, 0, 6)", "f32[3, 2]{1, 3}");
        yield return C("torch.nn.functional.gelu(a0, approximate='fast')", "f32[3]");
        yield return Unsupported("torch.nn.functional.relu(a0, inplace=True)", "f32[3]");
        // layouts: TensorIterator keeps a transposed or permuted input's order
        foreach (var s in new[] { "f32[3, 2]{1, 3}", "f32[2, 3, 4]{1, 2, 6}", "f32[2, 3, 4]{12, 1, 3}", "f32[4, 3]{6, 2}", "f32[2, 1, 3]{3, 7, 1}" })
        {
            yield return C("torch.relu(a0)", s);
            yield return C("torch.exp(a0)", s);
            yield return C("a0.logical_not()", s);
        }
    }

    private static readonly (string, string)[] BroadcastPairs =
        [("[2, 3]", "[2, 3]"), ("[2, 3]", "[3]"), ("[2, 1]", "[1, 3]"), ("[4, 1, 3]", "[2, 1]"), ("[]", "[2, 3]"),
         ("[2, 3]", "[4]"), ("[0, 3]", "[1, 3]"), ("[3]", "[]")];

    private static readonly (string, string)[] DTypePairs =
        [("f32", "f32"), ("f32", "f64"), ("i64", "f32"), ("i32", "i64"), ("b8", "b8"), ("b8", "i32"), ("f16", "f32"),
         ("bf16", "f16"), ("i64", "b8"), ("f16", "i64"), ("i32", "f64")];

    private static IEnumerable<RuleCase> Binary()
    {
        string[] ops = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or"];
        foreach (var op in ops)
        {
            foreach (var (da, db) in DTypePairs)
                yield return C($"torch.{op}(a0, a1)", da + "[2, 3]", db + "[3]");
            foreach (var (sa, sb) in BroadcastPairs)
                yield return C($"torch.{op}(a0, a1)", "f32" + sa, "f32" + sb);
            // zero-dim tensors rank below dimensioned ones within a category
            yield return C($"torch.{op}(a0, a1)", "i32[3]", "i64[]");
            yield return C($"torch.{op}(a0, a1)", "i32[3]", "f64[]");
            yield return C($"torch.{op}(a0, a1)", "f16[3]", "f64[]");
        }
        foreach (var op in new[] { "add", "sub", "mul", "div", "pow", "eq", "lt", "maximum", "minimum", "logical_and" })
            foreach (var d in AllDTypes)
                foreach (var scalar in new[] { "2", "2.5", "True", "-1" })
                    yield return C($"torch.{op}(a0, {scalar})", d + "[2, 2]");
        foreach (var d in MainDTypes)
        {
            yield return C("torch.add(a0, a1, alpha=2)", d + "[3]", d + "[3]");
            yield return C("torch.sub(a0, a1, alpha=0.5)", d + "[3]", d + "[3]");
            yield return C("a0.add(a1, alpha=True)", d + "[3]", d + "[3]");
            foreach (var mode in new[] { "'trunc'", "'floor'", "'nearest'" })
                yield return C($"torch.div(a0, a1, rounding_mode={mode})", d + "[3]", "i64[3]");
            yield return C("torch.pow(2, a0)", d + "[3]");
            yield return C("torch.pow(2.5, a0)", d + "[3]");
        }
        yield return C("a0.mul(a1)", "f32[2, 1]", "i64[3]");
        foreach (var (a, b) in new[] { ("f32[3, 4]{1, 3}", "f32[3, 4]"), ("f32[3, 4]", "f32[3, 4]{1, 3}"), ("f32[3, 4]{1, 3}", "f32[4]"), ("f32[2, 3, 4]{1, 2, 6}", "f32[3, 1]"),
                     ("f32[3, 4]{1, 3}", "f32[3, 4]{1, 3}"), ("f32[3, 4]{8, 2}", "f32[3, 4]{8, 2}"), ("f32[4, 3]{1, 4}", "f64[4, 3]{1, 4}"), ("f32[3, 1]{1, 1}", "f32[1, 4]{1, 1}") })
        {
            yield return C("torch.add(a0, a1)", a, b);
            yield return C("torch.gt(a0, a1)", a, b);
            yield return C("torch.mul(a0, 2)", a);
        }
        yield return C("torch.add(2, a0)", "f32[3]");
        yield return C("torch.sub(2.5, a0)", "i64[3]");
        yield return C("torch.maximum(2, a0)", "f32[3]");
        yield return C("torch.eq(2, a0)", "f32[3]");
        yield return C("torch.matmul(a0, 2.0)", "f32[3]");
        yield return C("torch.exp(1.5)");
        yield return C("torch.mul(a0, (1, 2))", "f32[2]");
    }

    private static IEnumerable<RuleCase> Ternary()
    {
        foreach (var (da, db) in DTypePairs)
        {
            yield return C("torch.where(a0, a1, a2)", "b8[2, 1]", da + "[3]", db + "[2, 3]");
            yield return C("torch.clamp(a0, a1, a2)", da + "[2, 3]", db + "[3]", da + "[]");
            yield return C("torch.masked_fill(a0, a1, 2.5)", da + "[2, 3]", "b8[3]");
        }
        foreach (var d in MainDTypes)
        {
            yield return C("torch.where(a0, a1, 0.0)", "b8[3]", d + "[3]");
            yield return C("torch.where(a0, 1, a1)", "b8[3]", d + "[2, 3]");
            yield return C("torch.where(a0, a1, a1)", d + "[3]", "f32[3]");
            yield return C("torch.clamp(a0, min=0.5)", d + "[4]");
            yield return C("torch.clamp(a0, max=2)", d + "[4]");
            yield return C("torch.clamp(a0)", d + "[4]");
            yield return C("a0.clamp(-1, 1)", d + "[4]");
            yield return C("a0.masked_fill(a1, 1)", d + "[2, 3]", "b8[2, 3]");
            yield return C("a0.masked_fill(a1, a2)", d + "[2, 3]", "b8[2, 3]", "f32[]");
            yield return C("a0.masked_fill(a1, a2)", d + "[2, 3]", "b8[2, 3]", "f32[1]");
            yield return C("a0.masked_fill(a1, 0)", d + "[3]", "b8[2, 3]");
            yield return C("a0.masked_fill(a1, 0)", d + "[2, 3]", "i64[2, 3]");
        }
    }

    private static IEnumerable<RuleCase> Reductions()
    {
        string[] shapes = ["[2, 3, 4]", "[0, 3]", "[]", "[5]"];
        string[] dimArgs = ["", ", 1", ", -1", ", (0, 2)", ", [0, -1]", ", (1, 1)", ", 3", ", []"];
        foreach (var op in new[] { "sum", "mean", "amax", "amin", "prod", "var", "std", "logsumexp", "any", "all", "argmax", "argmin", "max", "min" })
            foreach (var d in new[] { "f32", "i64", "b8", "f64", "i32" })
                foreach (var s in shapes)
                    foreach (var dim in dimArgs)
                    {
                        var single = op is "prod" or "any" or "all" or "argmax" or "argmin" or "max" or "min";
                        if (single && dim.Contains('[') || single && dim.Contains('(')) continue;
                        if (op == "logsumexp" && dim.Length == 0) continue;
                        yield return C($"torch.{op}(a0{dim})", d + s);
                        if (dim.Length > 0 && d == "f32") yield return C($"torch.{op}(a0{dim}, keepdim=True)", d + s);
                    }
        foreach (var d in new[] { "f32", "i64", "b8" })
        {
            yield return C("torch.sum(a0, dtype=torch.float64)", d + "[2, 3]");
            yield return C("torch.mean(a0, 1, dtype=torch.float64)", d + "[2, 3]");
            yield return C("a0.sum(dim=0, keepdim=True)", d + "[2, 3]");
            yield return C("torch.max(a0, a1)", d + "[2, 3]", "f32[3]");
            yield return C("torch.argmax(a0, keepdim=True)", d + "[2, 3]");
            yield return C("torch.var(a0, 1, unbiased=False)", d + "[2, 3]");
            yield return C("torch.std(a0, correction=0)", d + "[2, 3]");
            yield return C("torch.var(a0, 1, True, True)", d + "[2, 3]");
            yield return C("torch.var(a0, unbiased=True, correction=1)", d + "[2, 3]");
            foreach (var op in new[] { "softmax", "log_softmax" })
            {
                yield return C($"torch.{op}(a0, 1)", d + "[2, 3]");
                yield return C($"torch.{op}(a0, -1, dtype=torch.float64)", d + "[2, 3]");
                yield return C($"torch.nn.functional.{op}(a0, dim=0)", d + "[2, 3]");
                yield return C($"a0.{op}(2)", d + "[2, 3]");
                yield return Unsupported($"torch.nn.functional.{op}(a0)", d + "[2, 3]");
            }
        }
    }

    private static IEnumerable<RuleCase> LinearAlgebra()
    {
        (string, string)[] matmul =
        [
            ("[3]", "[3]"), ("[2, 3]", "[3]"), ("[3]", "[3, 4]"), ("[2, 3]", "[3, 4]"), ("[5, 2, 3]", "[3, 4]"),
            ("[2, 3]", "[5, 3, 4]"), ("[5, 1, 2, 3]", "[4, 3, 2]"), ("[3]", "[5, 3, 4]"), ("[5, 2, 3]", "[3]"),
            ("[3]", "[4]"), ("[2, 3]", "[4, 5]"), ("[]", "[3]"), ("[2, 5, 2, 3]", "[3, 3, 4]"), ("[0, 3]", "[3, 2]"),
        ];
        foreach (var (a, b) in matmul)
        {
            yield return C("torch.matmul(a0, a1)", "f32" + a, "f32" + b);
            yield return C("a0.matmul(a1)", "f64" + a, "f64" + b);
        }
        foreach (var (da, db) in new[] { ("f32", "f64"), ("i64", "i64"), ("b8", "b8"), ("f16", "f16"), ("bf16", "bf16"), ("i32", "i32") })
        {
            yield return C("torch.matmul(a0, a1)", da + "[2, 3]", db + "[3, 4]");
            yield return C("torch.mm(a0, a1)", da + "[2, 3]", db + "[3, 4]");
        }
        yield return C("torch.mm(a0, a1)", "f32[2, 3]", "f32[4, 5]");
        yield return C("torch.mm(a0, a1)", "f32[2, 3, 1]", "f32[3, 4]");
        yield return C("torch.bmm(a0, a1)", "f32[5, 2, 3]", "f32[5, 3, 4]");
        yield return C("torch.bmm(a0, a1)", "f32[5, 2, 3]", "f32[4, 3, 4]");
        yield return C("torch.bmm(a0, a1)", "f32[2, 3]", "f32[3, 4]");
        foreach (var bias in new[] { "[2, 4]", "[4]", "[1, 4]", "[]", "[3, 4]", "[2, 1]" })
        {
            yield return C("torch.addmm(a0, a1, a2)", "f32" + bias, "f32[2, 3]", "f32[3, 4]");
            yield return C("torch.addmm(a0, a1, a2, beta=0.5, alpha=2)", "f32" + bias, "f32[2, 3]", "f32[3, 4]");
            yield return C("torch.baddbmm(a0, a1, a2)", "f32" + bias, "f32[5, 2, 3]", "f32[5, 3, 4]");
        }
        (string, string, string?)[] linear =
        [
            ("[2, 3]", "[4, 3]", "[4]"), ("[3]", "[4, 3]", null), ("[5, 2, 3]", "[4, 3]", "[4]"), ("[2, 3]", "[3]", null),
            ("[2, 3]", "[4, 5]", null), ("[2, 3]", "[4, 3]", "[5]"), ("[2, 3]", "[4, 3]", "[]"), ("[0, 3]", "[4, 3]", "[4]"),
        ];
        foreach (var (x, w, b) in linear)
            yield return b is null
                ? C("torch.nn.functional.linear(a0, a1)", "f32" + x, "f32" + w)
                : C("torch.nn.functional.linear(a0, a1, a2)", "f32" + x, "f32" + w, "f32" + b);
        yield return C("torch.nn.functional.linear(a0, a1)", "f64[2, 3]", "f32[4, 3]");
    }

    private static IEnumerable<RuleCase> Normalization()
    {
        // nn.TransformerEncoderLayer's fused fast path (no meta kernel: the CPU is the oracle)
        foreach (var (gelu, normFirst) in new[] { ("False", "False"), ("True", "True") })
            yield return C($"torch._transformer_encoder_layer_fwd(a0, 16, 4, a1, a2, a3, a4, {gelu}, {normFirst}, 1e-05, a4, a4, a4, a4, a5, a6, a7, a4)",
                "f32[2, 5, 16]", "f32[48, 16]", "f32[48]", "f32[16, 16]", "f32[16]", "f32[32, 16]", "f32[32]", "f32[16, 32]");
        // nn.MultiheadAttention's fast path: (output, weights averaged, per head, or None)
        foreach (var (needWeights, average) in new[] { ("True", "True"), ("True", "False"), ("False", "True") })
            yield return C($"torch._native_multi_head_attention(a0, a0, a0, 8, 2, a1, a2, a3, a4, None, {needWeights}, {average})",
                "f32[2, 5, 8]", "f32[24, 8]", "f32[24]", "f32[8, 8]", "f32[8]");
        yield return C("torch._native_multi_head_attention(a0, a5, a5, 8, 2, a1, a2, a3, a4)",
            "f32[2, 5, 8]", "f32[24, 8]", "f32[24]", "f32[8, 8]", "f32[8]", "f32[2, 3, 8]");
        foreach (var d in new[] { "f32", "f64", "i64", "bf16" })
        {
            yield return C("torch.nn.functional.layer_norm(a0, [4])", d + "[2, 3, 4]");
            yield return C("torch.nn.functional.layer_norm(a0, (3, 4), a1, a2)", d + "[2, 3, 4]", d + "[3, 4]", d + "[3, 4]");
            yield return C("torch.nn.functional.batch_norm(a0, a1, a2, a3, a4)", d + "[2, 3, 4, 4]", d + "[3]", d + "[3]", d + "[3]", d + "[3]");
            yield return C("torch.nn.functional.group_norm(a0, 2, a1, a2)", d + "[2, 4, 5]", d + "[4]", d + "[4]");
        }
        yield return C("torch.nn.functional.layer_norm(a0, [3])", "f32[2, 3, 4]");
        yield return C("torch.nn.functional.layer_norm(a0, [4], a1)", "f32[2, 3, 4]", "f32[3]");
        yield return C("torch.nn.functional.layer_norm(a0, [4], eps=1e-3)", "f32[4]");
        yield return C("torch.nn.functional.batch_norm(a0, a1, a2)", "f32[2, 3]", "f32[3]", "f32[3]");
        yield return C("torch.nn.functional.batch_norm(a0, a1, a2)", "f32[2, 3, 5]", "f32[4]", "f32[4]");
        yield return C("torch.nn.functional.batch_norm(a0, a1, a2)", "f32[3]", "f32[3]", "f32[3]");
        yield return Unsupported("torch.nn.functional.batch_norm(a0, a1, a2, training=True)", "f32[2, 3]", "f32[3]", "f32[3]");
        yield return C("torch.nn.functional.group_norm(a0, 3)", "f32[2, 4, 5]");
        yield return C("torch.nn.functional.group_norm(a0, 4)", "f32[2, 4]");
        yield return C("torch.nn.functional.group_norm(a0, 2, a1)", "f32[2, 4, 5, 5]", "f32[2]");
    }

    private static IEnumerable<RuleCase> Convolution()
    {
        string[] options = ["", ", stride=2", ", padding=1", ", padding=(1, 2)", ", dilation=2", ", stride=(2, 1), padding=2, dilation=(1, 2)",
                            ", padding='same'", ", padding='valid'", ", padding='same', stride=2", ", padding='full'", ", stride=0"];
        foreach (var o in options)
        {
            yield return C($"torch.nn.functional.conv2d(a0, a1{o})", "f32[2, 4, 9, 8]", "f32[6, 4, 3, 3]");
            yield return C($"torch.nn.functional.conv2d(a0, a1, a2{o})", "f32[4, 9, 8]", "f32[6, 4, 3, 2]", "f32[6]");
            if (!o.Contains('(')) yield return C($"torch.nn.functional.conv1d(a0, a1{o})", "f32[2, 4, 9]", "f32[6, 4, 3]");
        }
        yield return C("torch.nn.functional.conv2d(a0, a1, groups=2)", "f32[2, 4, 9, 8]", "f32[6, 2, 3, 3]");
        yield return C("torch.nn.functional.conv2d(a0, a1, groups=4)", "f32[2, 4, 9, 8]", "f32[8, 1, 3, 3]");
        yield return C("torch.nn.functional.conv2d(a0, a1, groups=3)", "f32[2, 4, 9, 8]", "f32[6, 2, 3, 3]");
        yield return C("torch.nn.functional.conv2d(a0, a1)", "f32[2, 5, 9, 8]", "f32[6, 4, 3, 3]");
        yield return C("torch.nn.functional.conv2d(a0, a1)", "f32[2, 4, 2, 2]", "f32[6, 4, 3, 3]");
        yield return C("torch.nn.functional.conv2d(a0, a1, a2)", "f32[2, 4, 9, 8]", "f32[6, 4, 3, 3]", "f32[5]");
        yield return C("torch.nn.functional.conv2d(a0, a1)", "f64[2, 4, 9, 8]", "f32[6, 4, 3, 3]");
        yield return C("torch.nn.functional.conv1d(a0, a1, padding=[1])", "f32[2, 4, 9]", "f32[6, 4, 3]");
        string[] pools = ["2", "3, stride=2", "3, stride=2, padding=1", "(3, 2), stride=(2, 1)", "3, stride=2, ceil_mode=True", "2, padding=1, ceil_mode=True",
                          "3, padding=2", "5", "2, stride=2, padding=1, ceil_mode=True"];
        foreach (var p in pools)
            foreach (var shape in new[] { "f32[2, 3, 7, 6]", "f32[3, 8, 8]", "f32[1, 1, 4, 4]" })
            {
                yield return C($"torch.nn.functional.max_pool2d(a0, {p})", shape);
                yield return C($"torch.nn.functional.avg_pool2d(a0, {p})", shape);
            }
        yield return C("torch.nn.functional.max_pool2d(a0, 3, dilation=2)", "f32[2, 3, 7, 6]");
        yield return C("torch.nn.functional.avg_pool2d(a0, 2, divisor_override=3)", "f32[2, 3, 7, 6]");
        yield return Unsupported("torch.nn.functional.max_pool2d(a0, 2, return_indices=True)", "f32[2, 3, 7, 6]");
        foreach (var size in new[] { "1", "3", "(2, 5)", "(None, 2)", "(7, 7)" })
            foreach (var d in new[] { "f32", "f64", "i64" })
                yield return C($"torch.nn.functional.adaptive_avg_pool2d(a0, {size})", d + "[2, 3, 7, 6]");
        // channels-last inputs give channels-last results (torch's suggest_memory_format); a [N, C, 1, 1]
        // input counts as channels-last only with channels-last strides
        foreach (var input in new[] { "f32[2, 4, 9, 8]{288, 1, 32, 4}", "f32[1, 4, 9, 8]{288, 1, 32, 4}", "f32[2, 4, 1, 1]{4, 1, 4, 4}", "f32[2, 4, 1, 1]", "f64[2, 4, 9, 8]{288, 1, 32, 4}" })
        {
            yield return C("torch.nn.functional.conv2d(a0, a1, padding=1)", input, "f32[6, 4, 3, 3]".Replace("f32", input[..3]));
            yield return C("torch.nn.functional.conv2d(a0, a1, a2, 1, 0, 1, 2)", input, "f32[6, 2, 1, 1]".Replace("f32", input[..3]), "f32[6]".Replace("f32", input[..3]));
            yield return C("torch.nn.functional.max_pool2d(a0, 3, 2, 1)", input);
            yield return C("torch.nn.functional.avg_pool2d(a0, 2, ceil_mode=True)", input);
            yield return C("torch.nn.functional.adaptive_avg_pool2d(a0, 1)", input);
            yield return C("torch.nn.functional.adaptive_avg_pool2d(a0, (3, 2))", input);
            yield return C("torch.cat([a0, a0], 1)", input);
            yield return C("torch.cat([a0, a1], 0)", input, input[..input.IndexOf(']')] + "]");
        }
        yield return C("torch.nn.functional.conv2d(a0, a1)", "f32[2, 4, 9, 8]", "f32[6, 4, 3, 3]{36, 1, 12, 4}");
        yield return C("torch.nn.functional.conv2d(a0, a1)", "f32[1, 4, 9, 8]", "f32[6, 4, 3, 3]{36, 1, 12, 4}");
        yield return C("torch.nn.functional.conv2d(a0, a1)", "f32[1, 32, 28, 28]", "f32[64, 32, 1, 1]{32, 1, 32, 32}");
        // oneDNN's convolution called directly (frozen convolutions): float32 4-d only, explicit padding, its own argument order
        yield return C("torch.mkldnn_convolution(a0, a1, None, [1, 1], [1, 1], [1, 1], 1)", "f32[2, 4, 9, 8]", "f32[6, 4, 3, 3]");
        yield return C("torch.mkldnn_convolution(a0, a1, a2, [0, 2], [2, 1], [1, 2], 1)", "f32[1, 4, 9, 8]", "f32[6, 4, 3, 2]", "f32[6]");
        yield return C("torch.mkldnn_convolution(a0, a1, a2, [1, 1], [2, 2], [1, 1], 4)", "f32[1, 4, 9, 8]{288, 1, 32, 4}", "f32[4, 1, 3, 3]", "f32[4]");
        yield return C("torch.mkldnn_convolution(a0, a1, None, [0, 0], [1, 1], [1, 1], 1)", "f32[1, 4, 9, 8]", "f32[6, 4, 1, 1]{4, 1, 4, 4}");
        yield return C("torch.mkldnn_convolution(a0, a1, None, [0, 0], [1, 1], [1, 1], 1)", "f32[1, 32, 7, 7]{1568, 1, 224, 32}", "f32[64, 32, 1, 1]{32, 1, 32, 32}");
        yield return C("torch.mkldnn_convolution(a0, a1, None, [1, 1], [1, 1], [1, 1], 1)", "f32[4, 9, 8]", "f32[6, 4, 3, 3]");
        yield return C("torch.mkldnn_convolution(a0, a1, None, [1, 1], [1, 1], [1, 1], 1)", "f64[2, 4, 9, 8]", "f64[6, 4, 3, 3]");
        yield return C("torch.mkldnn_convolution(a0, a1, None, [1, 1], [1, 1], [1, 1], 1)", "f32[2, 5, 9, 8]", "f32[6, 4, 3, 3]");
    }

    private static IEnumerable<RuleCase> Views()
    {
        string[] sources = ["f32[2, 3, 4]", "f32[4, 3, 2]{1, 4, 12}", "f32[2, 3, 4]{12, 1, 3}", "f32[6]", "f32[]", "f32[0, 4]"];
        string[] shapes = ["(6, 4)", "(-1,)", "(4, -1)", "(2, 12)", "(3, 8)", "(24,)", "(-1, -1)", "(5, 5)", "(2, 3, 2, 2)", "(1, 24)"];
        foreach (var s in sources)
            foreach (var shape in shapes)
            {
                yield return C($"a0.view{shape}", s);
                yield return C($"torch.reshape(a0, {shape})", s);
                yield return C($"a0.reshape({shape.Trim('(', ')').TrimEnd(',')})", s);
            }
        yield return C("a0.view(2, -1)", "f32[6]");
        yield return C("a0.view(-1)", "f32[]");
        yield return C("a0.view(1, 1)", "f32[]");
        yield return C("a0.view(0, -1)", "f32[0, 4]");
        foreach (var s in sources.Take(3))
        {
            yield return C("a0.permute(2, 0, 1)", s);
            yield return C("torch.permute(a0, (1, 0, -1))", s);
            yield return C("a0.permute(0, 1)", s);
            yield return C("a0.permute(0, 0, 1)", s);
            yield return C("torch.transpose(a0, 0, 2)", s);
            yield return C("a0.transpose(-1, 1)", s);
            yield return C("a0.transpose(0, 3)", s);
            yield return C("a0.contiguous()", s);
            yield return C("a0.flatten()", s);
            yield return C("torch.flatten(a0, 1)", s);
            yield return C("a0.flatten(0, 1)", s);
            yield return C("a0.flatten(2, 0)", s);
            yield return C("a0.unflatten(1, (3, 1))", s);
            yield return C("a0.unflatten(-1, (2, -1))", s);
            yield return C("a0.unflatten(0, (3, 3))", s);
            yield return C("torch.unsqueeze(a0, 0)", s);
            yield return C("a0.unsqueeze(-1)", s);
            yield return C("a0.unsqueeze(2)", s);
            yield return C("a0.unsqueeze(5)", s);
        }
        foreach (var s in new[] { "f32[1, 3, 1]", "f32[1, 3, 1]{3, 1, 5}", "f32[]", "f32[3]" })
        {
            yield return C("torch.squeeze(a0)", s);
            yield return C("a0.squeeze(0)", s);
            yield return C("a0.squeeze(-1)", s);
            yield return C("a0.squeeze(1)", s);
            yield return C("a0.t()", s);
            yield return C("torch.t(a0)", s);
        }
        yield return C("a0.t()", "f32[2, 3]");
        yield return C("a0.t()", "f32[2, 3, 4]");
        foreach (var (s, sizes) in new[] { ("f32[3, 1]", "(3, 4)"), ("f32[3, 1]", "(2, 3, 4)"), ("f32[3, 1]", "(-1, 4)"), ("f32[3]", "(2, 3)"),
                     ("f32[3]", "(4,)"), ("f32[3, 1]", "(3,)"), ("f32[]", "(2, 2)"), ("f32[3, 1]", "(-1, 3, 4)"), ("f32[1, 3]{1, 1}", "(2, 3)") })
        {
            yield return C($"a0.expand{sizes}", s);
            yield return C($"a0.expand({sizes.Trim('(', ')').TrimEnd(',')})", s);
        }
    }

    private static IEnumerable<RuleCase> Indexing()
    {
        string[] indices = ["0", "-1", "4", "(1, 2)", "(slice(None, 2, None),)", "(slice(1, None, None), 0)", "(None, 1)",
                            "(..., 1)", "(0, ..., None)", "(slice(None, None, 2), slice(-2, None, None))", "(slice(None, None, -1),)",
                            "(slice(5, 1, None),)", "(1, 2, 3, 0)", "(..., ...)", "(None, ..., None)", "(slice(-100, 100, 3),)"];
        foreach (var s in new[] { "f32[3, 4, 5]", "f32[4, 3, 5]{1, 20, 4}", "i64[3, 4, 5]" })
            foreach (var i in indices)
                yield return C($"operator.getitem(a0, {i})", s);
        yield return Unsupported("operator.getitem(a0, a1)", "f32[3, 4]", "i64[2]");
        yield return C("operator.getitem(a0, 0)", "f32[]");
        yield return C("operator.getitem(a0, None)", "f32[]");
        foreach (var s in new[] { "f32[5, 4]", "f32[4, 5]{1, 4}" })
        {
            yield return C("torch.narrow(a0, 0, 1, 3)", s);
            yield return C("a0.narrow(1, -2, 2)", s);
            yield return C("a0.narrow(0, 3, 3)", s);
            foreach (var chunks in new[] { 1, 2, 3, 6 })
            {
                yield return C($"torch.chunk(a0, {chunks})", s);
                yield return C($"a0.chunk({chunks}, dim=1)", s);
            }
            yield return C("a0.chunk(0)", s);
            yield return C("torch.unbind(a0)", s);
            yield return C("a0.unbind(1)", s);
            yield return C("a0.unbind(-1)", s);
            yield return C("a0.unbind(2)", s);
            foreach (var split in new[] { "2", "5", "1", "[1, 4]", "[2, 2]", "0" })
            {
                yield return C($"torch.split(a0, {split})", s);
                yield return C($"a0.split({split}, dim=-1)", s);
            }
        }
        yield return C("torch.chunk(a0, 3)", "f32[0, 2]");
        foreach (var (index, value) in new[] { ("0", "a1"), ("(slice(None, None, None), 1)", "a1"), ("(..., slice(0, 2, None))", "2.5"), ("(1, 0)", "a2"), ("(slice(1, 3, None),)", "a1"), ("0", "a2") })
            yield return C($"operator.setitem(a0, {index}, {value})", "f32[3, 4]", "f32[4]", "i64[]");
        yield return C("operator.setitem(a0, 0, a1)", "f32[3, 4]", "f32[3]");
        yield return C("operator.setitem(a0, (slice(None, None, None),), a1)", "i32[3, 4]", "f32[3, 1]");
        foreach (var (a, b, dim) in new[] { ("f32[2, 3]", "f32[4, 3]", "0"), ("f32[2, 3]", "f32[2, 5]", "1"), ("f32[2, 3]", "f32[2, 5]", "-1"),
                     ("f32[2, 3]", "f32[3, 3]", "1"), ("f32[2, 3]", "f32[0]", "1"), ("f32[2, 3]", "f32[3]", "0"), ("f32[]", "f32[]", "0"),
                     ("f32[2, 3]", "i64[2, 3]", "0"), ("i32[2, 3]", "b8[2, 3]", "0"), ("f16[2]", "bf16[2]", "0") })
        {
            yield return C($"torch.cat((a0, a1), {dim})", a, b);
            yield return C($"torch.cat([a0, a1, a0], dim={dim})", a, b);
            yield return C($"torch.stack([a0, a1], {dim})", a, b);
            yield return C($"torch.stack((a0, a0), dim={dim})", a, b);
        }
        yield return C("torch.stack([a0, a0], 3)", "f32[2, 3]");
        foreach (var s in new[] { "f32[2, 3]", "f32[]", "i64[3]" })
        {
            yield return C("a0.repeat(2, 3)", s);
            yield return C("a0.repeat(2, 1, 3)", s);
            yield return C("a0.repeat((2,))", s);
            yield return C("a0.repeat(0, 1)", s);
            yield return C("torch.flip(a0, [0])", s);
            yield return C("a0.flip(-1)", s);
            yield return C("a0.flip(0, 0)", s);
            yield return C("torch.roll(a0, 1)", s);
            yield return C("torch.roll(a0, [1, -1], [0, 1])", s);
            yield return C("a0.roll(2, 0)", s);
            yield return C("torch.roll(a0, [1, 2])", s);
        }
    }

    private static IEnumerable<RuleCase> Creation()
    {
        foreach (var op in new[] { "zeros", "ones", "empty", "rand", "randn" })
        {
            yield return C($"torch.{op}(2, 3)");
            yield return C($"torch.{op}((2, 3))");
            yield return C($"torch.{op}([0])");
            yield return C($"torch.{op}(())");
            yield return C($"torch.{op}(2, dtype=torch.float64)");
            yield return C($"torch.{op}(2, dtype=torch.int64)");
            yield return C($"torch.{op}(3, requires_grad=True)");
            yield return C($"torch.{op}(-1)");
            yield return C($"torch.{op}(3, device='cpu')");
        }
        foreach (var fill in new[] { "1", "1.5", "True" })
        {
            yield return C($"torch.full((2, 3), {fill})");
            yield return C($"torch.full([2], {fill}, dtype=torch.float64)");
            yield return C($"torch.full_like(a0, {fill})", "i64[2, 3]");
        }
        foreach (var args in new[] { "5", "2, 7", "1, 10, 3", "0.5, 3", "10, 0, -2", "0, 1, 0.1", "5, 1", "0", "1, 4, 0", "3, dtype=torch.float32", "1.0, 2.0, 0.25" })
            yield return C($"torch.arange({args})");
        foreach (var op in new[] { "zeros_like", "ones_like", "empty_like", "rand_like", "randn_like" })
            foreach (var d in new[] { "f32", "i64", "b8" })
            {
                yield return C($"torch.{op}(a0)", d + "[2, 3]");
                yield return C($"torch.{op}(a0, dtype=torch.float64)", d + "[2, 3]");
            }
    }

    private static IEnumerable<RuleCase> Conversion()
    {
        foreach (var from in AllDTypes)
        {
            foreach (var to in new[] { "float32", "float64", "int64", "bool", "float16" })
            {
                yield return C($"a0.to(torch.{to})", from + "[2, 3]");
                yield return C($"a0.to(dtype=torch.{to})", from + "[2, 3]{1, 2}");
            }
            foreach (var m in new[] { "float", "double", "half", "bfloat16", "long", "int", "bool" })
                yield return C($"a0.{m}()", from + "[3]");
            yield return C("a0.type_as(a1)", from + "[3]", "f64[2]");
            yield return C("a0.to(a1)", from + "[3]", "i32[2]");
            yield return C("a0.to('cpu')", from + "[3]");
            yield return C("a0.to('cpu', torch.float64)", from + "[3]");
            yield return C("a0.to(torch.float64)", from + "[4, 3]{1, 4}");
            yield return C("a0.to(torch.float64)", from + "[4, 3]{6, 2}");
            yield return C("a0.to(torch.float32, copy=True)", from + "[3]");
        }
    }

    private static IEnumerable<RuleCase> InPlace()
    {
        foreach (var (da, db) in DTypePairs)
            foreach (var op in new[] { "add_", "sub_", "mul_", "div_", "pow_" })
                yield return C($"a0.{op}(a1)", da + "[2, 3]", db + "[3]");
        foreach (var d in MainDTypes)
        {
            yield return C("a0.add_(a1)", d + "[3]", d + "[2, 3]");
            yield return C("a0.mul_(2.5)", d + "[3]");
            yield return C("a0.add_(1)", d + "[3]");
            yield return C("a0.clamp_(0, 1)", d + "[3]");
            yield return C("a0.masked_fill_(a1, 0)", d + "[2, 3]", "b8[3]");
            foreach (var op in new[] { "neg_", "abs_", "exp_", "sqrt_", "sigmoid_", "tanh_", "relu_", "zero_" })
                yield return C($"a0.{op}()", d + "[3]");
            foreach (var op in new[] { "hardtanh_", "relu6_", "hardsigmoid_", "hardswish_", "silu_" })
                yield return C($"torch._C._nn.{op}(a0)", d + "[3]");
            yield return C("a0.copy_(a1)", d + "[2, 3]", "f64[3]");
            yield return C("a0.copy_(a1)", d + "[3]", "f64[2, 3]");
            yield return C("a0.fill_(2)", d + "[3]");
            yield return C("a0.fill_(a1)", d + "[3]", "f32[]");
            yield return C("a0.fill_(a1)", d + "[3]", "f32[3]");
        }
    }

    // ATen backward kernels the derivative rules call
    private static IEnumerable<RuleCase> Backward()
    {
        foreach (var d in new[] { "f32", "f64" })
        {
            yield return C("torch.ops.aten.slice_backward(a0, [5, 3], 0, 1, 3, 1)", d + "[2, 3]");
            yield return C("torch.ops.aten.slice_backward(a0, [4, 6], 1, 0, 6, 2)", d + "[4, 3]");
            yield return C("torch.ops.aten.slice_backward(a0, [4, 6], 2, 0, 6, 2)", d + "[4, 3]");
            yield return C("torch.ops.aten.select_backward(a0, [5, 3], 0, -1)", d + "[3]");
            yield return C("torch.ops.aten.select_backward(a0, [5, 3, 2], 1, 2)", d + "[5, 2]");
            yield return C("torch.ops.aten.convolution_backward(a0, a1, a2, [4], [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True, True, True])", d + "[2, 4, 6, 6]", d + "[2, 3, 8, 8]", d + "[4, 3, 3, 3]");
            yield return C("torch.ops.aten.convolution_backward(a0, a1, a2, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1, [True, True, False])", d + "[2, 4, 4, 4]", d + "[2, 3, 8, 8]", d + "[4, 3, 3, 3]");
            yield return C("torch.ops.aten.convolution_backward(a0, a1, a2, None, [1], [1], [1], False, [0], 2, [True, True, False])", d + "[2, 4, 9]", d + "[2, 4, 9]", d + "[4, 2, 3]");
            yield return C("torch.ops.aten.max_pool2d_with_indices(a0, [2, 2], [2, 2], [0, 0], [1, 1], False)", d + "[2, 3, 8, 8]");
            yield return C("torch.ops.aten.max_pool2d_with_indices(a0, [3, 3], [2, 2], [1, 1], [1, 1], True)", d + "[3, 7, 7]");
            yield return C("torch.ops.aten.max_pool2d_with_indices_backward(a0, a1, [2, 2], [2, 2], [0, 0], [1, 1], False, a2)", d + "[2, 3, 4, 4]", d + "[2, 3, 8, 8]", "i64[2, 3, 4, 4]");
            yield return C("torch.ops.aten.avg_pool2d_backward(a0, a1, [2, 2], [2, 2], [0, 0], False, True, None)", d + "[2, 3, 4, 4]", d + "[2, 3, 8, 8]");
            yield return C("torch.ops.aten.avg_pool2d_backward(a0, a1, [3, 3], [2, 2], [1, 1], True, False, 2)", d + "[3, 4, 4]", d + "[3, 7, 7]");
            yield return C("torch.ops.aten._adaptive_avg_pool2d_backward(a0, a1)", d + "[2, 3, 1, 1]", d + "[2, 3, 8, 8]");
            yield return C("torch.ops.aten._adaptive_avg_pool2d_backward(a0, a1)", d + "[3, 2, 5]", d + "[3, 7, 6]");
            yield return C("torch.ops.aten.embedding_dense_backward(a0, a1, 6, -1, False)", d + "[5, 4]", "i64[5]");
            yield return C("torch.ops.aten.embedding_dense_backward(a0, a1, 6, 2, True)", d + "[2, 5, 4]", "i64[2, 5]");
        }
    }

    private static IEnumerable<RuleCase> Embedding()
    {
        foreach (var d in new[] { "i64", "i32", "f32", "b8" })
        {
            yield return C("torch.nn.functional.embedding(a0, a1)", d + "[2, 3]", "f32[5, 4]");
            yield return C("torch.nn.functional.embedding(a0, a1, padding_idx=0)", d + "[3]", "f64[5, 4]");
        }
        yield return C("torch.nn.functional.embedding(a0, a1)", "i64[]", "f32[5, 4]");
        yield return C("torch.nn.functional.embedding(a0, a1)", "i64[3]", "f32[5]");
        yield return C("torch.nn.functional.embedding(a0, a1, padding_idx=7)", "i64[3]", "f32[5, 4]");
        yield return Unsupported("torch.nn.functional.embedding(a0, a1, max_norm=1.0)", "i64[3]", "f32[5, 4]");
        foreach (var args in new[] { "p=0.0", "training=False", "0.3, False", "p=0.0, training=True", "1.5, False", "-0.1, False" })
            yield return C($"torch.nn.functional.dropout(a0, {args})", "f32[2, 3]");
        // training mode: random, decomposed into a bernoulli mask (shapes and errors checked here, values in the backend tests)
        foreach (var args in new[] { "", "0.5, True", "p=1.0", "0.2, True" })
            yield return C($"torch.nn.functional.dropout(a0{(args.Length > 0 ? ", " + args : "")})", "f32[2, 3]");
        yield return C("torch.nn.functional.dropout(a0, 0.5, True)", "i64[3]");
        foreach (var (args, input) in new[] { ("0.5", "f32[2, 3]"), ("0.0", "f64[4]"), ("p=0.25", "i64[3]"), ("0.5", "b8[2]"), ("1.5", "f32[2]") })
            yield return C($"torch.bernoulli(a0{(args.Length > 0 ? ", " + args : "")})", input);
    }
}
