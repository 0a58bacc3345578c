namespace Capture.Graphs;

// Unary, binary and ternary pointwise ops, conversions. The formulas are torch's (derivatives.yaml):
//   exp: g*y   log: g/x   tanh: g*(1-y^2)   sigmoid: g*y*(1-y)   relu: g where y > 0
//   maximum/minimum: the larger (smaller) side takes g, ties split it in half
public static partial class Derivatives
{
    private static Arg First(OpCall c) => c.Raw(c.Op.Schema.Params[0].Name);

    private static string FirstName(OpCall c) => c.Op.Schema.Params[0].Name;

    private static DerivativeRule Unary(Func<GraphBuilder, Arg, Arg, Arg, Arg> grad) =>
        (b, c, y, g) => Grads(c, (FirstName(c), grad(b, First(c), y, g)));

    private static void PointwiseRules(Dictionary<OpDef, DerivativeRule> rules)
    {
        Add(rules, Unary((b, x, y, g) => Mul(b, g, y)), Ops.Exp);
        Add(rules, Unary((b, x, y, g) => Div(b, g, x)), Ops.Log);
        Add(rules, Unary((b, x, y, g) => Div(b, Mul(b, g, 0.5), y)), Ops.Sqrt);
        Add(rules, Unary((b, x, y, g) => Mul(b, g, Mul(b, F(b, Ops.Pow, y, 3L), -0.5))), Ops.Rsqrt);
        Add(rules, Unary((b, x, y, g) => Mul(b, g, F(b, Ops.Cos, x))), Ops.Sin);
        Add(rules, Unary((b, x, y, g) => Mul(b, g, Neg(b, F(b, Ops.Sin, x)))), Ops.Cos);
        Add(rules, Unary((b, x, y, g) => Mul(b, g, OneMinus(b, Mul(b, y, y)))), Ops.Tanh);
        Add(rules, Unary((b, x, y, g) => Mul(b, g, Mul(b, y, OneMinus(b, y)))), Ops.Sigmoid);
        Add(rules, Unary((b, x, y, g) => Mul(b, g, Mul(b, F(b, Ops.Exp, Neg(b, Mul(b, x, x))), 2 / Math.Sqrt(Math.PI)))), Ops.Erf);
        Add(rules, Unary((b, x, y, g) => Mul(b, g, Neg(b, Mul(b, y, y)))), Ops.Reciprocal);
        Add(rules, Unary((b, x, y, g) => Neg(b, g)), Ops.Neg);
        Add(rules, Unary((b, x, y, g) => Mul(b, g, F(b, Ops.Sign, x))), Ops.Abs);
        Add(rules, Unary((b, x, y, g) => ZerosLike(b, g)), Ops.Floor, Ops.Ceil, Ops.Round, Ops.Sign);
        Add(rules, Unary((b, x, y, g) => Where(b, F(b, Ops.Gt, y, 0L), g, 0.0)), Ops.Relu, Ops.FunctionalRelu);
        Add(rules, Gelu, Ops.Gelu);
        // torch's hardtanh_backward, hardsigmoid_backward, hardswish_backward: the flat parts take no gradient
        Add(rules, (b, c, y, g) => Grads(c, ("self", Where(b, F(b, Ops.LogicalAnd, F(b, Ops.Gt, First(c), c.Raw("min_val")), F(b, Ops.Lt, First(c), c.Raw("max_val"))), g, 0.0))), Ops.Hardtanh);
        Add(rules, Unary((b, x, y, g) => Where(b, F(b, Ops.LogicalAnd, F(b, Ops.Gt, x, 0L), F(b, Ops.Lt, x, 6L)), g, 0.0)), Ops.Relu6);
        Add(rules, Unary((b, x, y, g) => Where(b, F(b, Ops.LogicalAnd, F(b, Ops.Gt, x, -3L), F(b, Ops.Lt, x, 3L)), Div(b, g, 6.0), 0.0)), Ops.Hardsigmoid);
        Add(rules, Unary((b, x, y, g) => Where(b, F(b, Ops.Lt, x, -3L), 0.0,
            Where(b, F(b, Ops.Le, x, 3L), Mul(b, g, AddT(b, Div(b, x, 3.0), 0.5)), g))), Ops.Hardswish);
        Add(rules, Unary((b, x, y, g) =>
        {
            var s = F(b, Ops.Sigmoid, x);
            return Mul(b, g, Mul(b, s, AddT(b, Mul(b, x, OneMinus(b, s)), 1.0)));
        }), Ops.Silu, Ops.SiluC);

        Add(rules, (b, c, y, g) => Grads(c, ("self", g), ("other", Scaled(b, g, c.Raw("alpha"), negate: false))), Ops.Add);
        Add(rules, (b, c, y, g) => Grads(c, ("self", g), ("other", Scaled(b, g, c.Raw("alpha"), negate: true))), Ops.Sub);
        Add(rules, (b, c, y, g) => Grads(c, ("self", Mul(b, g, c.Raw("other"))), ("other", Mul(b, g, c.Raw("self")))), Ops.Mul);
        Add(rules, DivRule, Ops.Div);
        Add(rules, PowRule, Ops.Pow);
        Add(rules, (b, c, y, g) => SelectBetween(b, c, g, Ops.Gt), Ops.Maximum);
        Add(rules, (b, c, y, g) => SelectBetween(b, c, g, Ops.Lt), Ops.Minimum);
        Add(rules, (b, c, y, g) => Grads(c, ("self", Where(b, c.Raw("condition"), g, 0.0)), ("other", Where(b, c.Raw("condition"), 0.0, g))), Ops.Where);
        Add(rules, ClampRule, Ops.Clamp);
        Add(rules, (b, c, y, g) => Grads(c,
            ("self", F(b, Ops.MaskedFill, g, c.Raw("mask"), 0.0)),
            ("value", c.IsTensor("value") ? F(b, Ops.Sum, Where(b, c.Raw("mask"), g, 0.0)) : null)), Ops.MaskedFill);
        // conversions: the gradient goes back to the source's dtype (the joint graph converts it)
        Add(rules, (b, c, y, g) => Grads(c, ("self", g)), Ops.To, Ops.Float, Ops.Double, Ops.Half, Ops.Bfloat16, Ops.TypeAs);
    }

    // gelu(x) = x * Phi(x): Phi(x) + x * phi(x); the tanh form, with u = k (x + 0.044715 x^3):
    // 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k (1 + 3 * 0.044715 x^2)
    private static IReadOnlyList<Arg?> Gelu(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var x = c.Raw("input");
        var square = Mul(b, x, x);
        Arg slope;
        if (c.Str("approximate") == "tanh")
        {
            var k = Math.Sqrt(2 / Math.PI);
            var t = F(b, Ops.Tanh, Mul(b, AddT(b, x, Mul(b, Mul(b, square, x), 0.044715)), k));
            var inner = Mul(b, AddT(b, Mul(b, square, 3 * 0.044715), 1.0), k);
            slope = AddT(b, Mul(b, AddT(b, t, 1.0), 0.5), Mul(b, Mul(b, Mul(b, x, 0.5), OneMinus(b, Mul(b, t, t))), inner));
        }
        else
        {
            var cdf = Mul(b, AddT(b, F(b, Ops.Erf, Mul(b, x, 1 / Math.Sqrt(2))), 1.0), 0.5);
            var pdf = Mul(b, F(b, Ops.Exp, Mul(b, square, -0.5)), 1 / Math.Sqrt(2 * Math.PI));
            slope = AddT(b, cdf, Mul(b, x, pdf));
        }
        return Grads(c, ("input", Mul(b, g, slope)));
    }

    private static Arg? Scaled(GraphBuilder b, Arg g, Arg alpha, bool negate)
    {
        var scale = alpha switch { IntArg i => (double)i.Value, FloatArg f => f.Value, BoolArg a => a.Value ? 1 : 0, _ => throw new NotSupportedException($"alpha={alpha}") };
        if (negate) scale = -scale;
        return scale == 1 ? g : Mul(b, g, scale);
    }

    private static IReadOnlyList<Arg?> DivRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        if (c.Str("rounding_mode") is not null)
            return Grads(c, ("self", ZerosLike(b, g)), ("other", c.IsTensor("other") ? ZerosLike(b, g) : null));
        var other = c.Raw("other");
        return Grads(c, ("self", Div(b, g, other)),
            ("other", c.IsTensor("other") ? Neg(b, Div(b, Mul(b, g, c.Raw("self")), Mul(b, other, other))) : null));
    }

    // pow(x, e): x takes g * e * x^(e-1); e (a tensor) takes g * y * log(x), 0 where x = 0 and e >= 0
    private static IReadOnlyList<Arg?> PowRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var x = c.Raw("self");
        var e = c.Raw("exponent");
        Arg? gx = null, ge = null;
        if (c.IsTensor("self"))
        {
            gx = e switch
            {
                IntArg { Value: 0 } or FloatArg { Value: 0 } => ZerosLike(b, g),
                IntArg { Value: 1 } => g,
                IntArg { Value: 2 } => Mul(b, g, Mul(b, x, 2.0)),
                IntArg { Value: var n } => Mul(b, g, Mul(b, F(b, Ops.Pow, x, n - 1), (double)n)),
                FloatArg { Value: var v } => Mul(b, g, Mul(b, F(b, Ops.Pow, x, v - 1), v)),
                BoolArg { Value: var v } => v ? g : ZerosLike(b, g),
                _ => Mul(b, g, Mul(b, F(b, Ops.Pow, x, SubT(b, e, 1.0)), e)),
            };
        }
        if (c.IsTensor("exponent"))
        {
            if (c.IsTensor("self"))
            {
                var logX = F(b, Ops.Log, x);
                var safe = Where(b, F(b, Ops.LogicalAnd, F(b, Ops.Eq, x, 0L), F(b, Ops.Ge, e, 0L)), 0.0, Mul(b, y, logX));
                ge = Mul(b, g, safe);
            }
            else
            {
                var baseValue = x switch { IntArg i => (double)i.Value, FloatArg f => f.Value, BoolArg v => v.Value ? 1 : 0, _ => throw new NotSupportedException($"pow base {x}") };
                ge = baseValue == 0 ? ZerosLike(b, g) : Mul(b, g, Mul(b, y, Math.Log(baseValue)));
            }
        }
        return Grads(c, ("self", gx), ("exponent", ge));
    }

    // maximum: self takes g where self > other, other where other > self; ties split g in half
    private static IReadOnlyList<Arg?> SelectBetween(GraphBuilder b, OpCall c, Arg g, OpDef wins)
    {
        var x = c.Raw("self");
        var o = c.Raw("other");
        var tie = F(b, Ops.Eq, x, o);
        var half = Mul(b, g, 0.5);
        return Grads(c,
            ("self", Where(b, tie, half, Where(b, F(b, wins, x, o), g, 0.0))),
            ("other", Where(b, tie, half, Where(b, F(b, wins, o, x), g, 0.0))));
    }

    // clamp: self takes g where min <= x <= max; a tensor min takes g where it raised x (and
    // min < max), a tensor max where it lowered x or max < min (then the result is max)
    private static IReadOnlyList<Arg?> ClampRule(GraphBuilder b, OpCall c, Arg y, Arg g)
    {
        var x = c.Raw("self");
        bool hasMin = !c.IsNone("min"), hasMax = !c.IsNone("max");
        Arg? inside = hasMin ? F(b, Ops.Ge, x, c.Raw("min")) : null;
        if (hasMax) inside = inside is null ? F(b, Ops.Le, x, c.Raw("max")) : F(b, Ops.LogicalAnd, inside, F(b, Ops.Le, x, c.Raw("max")));
        Arg? gMin = null, gMax = null;
        if (hasMin && c.IsTensor("min"))
        {
            Arg raised = F(b, Ops.Lt, x, c.Raw("min"));
            if (hasMax) raised = F(b, Ops.LogicalAnd, raised, F(b, Ops.Lt, c.Raw("min"), c.Raw("max")));
            gMin = Where(b, raised, g, 0.0);
        }
        if (hasMax && c.IsTensor("max"))
        {
            Arg lowered = F(b, Ops.Gt, x, c.Raw("max"));
            if (hasMin) lowered = F(b, Ops.LogicalOr, lowered, F(b, Ops.Lt, c.Raw("max"), c.Raw("min")));
            gMax = Where(b, lowered, g, 0.0);
        }
        return Grads(c, ("self", Where(b, inside!, g, 0.0)), ("min", gMin), ("max", gMax));
    }
}
