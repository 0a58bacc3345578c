using System.Text;

namespace Capture.Codegen;

// Reduction kernels: work items are rows (the outer dims); a row is the reduced dims collapsed into
// one (operand strides: one per outer dim, then one along the row). Per row:
//   row statements that read only row operands,
//   one pass over the row per level of reductions (level = how many reductions a value waits
//   for: softmax's max is level 1, its sum of exp(x - max) level 2), accumulating that level's
//   reductions in vectors per block of the row (then in a scalar per row: a two-level sum),
//   the row statements that level makes computable,
//   a last pass computing and storing the element outputs, then the row outputs.
// An element value an earlier pass computed is computed again where a later pass needs it, unless
// it is expensive (a transcendental function, a division): then the first pass keeps it in a row
// scratch buffer and later passes load it.
public static partial class CSharpEmitter
{
    private static void EmitReduction(StringBuilder text, Kernel k, KernelSchedule schedule, HashSet<string> helpers)
    {
        var outer = k.OuterRank;
        var length = k.RowLength;
        var rows = k.Domain.Take(outer).Aggregate(1L, (a, b) => a * b);
        var block = Math.Max(1, Math.Min(length, schedule.BlockElements));
        // a dynamic row: its length (and its block) read at run time
        var lengthText = k.DynamicRow ? "len" : $"{length}L";
        var blockText = k.DynamicRow ? "block" : $"{block}L";
        var plan = RowPlan.Of(k);
        var vector = NotVectorizedReduction(k, schedule.VectorBits) is null ? LaneType(k) : (DType?)null;
        var v = $"Vector{schedule.VectorBits}";
        var lanes = vector is { } vt ? schedule.VectorBits / (vt == DType.Float32 ? 32 : 64) : 1;

        text.Append($"    // kernel for fusion group g{k.Group}: {string.Join(", ", k.Body.Select(s => s.Node))}\n");
        text.Append($"    // rows [{string.Join(", ", (k.SymbolicDomain?.Select(d => d.ToString()) ?? k.Domain.Select(d => d.ToString())).Take(outer))}] of {length} (dims [{string.Join(", ", k.Domain.Skip(outer))}] reduced); ");
        text.Append($"{plan.Passes} reduction pass{(plan.Passes == 1 ? "" : "es")} then a store pass\n");
        text.Append($"    // operands: {string.Join(", ", k.Operands.Select((o, i) => $"{i} {(o.IsOutput ? "writes" : "reads")} {o.Value}{(o.Row ? " (per row)" : "")}"))}\n");
        text.Append(vector is null
            ? $"    // scalar loops: {NotVectorizedReduction(k, schedule.VectorBits)}\n"
            : $"    // rows in {v}<{Type(vector.Value)}> when strides along the row are ({string.Join(", ", k.Operands.Select(o => o.Row ? "-" : o.InnerStride?.ToString()))})\n");
        // outer dims over dynamic sizes: the rows and their sizes are read from the strides array (Kernel.SizesAt)
        var dynamic = k.SymbolicDomain is not null;
        var at = k.SizesAt;
        if (dynamic) text.Append($"    // sizes read at run time: domain at s[{at}..{at + k.Domain.Count - 1}], rows at s[{at + k.Domain.Count + 3}]\n");
        EmitEntry(text, k, schedule, $"{k.Name}_rows", rows);

        text.Append($"    {Optimized}\n    private static void {k.Name}_rows(long first, long last, nint* p, long* s)\n    {{\n");
        for (var o = 0; o < k.Operands.Count; o++)
        {
            text.Append($"        var o{o} = ({Storage(k.Operands[o].Type)}*)p[{o}];");
            for (var d = 0; d <= outer; d++) text.Append($" long s{o}_{d} = s[{o * (outer + 1) + d}];");
            text.Append('\n');
        }
        if (vector is not null)
        {
            var full = k.Operands.Select((o, i) => (o, i)).Where(x => !x.o.Row).Select(x => $"s{x.i}_{outer} == {x.o.InnerStride}").ToList();
            text.Append($"        bool simd = {(full.Count == 0 ? "true" : string.Join(" && ", full))};\n");
        }
        if (k.DynamicRow) text.Append($"        long len = s[{k.SizesAt + k.Domain.Count + 2}], block = Math.Max(1L, Math.Min(len, {schedule.BlockElements}L));\n");
        foreach (var c in plan.Cached.Order())
            text.Append($"        var c{c} = ({Type(k.Body[c].Value.Type)}*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint){(k.DynamicRow ? "Math.Max(1L, len)" : Math.Max(1, length).ToString())}, (nuint)sizeof({Type(k.Body[c].Value.Type)})); // {k.Body[c].Node}, kept for a later pass\n");
        if (plan.Cached.Count > 0) text.Append("        try\n        {\n");
        text.Append("        for (long row = first; row < last; row++)\n        {\n");
        if (outer >= 1)
        {
            text.Append("            long r = row;\n");
            for (var d = outer - 1; d >= 1; d--)
            {
                var size = dynamic ? $"s[{at + d}]" : $"{k.Domain[d]}L";
                text.Append($"            long i{d} = r % {size}; r /= {size};\n");
            }
            text.Append("            long i0 = r;\n");
        }
        for (var o = 0; o < k.Operands.Count; o++)
            text.Append($"            long b{o} = {(outer == 0 ? "0" : string.Join(" + ", Enumerable.Range(0, outer).Select(d => $"i{d} * s{o}_{d}")))};\n");
        // the row's first element per operand, where the vector loops read and write
        if (vector is not null)
            for (var o = 0; o < k.Operands.Count; o++)
                if (!k.Operands[o].Row) text.Append($"            var q{o} = o{o} + b{o};\n");
        var streaming = vector is not null && schedule.Streams(k);
        if (streaming) text.Append(StreamingCheck(k.Stores.Where(x => !k.Body[x.Statement].Row).Select(x => $"q{x.Operand}"), schedule.VectorBits));
        // the next row of each input (RowPlan.PrefetchedInputs says why), a cache line per step of one pass's vector loop
        var prefetched = vector is not null && outer >= 1 && length >= 64 && !k.DynamicRow ? RowPlan.PrefetchedInputs(k) : [];
        foreach (var o in prefetched) text.Append($"            var n{o} = q{o} + s{o}_{outer - 1};\n");
        var prefetchPass = plan.PrefetchPass(k);

        var rowNames = new Names(l => $"o{l.Operand}[b{l.Operand}]", t => $"r{t.Index}");
        void RowStatements(int level)
        {
            for (var i = 0; i < k.Body.Count; i++)
                if (k.Body[i].Row && k.Body[i].Value is not KReduce && plan.Level[i] == level)
                    text.Append($"            {Type(k.Body[i].Value.Type)} r{i} = {Expr(k.Body[i].Value, rowNames)}; // {k.Body[i].Node}\n");
        }
        RowStatements(0);
        for (var pass = 0; pass <= plan.Passes; pass++)
        {
            var reductions = plan.Reductions(k, pass);
            var stores = plan.Stores(k, pass);
            if (pass == plan.Passes && stores.Count == 0) break;
            text.Append(pass < plan.Passes
                ? $"            // pass {pass + 1}: {string.Join(", ", reductions.Select(i => k.Body[i].Node))}\n"
                : "            // store pass\n");
            foreach (var i in reductions)
                text.Append($"            {Type(k.Body[i].Value.Type)} a{i} = {Initial((KReduce)k.Body[i].Value, k.Body[i].Value.Type)};\n");
            text.Append($"            for (long j0 = 0; j0 < {lengthText}; j0 += {blockText})\n            {{\n");
            text.Append($"                long j1 = Math.Min(j0 + {blockText}, {lengthText}), j = j0;\n");
            if (vector is { } t) EmitRowVectorLoop(text, k, plan, pass, reductions, stores, t, v, lanes, helpers, streaming, pass == prefetchPass ? prefetched : []);
            // scalar loop: the rest of the block, and every element when strides do not suit the vectors
            text.Append("                for (; j < j1; j++)\n                {\n");
            var operandsRead = plan.Computed[pass].SelectMany(i => KernelExprs.Loads(k.Body[i].Value))
                .Concat(reductions.SelectMany(i => KernelExprs.Loads(k.Body[i].Value))).Concat(stores.Select(x => x.Operand)).Distinct().Order();
            foreach (var o in operandsRead) text.Append($"                    long f{o} = b{o} + j * s{o}_{outer};\n");
            var elementNames = new Names(l => $"o{l.Operand}[f{l.Operand}]", t => k.Body[t.Index].Row ? $"r{t.Index}" : $"t{t.Index}");
            for (var i = 0; i < k.Body.Count; i++)
            {
                if (plan.Loaded[pass].Contains(i))
                    text.Append($"                    {Type(k.Body[i].Value.Type)} t{i} = c{i}[j]; // {k.Body[i].Node}, from pass {plan.FirstPass[i] + 1}\n");
                else if (plan.Computed[pass].Contains(i))
                {
                    text.Append($"                    {Type(k.Body[i].Value.Type)} t{i} = {Expr(k.Body[i].Value, elementNames)}; // {k.Body[i].Node}\n");
                    if (plan.Cached.Contains(i) && plan.FirstPass[i] == pass) text.Append($"                    c{i}[j] = t{i};\n");
                }
            }
            foreach (var i in reductions)
            {
                var r = (KReduce)k.Body[i].Value;
                text.Append($"                    a{i} = {Combine(r.Function, r.Type, $"a{i}", Expr(r.Value, elementNames))};\n");
            }
            foreach (var (statement, operand) in stores)
                text.Append($"                    o{operand}[f{operand}] = {(k.Operands[operand].Type == DType.Bool ? $"(byte)(t{statement} ? 1 : 0)" : $"t{statement}")};\n");
            text.Append("                }\n            }\n");
            foreach (var i in reductions) text.Append($"            {Type(k.Body[i].Value.Type)} r{i} = a{i}; // {k.Body[i].Node}\n");
            if (pass < plan.Passes) RowStatements(pass + 1);
        }
        foreach (var (statement, operand) in k.Stores.Where(x => k.Body[x.Statement].Row))
            text.Append($"            o{operand}[b{operand}] = {(k.Operands[operand].Type == DType.Bool ? $"(byte)(r{statement} ? 1 : 0)" : $"r{statement}")};\n");
        text.Append("        }\n");
        if (streaming) text.Append(StoreFence);
        if (plan.Cached.Count > 0)
        {
            text.Append("        }\n        finally\n        {\n");
            foreach (var c in plan.Cached.Order()) text.Append($"            System.Runtime.InteropServices.NativeMemory.Free(c{c});\n");
            text.Append("        }\n");
        }
        text.Append("    }\n\n");
    }

    private static void EmitRowVectorLoop(StringBuilder text, Kernel k, RowPlan plan, int pass, List<int> reductions,
        List<(int Statement, int Operand)> stores, DType t, string v, int lanes, HashSet<string> helpers, bool streaming, List<int> prefetched)
    {
        var exprs = plan.Computed[pass].Select(i => k.Body[i].Value).Concat(reductions.Select(i => ((KReduce)k.Body[i].Value).Value)).ToList();
        var operands = exprs.SelectMany(KernelExprs.Loads).Distinct().Order().ToList();
        var rowTemps = exprs.SelectMany(KernelExprs.Temps).Where(i => k.Body[i].Row).Distinct().Order().ToList();
        text.Append("                if (simd)\n                {\n");
        foreach (var o in operands.Where(o => k.Operands[o].InnerStride == 0))
            text.Append($"                    var w{o} = {Broadcast(k.Operands[o], $"o{o}[b{o}]", t, v, helpers)}; // broadcast along the row\n");
        foreach (var i in rowTemps) text.Append($"                    var vr{i} = {v}.Create(r{i});\n");
        foreach (var i in reductions)
            text.Append($"                    var va{i} = {v}.Create({Initial((KReduce)k.Body[i].Value, t)});\n");
        // Steps of several vectors: reductions accumulate in four vectors, four vectors of the row at
        // a time, so that the adds (or max/min) of one accumulator do not wait on one another. Not
        // where the pass computes something expensive: that hides the adds' latency already, and four
        // copies of it would not fit in the registers. The pass that prefetches steps a cache line at
        // least, with one prefetch per line. Then one vector at a time.
        var cheap = !plan.Computed[pass].Any(i => KernelExprs.CallsExpensive(k.Body[i].Value));
        var own = reductions.Count > 0 && cheap;
        var vectorBytes = lanes * (t == DType.Float32 ? 4 : 8);
        var unroll = own ? Unroll : prefetched.Count > 0 ? Math.Max(1, 64 / vectorBytes) : 1;
        if (own)
            foreach (var i in reductions)
                for (var q = 1; q < Unroll; q++)
                    text.Append($"                    var va{i}_{q} = {v}.Create({Initial((KReduce)k.Body[i].Value, t)});\n");
        void Loops(string indent, StoreKind kind)
        {
            if (unroll > 1 || prefetched.Count > 0)
            {
                text.Append($"{indent}for (; j <= j1 - {unroll * lanes}; j += {unroll * lanes})\n{indent}{{\n");
                for (var line = 0; line < unroll * vectorBytes / 64; line++)
                    foreach (var o in prefetched)
                        text.Append($"{indent}    if (System.Runtime.Intrinsics.X86.Sse.IsSupported) System.Runtime.Intrinsics.X86.Sse.Prefetch0(n{o} + j{(line == 0 ? "" : $" + {line * 64 / vectorBytes * lanes}")});\n");
                for (var q = 0; q < unroll; q++) EmitRowVectorBody(text, k, plan, pass, reductions, stores, t, v, lanes, helpers, q, kind, indent + "    ", own);
                text.Append($"{indent}}}\n");
            }
            text.Append($"{indent}for (; j <= j1 - {lanes}; j += {lanes})\n{indent}{{\n");
            EmitRowVectorBody(text, k, plan, pass, reductions, stores, t, v, lanes, helpers, 0, kind, indent + "    ", own);
            text.Append($"{indent}}}\n");
        }
        // streamed rows: the store kind is chosen once per row, not per vector
        if (streaming && stores.Count > 0)
        {
            text.Append("                    if (nt)\n                    {\n");
            Loops("                        ", StoreKind.Streamed);
            text.Append("                    }\n                    else\n                    {\n");
            Loops("                        ", StoreKind.Cached);
            text.Append("                    }\n");
        }
        else Loops("                    ", StoreKind.Cached);
        foreach (var i in own ? reductions : [])
        {
            var r = (KReduce)k.Body[i].Value;
            var parts = Enumerable.Range(1, Unroll - 1).Select(q => $"va{i}_{q}").ToList();
            text.Append(r.Function == KernelReduction.Sum
                ? $"                    va{i} = va{i} + {string.Join(" + ", parts)};\n"
                : $"                    va{i} = {string.Join("", parts.Select(_ => $"{v}.{(r.Function == KernelReduction.Max ? "Max" : "Min")}("))}va{i}, {string.Join("), ", parts)});\n");
        }
        foreach (var i in reductions)
        {
            var r = (KReduce)k.Body[i].Value;
            if (r.Function == KernelReduction.Sum) text.Append($"                    a{i} += {v}.Sum(va{i});\n");
            else
            {
                // halved down to 128 bits (one vector max per halving), then its few lanes one by one:
                // a short row (a softmax over 8-64 positions) spends most of its time here
                var op = r.Function == KernelReduction.Max ? "Max" : "Min";
                var width = int.Parse(v["Vector".Length..], System.Globalization.CultureInfo.InvariantCulture);
                var (current, bits) = ($"va{i}", width);
                for (; bits > 128; bits /= 2)
                {
                    text.Append($"                    var h{i}_{bits / 2} = Vector{bits / 2}.{op}({current}.GetLower(), {current}.GetUpper());\n");
                    current = $"h{i}_{bits / 2}";
                }
                text.Append($"                    for (int l = 0; l < {lanes * bits / width}; l++) a{i} = {Combine(r.Function, t, $"a{i}", $"{current}.GetElement(l)")};\n");
            }
        }
        text.Append("                }\n");
    }

    private const int Unroll = 4;

    /// <summary>One vector of the row (the <paramref name="q"/>-th of an unrolled step, accumulating in its own vectors where <paramref name="ownAccumulators"/>): loads, statements, accumulation, stores.</summary>
    private static void EmitRowVectorBody(StringBuilder text, Kernel k, RowPlan plan, int pass, List<int> reductions,
        List<(int Statement, int Operand)> stores, DType t, string v, int lanes, HashSet<string> helpers, int q, StoreKind kind, string indent, bool ownAccumulators)
    {
        var suffix = q == 0 ? "" : $"_{q}";
        var at = q == 0 ? "j" : $"j + {q * lanes}";
        var names = new VNames(o => k.Operands[o].InnerStride == 1 ? $"w{o}{suffix}" : $"w{o}", i => k.Body[i].Row ? $"vr{i}" : $"u{i}{suffix}");
        var exprs = plan.Computed[pass].Select(i => k.Body[i].Value).Concat(reductions.Select(i => ((KReduce)k.Body[i].Value).Value)).ToList();
        foreach (var o in exprs.SelectMany(KernelExprs.Loads).Distinct().Order().Where(o => k.Operands[o].InnerStride == 1))
            text.Append($"{indent}var w{o}{suffix} = {VectorLoad(k.Operands[o], $"q{o} + {at}", t, v, helpers)};\n");
        for (var i = 0; i < k.Body.Count; i++)
        {
            if (plan.Loaded[pass].Contains(i)) text.Append($"{indent}var u{i}{suffix} = {v}.Load(c{i} + {at}); // {k.Body[i].Node}\n");
            else if (plan.Computed[pass].Contains(i))
            {
                text.Append($"{indent}var u{i}{suffix} = {VExpr(k.Body[i].Value, t, v, helpers, names)}; // {k.Body[i].Node}\n");
                if (plan.Cached.Contains(i) && plan.FirstPass[i] == pass) text.Append($"{indent}u{i}{suffix}.Store(c{i} + {at});\n");
            }
        }
        foreach (var i in reductions)
        {
            var r = (KReduce)k.Body[i].Value;
            var x = VExpr(r.Value, t, v, helpers, names);
            var acc = ownAccumulators ? $"va{i}{suffix}" : $"va{i}";
            if (r.Function == KernelReduction.Sum) text.Append($"{indent}{acc} += {x};\n");
            else if (!t.IsFloatingPoint()) text.Append($"{indent}{acc} = {v}.{(r.Function == KernelReduction.Max ? "Max" : "Min")}({acc}, {x});\n");
            else
            {
                // vmaxps/vminps (MaxNative) give their second operand, the accumulator, when either is
                // NaN, so a NaN accumulated stays; a NaN element is taken by the select. One compare
                // and a blend instead of .NET's IEEE Max (nine instructions on x86).
                var e = $"x{i}{suffix}";
                text.Append($"{indent}var {e} = {x};\n");
                text.Append($"{indent}{acc} = {v}.ConditionalSelect({v}.IsNaN({e}), {e}, {v}.{(r.Function == KernelReduction.Max ? "MaxNative" : "MinNative")}({e}, {acc}));\n");
            }
        }
        foreach (var (statement, operand) in stores)
            text.Append($"{indent}{VectorStore($"u{statement}{suffix}", $"q{operand} + {at}", kind)}\n");
    }

    private static string Initial(KReduce r, DType t) => r.Function switch
    {
        KernelReduction.Sum => Constant(0, t),
        KernelReduction.Max => t.IsFloatingPoint() ? $"{Type(t)}.NegativeInfinity" : $"{Type(t)}.MinValue",
        KernelReduction.Min => t.IsFloatingPoint() ? $"{Type(t)}.PositiveInfinity" : $"{Type(t)}.MaxValue",
    };

    // max and min propagate NaN (MathF.Max does; so does torch.amax)
    private static string Combine(KernelReduction function, DType t, string acc, string x) => function switch
    {
        KernelReduction.Sum => $"{acc} + {x}",
        KernelReduction.Max => $"{(t.IsFloatingPoint() ? Math_(t) : "Math")}.Max({acc}, {x})",
        KernelReduction.Min => $"{(t.IsFloatingPoint() ? Math_(t) : "Math")}.Min({acc}, {x})",
    };

    /// <summary>Why a reduction kernel keeps scalar loops, or null when its passes vectorize.</summary>
    private static string? NotVectorizedReduction(Kernel k, int bits)
    {
        if (bits == 0) return "no SIMD on this machine";
        var t = LaneType(k);
        if (t is not (DType.Float32 or DType.Float64)) return $"operands of {t.TorchName()}";
        if (k.Operands.FirstOrDefault(o => o.Type != t && !(IsMaskOperand(o) && !o.Row)) is { } mixed) return $"{mixed.Value} is {mixed.Type.TorchName()}, not {t.TorchName()}";
        if (k.Operands.FirstOrDefault(o => !o.Row && (o.InnerStride is not (0 or 1) || o.IsOutput && o.InnerStride != 1)) is { } strided)
            return $"{strided.Value} has stride {strided.InnerStride?.ToString() ?? "unknown"} along the row";
        foreach (var statement in k.Body)
        {
            if (statement.Row)
            {
                if (statement.Value.Type != t) return $"{statement.Node} is {statement.Value.Type.TorchName()}";
                if (statement.Value is KReduce r && Unvectorizable(r.Value, t) is { } why) return $"{statement.Node}: {why}";
            }
            else if (Unvectorizable(statement.Value, t) is { } why) return $"{statement.Node}: {why}";
        }
        if (k.Stores.Any(s => k.Body[s.Statement].Value.Type != t)) return "stores a mask";
        return null;
    }
}
