using System.Globalization;
using System.Text;

namespace Capture.Codegen;

// The SIMD loop over the innermost dim: System.Runtime.Intrinsics vectors of one float type.
// A kernel vectorizes when every operand it loads or stores has that type and a known innermost
// stride of 1 (or 0: broadcast, loaded once per row), and every function has a vector form whose
// results stay within torch's tolerance of the scalar one: comparisons become masks that only
// `where` reads; tanh (float32) is its own helper below. A bool operand the kernel only reads (a
// causal mask under masked_fill) is loaded as such a mask: its bytes widened to lanes of all ones
// where they are set. Anything else keeps the scalar loop.
public static partial class CSharpEmitter
{
    /// <summary>Whether the SIMD loop computes <paramref name="f"/> in <paramref name="t"/> (KernelFunctions' vector column).</summary>
    private static bool HasVectorForm(KernelFunction f, DType t) => f.Info().Vector switch
    {
        VectorForm.Float => true,
        VectorForm.Float32Helper => t == DType.Float32,
        VectorForm.None => false,
    };

    /// <summary>The float type the kernel's SIMD loop computes in, or null when it keeps scalar loops.</summary>
    private static DType? VectorType(Kernel k, int bits) => NotVectorized(k, bits) is null ? LaneType(k) : null;

    /// <summary>The type a kernel's vectors would hold: its first operand's, passing over the bool operands it only reads (loaded as masks).</summary>
    private static DType LaneType(Kernel k) =>
        k.Operands.FirstOrDefault(o => !IsMaskOperand(o))?.Type ?? (k.Operands.Count > 0 ? k.Operands[0].Type : k.Body[0].Value.Type);

    /// <summary>A bool operand the kernel reads: its vector loops load it as a mask (all ones where set), which only `where` reads.</summary>
    private static bool IsMaskOperand(KOperand o) => o.Type == DType.Bool && !o.IsOutput;

    /// <summary>Why the kernel keeps scalar loops (for the comment above it), or null when it vectorizes.</summary>
    private static string? NotVectorized(Kernel k, int bits)
    {
        if (bits == 0) return "no SIMD on this machine";
        if (k.Domain.Count == 0) return "a single element";
        var t = LaneType(k);
        if (t is not (DType.Float32 or DType.Float64)) return $"operands of {t.TorchName()}";
        if (k.Operands.FirstOrDefault(o => o.Type != t && !IsMaskOperand(o)) is { } mixed) return $"{mixed.Value} is {mixed.Type.TorchName()}, not {t.TorchName()}";
        if (k.Operands.FirstOrDefault(o => o.InnerStride is not (0 or 1) || o.IsOutput && o.InnerStride != 1) is { } strided)
            return $"{strided.Value} has innermost stride {strided.InnerStride?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}";
        foreach (var statement in k.Body)
            if (Unvectorizable(statement.Value, t) is { } why) return $"{statement.Node}: {why}";
        if (k.Stores.Any(s => k.Body[s.Statement].Value.Type != t)) return "stores a mask";
        return null;
    }

    private static string? Unvectorizable(KExpr e, DType t) => e switch
    {
        KLoad or KTemp => null,
        KConst c => c.Type == t ? null : $"a {c.Type.TorchName()} constant",
        KCast => "a cast",
        KCall c when !HasVectorForm(c.Function, t) => $"{c.Function.Name()} has no vector form for {t.TorchName()} here",
        KCall c when (c.Function.Info().IsComparison ? c.Args.Any(a => a.Type != t) : c.Type != t) => $"{c.Function.Name()} on {c.Args[0].Type.TorchName()}",
        KCall c when c.Function == KernelFunction.Where && !(c.Args[0] is KTemp or KLoad { Type: DType.Bool } || c.Args[0] is KCall mask && mask.Function.Info().IsComparison) => "where on a computed mask",
        KCall c => c.Args.Select(a => Unvectorizable(a, t)).FirstOrDefault(w => w is not null),
        _ => "an unknown expression",
    };

    private static void EmitVectorLoop(StringBuilder text, Kernel k, DType t, int bits, HashSet<string> helpers, bool streaming)
    {
        var v = $"Vector{bits}";
        var lanes = bits / (t == DType.Float32 ? 32 : 64);
        text.Append("            if (simd)\n            {\n");
        for (var o = 0; o < k.Operands.Count; o++)
            if (!k.Operands[o].IsOutput && k.Operands[o].InnerStride == 0)
                text.Append($"                var w{o} = {Broadcast(k.Operands[o], $"o{o}[b{o}]", t, v, helpers)}; // broadcast along the row\n");
        text.Append($"                for (; j <= j1 - {lanes}; j += {lanes})\n                {{\n");
        for (var o = 0; o < k.Operands.Count; o++)
            if (!k.Operands[o].IsOutput && k.Operands[o].InnerStride == 1)
                text.Append($"                    var w{o} = {VectorLoad(k.Operands[o], $"o{o} + b{o} + j", t, v, helpers)};\n");
        for (var i = 0; i < k.Body.Count; i++)
            text.Append($"                    var u{i} = {VExpr(k.Body[i].Value, t, v, helpers)}; // {k.Body[i].Node}\n");
        foreach (var (statement, operand) in k.Stores)
            text.Append($"                    {VectorStore($"u{statement}", $"o{operand} + b{operand} + j", streaming ? StoreKind.Checked : StoreKind.Cached)}\n");
        text.Append("                }\n            }\n");
    }

    /// <summary>One vector of an operand's row at <paramref name="address"/>: its values, or for a bool operand its mask.</summary>
    private static string VectorLoad(KOperand o, string address, DType t, string v, HashSet<string> helpers)
    {
        if (!IsMaskOperand(o)) return $"{v}.Load({address})";
        helpers.Add(MaskHelper(t));
        return $"{MaskHelperName(t)}({address})";
    }

    /// <summary>An operand's element broadcast to a vector: its value, or for a bool operand all ones where it is set.</summary>
    private static string Broadcast(KOperand o, string element, DType t, string v, HashSet<string> helpers) =>
        IsMaskOperand(o) ? $"({element} != 0 ? {v}<{Type(t)}>.AllBitsSet : {v}<{Type(t)}>.Zero)" : $"{v}.Create({element})";

    private static string MaskHelper(DType t) => t == DType.Float32 ? "mask32" : "mask64";

    private static string MaskHelperName(DType t) => t == DType.Float32 ? "Mask32" : "Mask64";

    // A vector's worth of bool bytes (one per lane) as a mask of lanes: the bytes compared with zero
    // (0xFF where set), then sign-extended lane by lane to the float's width, so that a set byte
    // becomes a lane of all ones, as a vector comparison gives. AVX-512 and AVX2 widen in one instruction.
    private static string MaskOfBytes(int bits, DType t)
    {
        var lanes = bits / (t == DType.Float32 ? 32 : 64);
        var load = lanes switch
        {
            16 => "Vector128.Load(p)",
            8 => "Vector128.CreateScalar(*(ulong*)p).AsByte()",
            4 => "Vector128.CreateScalar(*(uint*)p).AsByte()",
            _ => "Vector128.CreateScalar(*(ushort*)p).AsByte()",
        };
        var widen = (bits, t) switch
        {
            (512, DType.Float32) =>
                "        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported) return System.Runtime.Intrinsics.X86.Avx512F.ConvertToVector512Int32(n).AsSingle();\n" +
                "        var s0 = Vector128.WidenLower(n); var s1 = Vector128.WidenUpper(n);\n" +
                "        return Vector512.Create(Vector256.Create(Vector128.WidenLower(s0), Vector128.WidenUpper(s0)), Vector256.Create(Vector128.WidenLower(s1), Vector128.WidenUpper(s1))).AsSingle();\n",
            (256, DType.Float32) =>
                "        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) return System.Runtime.Intrinsics.X86.Avx2.ConvertToVector256Int32(n).AsSingle();\n" +
                "        var s0 = Vector128.WidenLower(n);\n" +
                "        return Vector256.Create(Vector128.WidenLower(s0), Vector128.WidenUpper(s0)).AsSingle();\n",
            (512, _) =>
                "        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported) return System.Runtime.Intrinsics.X86.Avx512F.ConvertToVector512Int64(n).AsDouble();\n" +
                "        var s0 = Vector128.WidenLower(n); var i0 = Vector128.WidenLower(s0); var i1 = Vector128.WidenUpper(s0);\n" +
                "        return Vector512.Create(Vector256.Create(Vector128.WidenLower(i0), Vector128.WidenUpper(i0)), Vector256.Create(Vector128.WidenLower(i1), Vector128.WidenUpper(i1))).AsDouble();\n",
            (256, _) =>
                "        var i0 = Vector128.WidenLower(Vector128.WidenLower(n));\n" +
                "        return Vector256.Create(Vector128.WidenLower(i0), Vector128.WidenUpper(i0)).AsDouble();\n",
            (_, DType.Float32) => "        return Vector128.WidenLower(Vector128.WidenLower(n)).AsSingle();\n",
            _ => "        return Vector128.WidenLower(Vector128.WidenLower(Vector128.WidenLower(n))).AsDouble();\n",
        };
        return "    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]\n" +
               $"    private static Vector{bits}<{Type(t)}> {MaskHelperName(t)}(byte* p)\n    {{\n" +
               $"        var n = (~Vector128.Equals({load}, Vector128<byte>.Zero)).AsSByte();\n" +
               widen + "    }\n\n";
    }

    /// <summary>How a vector expression names an operand's vector (by operand) and an earlier statement's (by statement).</summary>
    private sealed record VNames(Func<int, string> Load, Func<int, string> Temp)
    {
        public static readonly VNames Pointwise = new(o => $"w{o}", i => $"u{i}");
    }

    private static string VExpr(KExpr e, DType t, string v, HashSet<string> helpers, VNames? names = null)
    {
        names ??= VNames.Pointwise;
        return e switch
        {
            KLoad l => names.Load(l.Operand),
            KTemp x => names.Temp(x.Index),
            KConst c => $"{v}.Create({Constant(c.Value, t)})",
            KCall c => VCall(c, t, v, helpers, names),
            _ => throw new ArgumentOutOfRangeException(nameof(e), e, "not vectorizable"),
        };
    }

    private static string VCall(KCall c, DType t, string v, HashSet<string> helpers, VNames names)
    {
        var a = c.Args.Select(x => VExpr(x, t, v, helpers, names)).ToList();
        var one = $"{v}<{Type(t)}>.One";
        if (c.Function.Info().Vector == VectorForm.Float32Helper) helpers.Add("exp"); // sigmoid, tanh and erf are written with it
        if (c.Function is KernelFunction.Tanh or KernelFunction.Erf) helpers.Add(c.Function.Name());
        return c.Function switch
        {
            KernelFunction.Add or KernelFunction.Sub or KernelFunction.Mul or KernelFunction.Div or KernelFunction.Neg or KernelFunction.Reciprocal =>
                Operator(c.Function, a, one),
            KernelFunction.Abs => $"{v}.Abs({a[0]})",
            KernelFunction.Relu => $"{v}.Max({a[0]}, {v}<{Type(t)}>.Zero)",
            KernelFunction.Exp => $"Exp({a[0]})",
            KernelFunction.Sqrt => $"{v}.Sqrt({a[0]})",
            KernelFunction.Rsqrt => $"({one} / {v}.Sqrt({a[0]}))",
            KernelFunction.Erf => $"Erf({a[0]})",
            KernelFunction.Sigmoid => $"({one} / ({one} + Exp(-{a[0]})))",
            KernelFunction.Tanh => $"Tanh({a[0]})",
            KernelFunction.Maximum => $"{v}.Max({a[0]}, {a[1]})",
            KernelFunction.Minimum => $"{v}.Min({a[0]}, {a[1]})",
            KernelFunction.Where => $"{v}.ConditionalSelect({a[0]}, {a[1]}, {a[2]})",
            KernelFunction.Eq => $"{v}.Equals({a[0]}, {a[1]})",
            KernelFunction.Ne => $"~{v}.Equals({a[0]}, {a[1]})",
            KernelFunction.Lt => $"{v}.LessThan({a[0]}, {a[1]})",
            KernelFunction.Le => $"{v}.LessThanOrEqual({a[0]}, {a[1]})",
            KernelFunction.Gt => $"{v}.GreaterThan({a[0]}, {a[1]})",
            KernelFunction.Ge => $"{v}.GreaterThanOrEqual({a[0]}, {a[1]})",
            KernelFunction.Log or KernelFunction.Sin or KernelFunction.Cos or KernelFunction.Pow =>
                throw new InvalidOperationException($"{c.Function.Name()} has no vector form (NotVectorized keeps such kernels scalar)"),
        };
    }

    // Float32 exp, and tanh and sigmoid through it, written out in vector arithmetic (which the JIT
    // always expands to instructions). CoreLib's Vector256.Exp is fast only where the JIT inlines it:
    // called, it runs a precompiled copy built without AVX, several times slower than torch.
    // exp: Cephes' expf. n = round(x log2 e), r = x - n ln 2 (in two parts, exact), e^r by a degree-6
    // polynomial on |r| <= ln2/2 (relative error ~1e-7), times 2^n built in the exponent bits (as
    // 2 e^r times 2^(n-1), so n = 128 still fits: the polynomial's coefficients are doubled, exactly).
    // n is rounded by adding 1.5 * 2^23, whose float then holds n in its low mantissa bits: shifted
    // left 23 they are n's exponent bits (no round, no float to int conversion, which .NET makes
    // saturating at five instructions). x is clamped to [-86, 89]: from ln(float.MaxValue) = 88.72 up,
    // n = 128 and 2 e^r 2^127 overflows to inf by itself; below -86 the result is 0 (torch gives
    // subnormals under 5e-38 there); NaN stays NaN (the clamps keep it: the JIT puts x where vmaxps
    // and vminps return it).
    // With AVX2 (256 bits) or AVX-512 (512 bits), exp reads 2^(j/8) from a table instead: the
    // polynomial then covers |r| <= ln2/16, so degree 4 does (8 multiply-adds where Cephes takes 11,
    // and fewer constants for the register allocator). n = round(8 x log2 e); 2^(n/8) =
    // 2^(n>>3) 2^((n&7)/8), the table entry picked by one vpermps from t's low bits (the permute reads
    // only those), with n>>3 added to its exponent by adding t << 20 (n << 20: n>>3 in the exponent
    // field, n&7 in three mantissa bits that each entry has subtracted in advance). Then
    // e^x = s + s q with q = e^r - 1 (a minimax fit, relative error 1.7e-10), one multiply-add that
    // keeps the result within 0.91 ulp of e^x (measured over the float range; torch's is 0.96).
    // x is clamped at 88.67 for n only (so n>>3 <= 127); r comes from x itself, so above that r grows
    // and s + s q overflows to inf from ln(float.MaxValue) up, as it should. Below -87.33 the result
    // is 0 (x < -87.33 selects it; that also takes -inf, whose r is NaN). NaN gives NaN through r.
    // tanh: an odd Taylor polynomial to x^17 below |x| = 0.55 (relative error under 1e-7 there),
    // 1 - 2 / (exp(2|x|) + 1) with x's sign above (no cancellation once the result is over 0.5;
    // exp overflowing to infinity gives 1). NaN takes the second branch and stays NaN.
    // erf (torch.erf, and gelu through it): x P(x^2) for |x| <= 1; 1 - exp(-x^2) R(1/|x|) with x's
    // sign for 1 < |x| < 4; +-1 beyond (erfc(4) is under float32's half ulp of 1). P (degree 6) and R
    // (degree 9) are least-squares fits in relative error on Chebyshev nodes, evaluated by Horner;
    // measured against torch.erf over [-6, 6] and down to 1e-30: under 2.4e-7 relative.
    // The scalar loop's ErfScalar is the same computation with MathF.Exp.
    // Polynomials are evaluated with MultiplyAddEstimate: one fused multiply-add where the hardware has
    // it (the error bounds above hold either way).
    private static string Helper(string name, int bits) => name switch
    {
        "exp" when bits is 256 or 512 => ExpFromTable(bits) + Helper("exp-polynomial", bits),
        "exp" or "exp-polynomial" => $$"""
                [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
                private static Vector{{bits}}<float> {{(name == "exp" ? "Exp" : "ExpPolynomial")}}(Vector{{bits}}<float> x)
                {
                    var c = Vector{{bits}}.Min(Vector{{bits}}.Max(x, Vector{{bits}}.Create(-86f)), Vector{{bits}}.Create(89f));
                    var t = Vector{{bits}}.MultiplyAddEstimate(c, Vector{{bits}}.Create(1.44269504088896341f), Vector{{bits}}.Create(12582912f));
                    var n = t - Vector{{bits}}.Create(12582912f);
                    var r = Vector{{bits}}.MultiplyAddEstimate(n, Vector{{bits}}.Create(-0.693359375f), c);
                    r = Vector{{bits}}.MultiplyAddEstimate(n, Vector{{bits}}.Create(2.12194440e-4f), r);
                    var p = Vector{{bits}}.Create(2 * 1.9875691500e-4f);
                    p = Vector{{bits}}.MultiplyAddEstimate(p, r, Vector{{bits}}.Create(2 * 1.3981999507e-3f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, r, Vector{{bits}}.Create(2 * 8.3334519073e-3f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, r, Vector{{bits}}.Create(2 * 4.1665795894e-2f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, r, Vector{{bits}}.Create(2 * 1.6666665459e-1f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, r, Vector{{bits}}.Create(2 * 5.0000001201e-1f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, r * r, Vector{{bits}}.MultiplyAddEstimate(r, Vector{{bits}}.Create(2f), Vector{{bits}}.Create(2f)));
                    var e = p * (Vector{{bits}}.ShiftLeft(t.AsInt32(), 23) + Vector{{bits}}.Create(126 << 23)).AsSingle();
                    return Vector{{bits}}.ConditionalSelect(Vector{{bits}}.LessThan(x, Vector{{bits}}.Create(-86f)), Vector{{bits}}<float>.Zero, e);
                }


            """,
        "tanh" => $$"""
                [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
                private static Vector{{bits}}<float> Tanh(Vector{{bits}}<float> x)
                {
                    var ax = Vector{{bits}}.Abs(x);
                    var x2 = x * x;
                    var p = Vector{{bits}}.Create(6404582f / 10854718875f);
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(-929569f / 638512875f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(21844f / 6081075f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(-1382f / 155925f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(62f / 2835f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(-17f / 315f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(2f / 15f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(-1f / 3f));
                    var small = x + x * x2 * p;
                    var large = Vector{{bits}}<float>.One - Vector{{bits}}.Create(2f) / (Exp(ax + ax) + Vector{{bits}}<float>.One);
                    var signed = (large.AsUInt32() | (x.AsUInt32() & Vector{{bits}}.Create(0x80000000u))).AsSingle();
                    return Vector{{bits}}.ConditionalSelect(Vector{{bits}}.LessThan(ax, Vector{{bits}}.Create(0.55f)), small, signed);
                }


            """,
        "erf" => $$"""
                [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
                private static Vector{{bits}}<float> Erf(Vector{{bits}}<float> x)
                {
                    var ax = Vector{{bits}}.Abs(x);
                    var x2 = x * x;
                    var p = Vector{{bits}}.Create(7.898209878476337e-05f);
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(-0.0008024353883229196f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(0.00519005348905921f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(-0.026854809373617172f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(0.11283612251281738f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(-0.3761262893676758f));
                    p = Vector{{bits}}.MultiplyAddEstimate(p, x2, Vector{{bits}}.Create(1.128379225730896f));
                    var small = x * p;
                    var z = Vector{{bits}}.Min(Vector{{bits}}.Max(ax, Vector{{bits}}<float>.One), Vector{{bits}}.Create(4f));
                    var q = Vector{{bits}}<float>.One / z;
                    var c = Vector{{bits}}.Create(0.03206583485007286f);
                    c = Vector{{bits}}.MultiplyAddEstimate(c, q, Vector{{bits}}.Create(-0.18719515204429626f));
                    c = Vector{{bits}}.MultiplyAddEstimate(c, q, Vector{{bits}}.Create(0.4562140107154846f));
                    c = Vector{{bits}}.MultiplyAddEstimate(c, q, Vector{{bits}}.Create(-0.5615038871765137f));
                    c = Vector{{bits}}.MultiplyAddEstimate(c, q, Vector{{bits}}.Create(0.25932660698890686f));
                    c = Vector{{bits}}.MultiplyAddEstimate(c, q, Vector{{bits}}.Create(0.2187654823064804f));
                    c = Vector{{bits}}.MultiplyAddEstimate(c, q, Vector{{bits}}.Create(-0.37169361114501953f));
                    c = Vector{{bits}}.MultiplyAddEstimate(c, q, Vector{{bits}}.Create(0.019603915512561798f));
                    c = Vector{{bits}}.MultiplyAddEstimate(c, q, Vector{{bits}}.Create(0.5618857145309448f));
                    c = Vector{{bits}}.MultiplyAddEstimate(c, q, Vector{{bits}}.Create(0.00011466929572634399f));
                    var large = Vector{{bits}}<float>.One - Exp(-(z * z)) * c;
                    large = Vector{{bits}}.ConditionalSelect(Vector{{bits}}.GreaterThanOrEqual(ax, Vector{{bits}}.Create(4f)), Vector{{bits}}<float>.One, large);
                    var signed = (large.AsUInt32() | (x.AsUInt32() & Vector{{bits}}.Create(0x80000000u))).AsSingle();
                    var e = Vector{{bits}}.ConditionalSelect(Vector{{bits}}.LessThanOrEqual(ax, Vector{{bits}}<float>.One), small, signed);
                    return Vector{{bits}}.ConditionalSelect(Vector{{bits}}.Equals(x, x), e, x); // NaN stays NaN
                }


            """,
        "exp_scalar" => ExpScalar(),
        "erf_scalar" => $$"""
                private static float ErfScalar(float x)
                {
                    float ax = MathF.Abs(x);
                    if (float.IsNaN(x)) return x;
                    if (ax <= 1f)
                    {
                        float x2 = x * x;
                        float p = 7.898209878476337e-05f;
                        p = p * x2 + -0.0008024353883229196f;
                        p = p * x2 + 0.00519005348905921f;
                        p = p * x2 + -0.026854809373617172f;
                        p = p * x2 + 0.11283612251281738f;
                        p = p * x2 + -0.3761262893676758f;
                        p = p * x2 + 1.128379225730896f;
                        return x * p;
                    }
                    if (ax >= 4f) return MathF.CopySign(1f, x);
                    float q = 1f / ax;
                    float c = 0.03206583485007286f;
                    c = c * q + -0.18719515204429626f;
                    c = c * q + 0.4562140107154846f;
                    c = c * q + -0.5615038871765137f;
                    c = c * q + 0.25932660698890686f;
                    c = c * q + 0.2187654823064804f;
                    c = c * q + -0.37169361114501953f;
                    c = c * q + 0.019603915512561798f;
                    c = c * q + 0.5618857145309448f;
                    c = c * q + 0.00011466929572634399f;
                    return MathF.CopySign(1f - MathF.Exp(-(ax * ax)) * c, x);
                }


            """,
        "mask32" => MaskOfBytes(bits, DType.Float32),
        "mask64" => MaskOfBytes(bits, DType.Float64),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>
    /// The scalar loops' float32 exp: the table exp element by element (the table a constant span), so
    /// that an element gets the same bits in a vector loop and in its remainder, and from LLVM's kernels.
    /// </summary>
    private static string ExpScalar()
    {
        var k = TableExpLiterals(8);
        return $$"""
                [MethodImpl(MethodImplOptions.AggressiveInlining)]
                private static float ExpScalar(float x)
                {
                    ReadOnlySpan<int> table = [{{k.Table}}];
                    float t = MathF.FusedMultiplyAdd(MathF.Min(x, {{k.Top}}), {{k.Log2E8}}, {{k.Round}});
                    float n = t - {{k.Round}};
                    float r = MathF.FusedMultiplyAdd(n, -{{k.Hi}}, x);
                    r = MathF.FusedMultiplyAdd(n, -{{k.Lo}}, r);
                    float q = MathF.FusedMultiplyAdd({{k.C4}}, r, {{k.C3}});
                    q = MathF.FusedMultiplyAdd(q, r, {{k.C2}});
                    q = MathF.FusedMultiplyAdd(q, r, 1f) * r;
                    int bits = BitConverter.SingleToInt32Bits(t);
                    float s = BitConverter.Int32BitsToSingle(table[bits & 7] + (bits << 20));
                    return x < {{k.Bottom}} ? 0f : MathF.FusedMultiplyAdd(s, q, s);
                }


            """;
    }

    /// <summary>TableExp's constants as C# float literals, and its table for <paramref name="lanes"/> lanes.</summary>
    private sealed record TableExpText(string Table, string Top, string Bottom, string Log2E8, string Round, string Hi, string Lo, string C2, string C3, string C4);

    private static TableExpText TableExpLiterals(int lanes)
    {
        static string F(float v) => v.ToString("R", CultureInfo.InvariantCulture) + "f";
        return new(string.Join(", ", TableExp.Entries(lanes).Select(e => e.ToString(CultureInfo.InvariantCulture))),
            F(TableExp.Top), F(TableExp.Bottom), F(TableExp.Log2E8), F(TableExp.Round), F(TableExp.Ln2Over8Hi), F(TableExp.Ln2Over8Lo),
            F(TableExp.C2), F(TableExp.C3), F(TableExp.C4));
    }

    /// <summary>
    /// Exp through a table of 2^(j/8) (see above), for the instruction set with a permute over the
    /// vector's lanes; without it (the JIT drops the other branch) Cephes' polynomial.
    /// </summary>
    private static string ExpFromTable(int bits)
    {
        var (isa, permute) = bits == 256 ? ("Avx2", "PermuteVar8x32") : ("Avx512F", "PermuteVar16x32");
        var k = TableExpLiterals(bits / 32);
        var v = $"Vector{bits}";
        return $$"""
                [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
                private static {{v}}<float> Exp({{v}}<float> x)
                {
                    if (!System.Runtime.Intrinsics.X86.{{isa}}.IsSupported) return ExpPolynomial(x);
                    var t = {{v}}.MultiplyAddEstimate({{v}}.Min(x, {{v}}.Create({{k.Top}})), {{v}}.Create({{k.Log2E8}}), {{v}}.Create({{k.Round}}));
                    var n = t - {{v}}.Create({{k.Round}});
                    var r = {{v}}.MultiplyAddEstimate(n, {{v}}.Create(-{{k.Hi}}), x);
                    r = {{v}}.MultiplyAddEstimate(n, {{v}}.Create(-{{k.Lo}}), r);
                    var q = {{v}}.MultiplyAddEstimate({{v}}.Create({{k.C4}}), r, {{v}}.Create({{k.C3}}));
                    q = {{v}}.MultiplyAddEstimate(q, r, {{v}}.Create({{k.C2}}));
                    q = {{v}}.MultiplyAddEstimate(q, r, {{v}}<float>.One) * r;
                    var table = {{v}}.Create({{k.Table}});
                    var s = (System.Runtime.Intrinsics.X86.{{isa}}.{{permute}}(table, t.AsInt32()) + {{v}}.ShiftLeft(t.AsInt32(), 20)).AsSingle();
                    var e = {{v}}.MultiplyAddEstimate(s, q, s);
                    return {{v}}.AndNot(e, {{v}}.LessThan(x, {{v}}.Create({{k.Bottom}})));
                }


            """;
    }
}
