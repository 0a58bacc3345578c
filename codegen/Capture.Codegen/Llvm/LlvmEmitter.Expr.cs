namespace Capture.Codegen.Llvm;

// Scalar LLVM IR for kernel expressions. No fast-math flags: each operation rounds as torch's does
// (LLVM only contracts or reorders what it is told to). Float32 exp, tanh and erf are helpers
// below written in plain arithmetic and selects, always inlined, so that the loop vectorizer turns
// the loops that call them into vector code (exp, with AVX2, through its vector variant: see
// TableExpIr); the rest are LLVM intrinsics (sqrt, fabs, rint vectorize; log, sin, cos, pow and
// float64 exp become libm calls).
public static partial class LlvmEmitter
{
    /// <summary>How an expression names an operand's element and an earlier statement's value.</summary>
    internal sealed record Names(Func<KLoad, string> Load, Func<KTemp, string> Temp);

    private static string Value(IrFunction f, KExpr e, Names names, IrModule declares) => e switch
    {
        KLoad l => names.Load(l),
        KTemp t => names.Temp(t),
        KConst { Type: DType.Int64 or DType.Int32 or DType.Bool } c => IrFunction.Literal(c.IntegerValue, c.Type),
        KConst c => IrFunction.Literal(c.Value, c.Type),
        KCast c => Cast(f, Value(f, c.Value, names, declares), c.Value.Type, c.Type, declares),
        KCall c => Call(f, c, c.Args.Select(a => Value(f, a, names, declares)).ToList(), declares),
        _ => throw new NotSupportedException($"LLVM kernels: expression {e}"),
    };

    private static string Intrinsic(IrModule declares, string name, string type, int arity = 1)
    {
        declares.Add($"declare {type} @{name}({string.Join(", ", Enumerable.Repeat(type, arity))})");
        return $"@{name}";
    }

    private static string Suffix(DType t) => t == DType.Float32 ? "f32" : "f64";

    private static string Cast(IrFunction f, string value, DType from, DType to, IrModule declares)
    {
        if (from == to) return value;
        string ft = IrFunction.Type(from), tt = IrFunction.Type(to);
        bool fromFloat = from.IsFloatingPoint(), toFloat = to.IsFloatingPoint();
        if (to == DType.Bool) return fromFloat ? f.Let($"fcmp une {ft} {value}, 0.0") : f.Let($"icmp ne {ft} {value}, 0");
        if (from == DType.Bool) return toFloat ? f.Let($"uitofp i1 {value} to {tt}") : f.Let($"zext i1 {value} to {tt}");
        if (fromFloat && toFloat) return f.Let($"{(IrFunction.Bytes(to) > IrFunction.Bytes(from) ? "fpext" : "fptrunc")} {ft} {value} to {tt}");
        if (fromFloat)
        {
            // truncation toward zero; saturating, so that NaN or an out-of-range value is a number, not poison
            var name = $"llvm.fptosi.sat.{tt}.{Suffix(from)}";
            declares.Add($"declare {tt} @{name}({ft})");
            return f.Let($"call {tt} @{name}({ft} {value})");
        }
        if (toFloat) return f.Let($"sitofp {ft} {value} to {tt}");
        return f.Let($"{(IrFunction.Bytes(to) > IrFunction.Bytes(from) ? "sext" : "trunc")} {ft} {value} to {tt}");
    }

    private static string Call(IrFunction f, KCall c, List<string> a, IrModule declares)
    {
        var t = c.Args[^1].Type; // the computation's type (where: its branches')
        var ty = IrFunction.Type(t);
        var fl = t.IsFloatingPoint();
        var boolean = t == DType.Bool;
        var one = IrFunction.Literal(1, t);
        var zero = IrFunction.Literal(0, t);
        string Unary(string name) => f.Let($"call {ty} {Intrinsic(declares, $"llvm.{name}.{Suffix(t)}", ty)}({ty} {a[0]})");
        string Exp(string x) => t == DType.Float32
            ? f.Let($"call float @capture_exp_f32(float {x})")
            : f.Let($"call double {Intrinsic(declares, "llvm.exp.f64", "double")}(double {x})");
        string Compare(string fp, string signed, string unsigned) =>
            f.Let(fl ? $"fcmp {fp} {ty} {a[0]}, {a[1]}" : $"icmp {(boolean ? unsigned : signed)} {ty} {a[0]}, {a[1]}");
        string Extreme(bool max)
        {
            if (boolean) return f.Let($"{(max ? "or" : "and")} i1 {a[0]}, {a[1]}");
            if (!fl) return f.Let($"select i1 {f.Let($"icmp {(max ? "sgt" : "slt")} {ty} {a[0]}, {a[1]}")}, {ty} {a[0]}, {ty} {a[1]}");
            // torch.maximum/minimum propagate NaN from either side
            var pick = f.Let($"select i1 {f.Let($"fcmp {(max ? "ogt" : "olt")} {ty} {a[0]}, {a[1]}")}, {ty} {a[0]}, {ty} {a[1]}");
            return f.Let($"select i1 {f.Let($"fcmp uno {ty} {a[0]}, 0.0")}, {ty} {a[0]}, {ty} {pick}");
        }
        // lowering gives each function only the types KernelFunctions' table allows; the rest is a bug
        string Unsupported() => throw new InvalidOperationException($"LLVM kernels: {c.Function.Name()} on {t.TorchName()}");
        string FloatOnly(Func<string> emit) => fl ? emit() : Unsupported();
        return c.Function switch
        {
            KernelFunction.Add => f.Let(fl ? $"fadd {ty} {a[0]}, {a[1]}" : boolean ? $"or i1 {a[0]}, {a[1]}" : $"add {ty} {a[0]}, {a[1]}"),
            KernelFunction.Sub => boolean ? Unsupported() : f.Let(fl ? $"fsub {ty} {a[0]}, {a[1]}" : $"sub {ty} {a[0]}, {a[1]}"),
            KernelFunction.Mul => f.Let(fl ? $"fmul {ty} {a[0]}, {a[1]}" : boolean ? $"and i1 {a[0]}, {a[1]}" : $"mul {ty} {a[0]}, {a[1]}"),
            KernelFunction.Div => FloatOnly(() => f.Let($"fdiv {ty} {a[0]}, {a[1]}")),
            KernelFunction.Neg => boolean ? Unsupported() : f.Let(fl ? $"fneg {ty} {a[0]}" : $"sub {ty} 0, {a[0]}"),
            KernelFunction.Abs => fl ? Unary("fabs")
                : boolean ? Unsupported()
                : f.Let($"select i1 {f.Let($"icmp slt {ty} {a[0]}, 0")}, {ty} {f.Let($"sub {ty} 0, {a[0]}")}, {ty} {a[0]}"),
            // relu keeps NaN (x < 0 is false for it)
            KernelFunction.Relu => boolean ? Unsupported()
                : f.Let($"select i1 {f.Let(fl ? $"fcmp olt {ty} {a[0]}, {zero}" : $"icmp slt {ty} {a[0]}, 0")}, {ty} {zero}, {ty} {a[0]}"),
            KernelFunction.Exp => FloatOnly(() => Exp(a[0])),
            KernelFunction.Log => FloatOnly(() => Unary("log")),
            KernelFunction.Sin => FloatOnly(() => Unary("sin")),
            KernelFunction.Cos => FloatOnly(() => Unary("cos")),
            KernelFunction.Sqrt => FloatOnly(() => Unary("sqrt")),
            KernelFunction.Rsqrt => FloatOnly(() => f.Let($"fdiv {ty} {one}, {Unary("sqrt")}")),
            KernelFunction.Reciprocal => FloatOnly(() => f.Let($"fdiv {ty} {one}, {a[0]}")),
            KernelFunction.Sigmoid => FloatOnly(() => f.Let($"fdiv {ty} {one}, {f.Let($"fadd {ty} {one}, {Exp(f.Let($"fneg {ty} {a[0]}"))}")}")),
            KernelFunction.Tanh => t switch
            {
                DType.Float32 => f.Let($"call float @capture_tanh_f32(float {a[0]})"),
                DType.Float64 => f.Let($"call double {TanhF64(declares)}(double {a[0]})"),
                _ => Unsupported(),
            },
            KernelFunction.Erf => t == DType.Float32 ? f.Let($"call float @capture_erf_f32(float {a[0]})") : Unsupported(),
            KernelFunction.Pow => FloatOnly(() => f.Let($"call {ty} {Intrinsic(declares, $"llvm.pow.{Suffix(t)}", ty, 2)}({ty} {a[0]}, {ty} {a[1]})")),
            KernelFunction.Maximum => Extreme(max: true),
            KernelFunction.Minimum => Extreme(max: false),
            KernelFunction.Where => f.Let($"select i1 {a[0]}, {IrFunction.Type(c.Type)} {a[1]}, {IrFunction.Type(c.Type)} {a[2]}"),
            KernelFunction.Eq => Compare("oeq", "eq", "eq"),
            KernelFunction.Ne => Compare("une", "ne", "ne"),
            KernelFunction.Lt => Compare("olt", "slt", "ult"),
            KernelFunction.Le => Compare("ole", "sle", "ule"),
            KernelFunction.Gt => Compare("ogt", "sgt", "ugt"),
            KernelFunction.Ge => Compare("oge", "sge", "uge"),
        };
    }

    private static string TanhF64(IrModule declares)
    {
        declares.Add("declare double @tanh(double)");
        return "@tanh";
    }

    // Float32 exp, tanh and erf: the same computations as the C# kernels' vector helpers (see
    // CSharpEmitter.Vector.cs for their derivation and error bounds), as scalar IR the vectorizer
    // widens. Polynomials use llvm.fmuladd (one FMA where the host has it, as the C# helpers'
    // MultiplyAddEstimate). exp clamps with selects, not maxnum, so that NaN stays NaN. n = round(x log2 e)
    // comes from adding and subtracting 1.5 * 2^23 (round to nearest even, as Vector.Round), which
    // leaves n + 0x400000 in the sum's low mantissa bits: 2^(n-1)'s exponent field is those bits less
    // 0x4B400000 - 126 (no float-to-int conversion, which would make NaN's n poison), times 2 e^r (the
    // polynomial's coefficients doubled); from 88.72 to the clamp at 89 that overflows to inf by itself.
    private const string MathHelpers = """
        declare float @llvm.fmuladd.f32(float, float, float)
        declare float @llvm.fabs.f32(float)
        declare float @llvm.copysign.f32(float, float)
        declare float @llvm.minnum.f32(float, float)
        declare float @llvm.maxnum.f32(float, float)

        {{EXP}}

        define internal float @capture_tanh_f32(float %x) alwaysinline {
          %ax = call float @llvm.fabs.f32(float %x)
          %x2 = fmul float %x, %x
          {{TANH_P}}
          %xx2 = fmul float %x, %x2
          %xp = fmul float %xx2, %p
          %small = fadd float %x, %xp
          %ax2 = fadd float %ax, %ax
          %e = call float @capture_exp_f32(float %ax2)
          %e1 = fadd float %e, 1.0
          %q = fdiv float 2.0, %e1
          %large = fsub float 1.0, %q
          %signed = call float @llvm.copysign.f32(float %large, float %x)
          %isSmall = fcmp olt float %ax, {{TANHSMALL}}
          %t = select i1 %isSmall, float %small, float %signed
          ret float %t
        }

        define internal float @capture_erf_f32(float %x) alwaysinline {
          %ax = call float @llvm.fabs.f32(float %x)
          %x2 = fmul float %x, %x
          {{ERF_P}}
          %small = fmul float %x, %p
          %z0 = call float @llvm.maxnum.f32(float %ax, float 1.0)
          %z = call float @llvm.minnum.f32(float %z0, float 4.0)
          %q = fdiv float 1.0, %z
          {{ERF_R}}
          %zz = fmul float %z, %z
          %nzz = fneg float %zz
          %ez = call float @capture_exp_f32(float %nzz)
          %ec = fmul float %ez, %c
          %large0 = fsub float 1.0, %ec
          %beyond = fcmp oge float %ax, 4.0
          %large = select i1 %beyond, float 1.0, float %large0
          %signed = call float @llvm.copysign.f32(float %large, float %x)
          %isSmall = fcmp ole float %ax, 1.0
          %e = select i1 %isSmall, float %small, float %signed
          %nan = fcmp uno float %x, 0.0
          %r = select i1 %nan, float %x, float %e
          ret float %r
        }
        """;

    /// <summary>Cephes' exp (see above), for hosts without AVX2.</summary>
    private const string CephesExp = """
        define internal float @capture_exp_f32(float %x) alwaysinline {
          %lo = fcmp olt float %x, -86.0
          %c0 = select i1 %lo, float -86.0, float %x
          %hi = fcmp ogt float %c0, {{MAXX}}
          %c = select i1 %hi, float {{MAXX}}, float %c0
          %t = call float @llvm.fmuladd.f32(float %c, float {{LOG2E}}, float 0x4168000000000000)
          %n = fsub float %t, 0x4168000000000000
          %r0 = call float @llvm.fmuladd.f32(float %n, float {{MINUS_LN2HI}}, float %c)
          %r = call float @llvm.fmuladd.f32(float %n, float {{MINUS_LN2LO}}, float %r0)
          {{EXP_P}}
          %rr = fmul float %r, %r
          %r2 = call float @llvm.fmuladd.f32(float %r, float 2.0, float 2.0)
          %p = call float @llvm.fmuladd.f32(float %p4, float %rr, float %r2)
          %tb = bitcast float %t to i32
          %bias = sub i32 %tb, 1262485378
          %bits = shl i32 %bias, 23
          %scale = bitcast i32 %bits to float
          %e2 = fmul float %p, %scale
          %under = fcmp olt float %x, -86.0
          %e = select i1 %under, float 0.0, float %e2
          ret float %e
        }
        """;

    // exp with AVX2: the C# kernels' table exp (CSharpEmitter.Vector.cs): 2^(j/8) from a table, degree
    // 4 on |r| <= ln2/16, e^x = s + s q. The scalar helper reads the table from a constant array; its
    // vector variant (8 lanes) with one vpermd. The scalar helper names the variant
    // ("vector-function-abi-variant"), so the loop vectorizer calls the variant where it widens a loop
    // (LLVM will not turn the scalar table load into a permute: it would gather). Both stay calls
    // through O3 and are inlined after it (LlvmJit.InlineLate). The two compute the same bits, so an
    // element gives the same result in a vector loop and in its scalar remainder.
    private const string TableExpIr = """
        declare <8 x float> @llvm.fmuladd.v8f32(<8 x float>, <8 x float>, <8 x float>)
        declare <8 x i32> @llvm.x86.avx2.permd(<8 x i32>, <8 x i32>)
        @capture_exp_table = internal constant [8 x i32] [{{TABLE_I32}}]
        @llvm.compiler.used = appending global [1 x ptr] [ptr @capture_exp_f32_v8], section "llvm.metadata"

        define internal float @capture_exp_f32(float %x) noinline nounwind willreturn memory(none) "vector-function-abi-variant"="_ZGV_LLVM_N8v_capture_exp_f32(capture_exp_f32_v8)" "capture-late-inline" {
          %below = fcmp olt float %x, {{TOP}}
          %c = select i1 %below, float %x, float {{TOP}}
          %t = call float @llvm.fmuladd.f32(float %c, float {{LOG2E8}}, float {{MAGIC}})
          %n = fsub float %t, {{MAGIC}}
          %r0 = call float @llvm.fmuladd.f32(float %n, float {{MINUS_HI}}, float %x)
          %r = call float @llvm.fmuladd.f32(float %n, float {{MINUS_LO}}, float %r0)
          %q0 = call float @llvm.fmuladd.f32(float {{C4}}, float %r, float {{C3}})
          %q1 = call float @llvm.fmuladd.f32(float %q0, float %r, float {{C2}})
          %q2 = call float @llvm.fmuladd.f32(float %q1, float %r, float 1.0)
          %q = fmul float %q2, %r
          %tb = bitcast float %t to i32
          %j = and i32 %tb, 7
          %jx = zext i32 %j to i64
          %slot = getelementptr [8 x i32], ptr @capture_exp_table, i64 0, i64 %jx
          %entry = load i32, ptr %slot
          %shifted = shl i32 %tb, 20
          %sb = add i32 %entry, %shifted
          %s = bitcast i32 %sb to float
          %e = call float @llvm.fmuladd.f32(float %s, float %q, float %s)
          %under = fcmp olt float %x, {{BOTTOM}}
          %y = select i1 %under, float 0.0, float %e
          ret float %y
        }

        define internal <8 x float> @capture_exp_f32_v8(<8 x float> %x) noinline nounwind willreturn memory(none) "capture-late-inline" {
          %below = fcmp olt <8 x float> %x, {{V_TOP}}
          %c = select <8 x i1> %below, <8 x float> %x, <8 x float> {{V_TOP}}
          %t = call <8 x float> @llvm.fmuladd.v8f32(<8 x float> %c, <8 x float> {{V_LOG2E8}}, <8 x float> {{V_MAGIC}})
          %n = fsub <8 x float> %t, {{V_MAGIC}}
          %r0 = call <8 x float> @llvm.fmuladd.v8f32(<8 x float> %n, <8 x float> {{V_MINUS_HI}}, <8 x float> %x)
          %r = call <8 x float> @llvm.fmuladd.v8f32(<8 x float> %n, <8 x float> {{V_MINUS_LO}}, <8 x float> %r0)
          %q0 = call <8 x float> @llvm.fmuladd.v8f32(<8 x float> {{V_C4}}, <8 x float> %r, <8 x float> {{V_C3}})
          %q1 = call <8 x float> @llvm.fmuladd.v8f32(<8 x float> %q0, <8 x float> %r, <8 x float> {{V_C2}})
          %q2 = call <8 x float> @llvm.fmuladd.v8f32(<8 x float> %q1, <8 x float> %r, <8 x float> {{V_ONE}})
          %q = fmul <8 x float> %q2, %r
          %tb = bitcast <8 x float> %t to <8 x i32>
          %entry = call <8 x i32> @llvm.x86.avx2.permd(<8 x i32> <{{TABLE_I32}}>, <8 x i32> %tb)
          %shifted = shl <8 x i32> %tb, {{V_TWENTY}}
          %sb = add <8 x i32> %entry, %shifted
          %s = bitcast <8 x i32> %sb to <8 x float>
          %e = call <8 x float> @llvm.fmuladd.v8f32(<8 x float> %s, <8 x float> %q, <8 x float> %s)
          %under = fcmp olt <8 x float> %x, {{V_BOTTOM}}
          %y = select <8 x i1> %under, <8 x float> zeroinitializer, <8 x float> %e
          ret <8 x float> %y
        }
        """;

    // Cephes' expf polynomial on r, and tanh's odd Taylor coefficients (x^17 down to x^3) on x^2
    private static readonly float[] ExpP = [1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f];
    private static readonly float[] TanhP = [6404582f / 10854718875f, -929569f / 638512875f, 21844f / 6081075f, -1382f / 155925f, 62f / 2835f, -17f / 315f, 2f / 15f, -1f / 3f];
    private static readonly float[] ErfP = [7.898209878476337e-05f, -0.0008024353883229196f, 0.00519005348905921f, -0.026854809373617172f, 0.11283612251281738f, -0.3761262893676758f, 1.128379225730896f];
    private static readonly float[] ErfR = [0.03206583485007286f, -0.18719515204429626f, 0.4562140107154846f, -0.5615038871765137f, 0.25932660698890686f, 0.2187654823064804f, -0.37169361114501953f, 0.019603915512561798f, 0.5618857145309448f, 0.00011466929572634399f];

    /// <summary>
    /// The helpers <paramref name="module"/> calls (tanh and erf call exp), with the intrinsics they
    /// declare, their coefficients written as exact float literals; none when it calls none (LLVM would
    /// parse and optimize them only to drop them).
    /// </summary>
    private static string Helpers(string module)
    {
        var used = new[] { "tanh", "erf" }.Where(h => module.Contains($"@capture_{h}_f32(")).ToList();
        if (used.Count == 0 && !module.Contains("@capture_exp_f32(")) return "";
        var text = AllHelpers();
        var start = text.IndexOf("define internal", StringComparison.Ordinal);
        var declarations = text[..start];
        var functions = text[start..].Split("\n\n").Where(f => f.Contains("@capture_exp_f32(float %x)") || f.Contains("@capture_exp_f32_v8(<8 x float> %x)") || used.Any(h => f.Contains($"@capture_{h}_f32(float %x)")));
        return declarations + string.Join("\n\n", functions).TrimEnd() + "\n";
    }

    /// <summary>Whether exp is the table exp (the host has AVX2's vpermd); otherwise Cephes'.</summary>
    internal static bool TableExpSupported => System.Runtime.Intrinsics.X86.Avx2.IsSupported;

    private static string TableExpText()
    {
        static string F(double v) => IrFunction.Literal(v, DType.Float32);
        static string V(string scalar, string type = "float") => $"<{string.Join(", ", Enumerable.Repeat($"{type} {scalar}", 8))}>";
        var table = string.Join(", ", TableExp.Entries(8).Select(e => $"i32 {e}"));
        var (top, log2e8, hi, lo, bottom) = (F(TableExp.Top), F(TableExp.Log2E8), F(-TableExp.Ln2Over8Hi), F(-TableExp.Ln2Over8Lo), F(TableExp.Bottom));
        var (c4, c3, c2) = (F(TableExp.C4), F(TableExp.C3), F(TableExp.C2));
        var magic = F(TableExp.Round);
        return TableExpIr.Trim()
            .Replace("{{TABLE_I32}}", table)
            .Replace("{{V_TOP}}", V(top)).Replace("{{V_LOG2E8}}", V(log2e8)).Replace("{{V_MAGIC}}", V(magic))
            .Replace("{{V_MINUS_HI}}", V(hi)).Replace("{{V_MINUS_LO}}", V(lo)).Replace("{{V_BOTTOM}}", V(bottom))
            .Replace("{{V_C4}}", V(c4)).Replace("{{V_C3}}", V(c3)).Replace("{{V_C2}}", V(c2)).Replace("{{V_ONE}}", V("1.0"))
            .Replace("{{V_TWENTY}}", V("20", "i32"))
            .Replace("{{TOP}}", top).Replace("{{LOG2E8}}", log2e8).Replace("{{MINUS_HI}}", hi).Replace("{{MINUS_LO}}", lo)
            .Replace("{{BOTTOM}}", bottom).Replace("{{MAGIC}}", magic).Replace("{{C4}}", c4).Replace("{{C3}}", c3).Replace("{{C2}}", c2);
    }

    private static string AllHelpers()
    {
        static string F(double v) => IrFunction.Literal(v, DType.Float32);
        static string Horner(float[] c, string variable, string result)
        {
            var lines = new List<string>();
            var acc = F(c[0]);
            for (var i = 1; i < c.Length; i++)
            {
                var name = i == c.Length - 1 ? result : $"{result}{i}";
                lines.Add($"%{name} = call float @llvm.fmuladd.f32(float {acc}, float %{variable}, float {F(c[i])})");
                acc = $"%{name}";
            }
            return string.Join("\n  ", lines);
        }
        return MathHelpers
            .Replace("{{EXP}}", TableExpSupported ? TableExpText() : CephesExp.Trim())
            .Replace("{{MAXX}}", F(89f)).Replace("{{LOG2E}}", F(1.44269504088896341f)).Replace("{{MINUS_LN2HI}}", F(-0.693359375f))
            .Replace("{{MINUS_LN2LO}}", F(2.12194440e-4f)).Replace("{{TANHSMALL}}", F(0.55f))
            .Replace("{{EXP_P}}", Horner([.. ExpP.Select(c => 2 * c)], "r", "p4")).Replace("{{TANH_P}}", Horner(TanhP, "x2", "p"))
            .Replace("{{ERF_P}}", Horner(ErfP, "x2", "p")).Replace("{{ERF_R}}", Horner(ErfR, "q", "c"));
    }
}
