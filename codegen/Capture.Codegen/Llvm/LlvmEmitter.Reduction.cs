using System.Text;

namespace Capture.Codegen.Llvm;

// Reduction kernels: the C# emitter's plan (RowPlan: a pass over the row per level of reductions,
// expensive element values kept in a row scratch buffer for later passes, a store pass), as scalar
// loops the vectorizer widens. Work items are rows; a row is the reduced dims collapsed into one
// (operand strides: one per outer dim, then one along the row).
// Accumulation: sums add with the `reassoc` flag alone, so the vectorizer may keep partial sums per
// lane (as torch's and the C# kernels' vector sums do); float max/min combine with maxnum/minnum
// under nnan/nsz, which the vectorizer turns into vector max/min, while a separate or-reduction
// records whether the row held a NaN: the result is then NaN, as torch.amax gives.
public static partial class LlvmEmitter
{
    private static long EmitReduction(StringBuilder text, Kernel k, IrModule declares, KernelSchedule schedule)
    {
        var outer = k.OuterRank;
        var length = k.RowLength;
        var rows = k.Domain.Take(outer).Aggregate(1L, (a, b) => a * b);
        var plan = RowPlan.Of(k);

        text.Append($"; kernel for fusion group g{k.Group}: {string.Join(", ", k.Body.Select(s => s.Node))}\n");
        text.Append($"; rows [{string.Join(", ", (k.SymbolicDomain?.Select(d => d.ToString()) ?? k.Domain.Select(d => d.ToString())).Take(outer))}] of {length} (dims [{string.Join(", ", k.Domain.Skip(outer))}] reduced); ");
        text.Append($"{plan.Passes} reduction pass{(plan.Passes == 1 ? "" : "es")} then a store pass\n");
        text.Append($"; operands: {string.Join(", ", k.Operands.Select((o, i) => $"{i} {(o.IsOutput ? "writes" : "reads")} {o.Value}{(o.Row ? " (per row)" : "")}"))}\n");
        EmitEntry(text, k, $"{k.Name}_rows");
        text.Append($"define internal void @{Placeholder}{k.Name}_rows(i64 %first, i64 %last{Parameters(k)}, ptr %s) alwaysinline {{\nentry:\n");
        LoadStrides(text, k, outer + 1);
        // a dynamic row: its length read at run time (at least 2: sizes 0 and 1 specialize)
        string? dynamicLength = null;
        if (k.DynamicRow)
        {
            text.Append($"  %len.at = getelementptr inbounds i64, ptr %s, i64 {k.SizesAt + k.Domain.Count + 2}\n  %len = load i64, ptr %len.at\n");
            dynamicLength = "%len";
        }
        var fast = EmitStrideCheck(text, k.Operands.Select((o, i) => (o, i)).Where(x => !x.o.Row), outer);
        foreach (var c in plan.Cached.Order())
        {
            declares.Add("declare ptr @malloc(i64)");
            declares.Add("declare void @free(ptr)");
            var bytes = IrFunction.Bytes(k.Body[c].Value.Type);
            if (dynamicLength is not null) text.Append($"  %c{c}.bytes = mul i64 {dynamicLength}, {bytes}\n");
            text.Append($"  %c{c} = call ptr @malloc(i64 {(dynamicLength is null ? (Math.Max(1, length) * bytes).ToString() : $"%c{c}.bytes")}) ; {k.Body[c].Node}, kept for a later pass\n");
        }
        // outputs streamed in the fast copy (LlvmEmitter.Streaming)
        var streamed = fast && length > 0 ? StreamedOutputs(k, schedule) : [];
        text.Append("  %any = icmp slt i64 %first, %last\n  br i1 %any, label %start, label %exit\nstart:\n");
        text.Append(fast ? "  br i1 %simd, label %fast.head, label %strided.head\n" : "  br label %strided.head\n");
        var f = new IrFunction(text); // one numbering for the whole function
        foreach (var variant in fast ? new[] { "fast", "strided" } : ["strided"])
        {
            text.Append(variant == "fast"
                ? $"; strides along the row ({string.Join(", ", k.Operands.Select(o => o.Row ? "-" : o.InnerStride?.ToString()))}) as constants\n"
                : "; any strides along the row, read at run time\n");
            f.Label($"{variant}.head");
            var row = f.Fresh("row");
            var next = f.Fresh("row.next");
            f.Do($"{row} = phi i64 [ %first, %start ], [ {next}, %{variant}.latch ]");
            var index = new string[outer];
            var r = row;
            for (var d = outer - 1; d >= 1; d--)
            {
                // an outer dim over dynamic sizes: read from the strides array (Kernel.SizesAt)
                var size = k.SymbolicDomain is null ? k.Domain[d].ToString() : f.Let($"load i64, ptr {f.Let($"getelementptr inbounds i64, ptr %s, i64 {k.SizesAt + d}")}");
                index[d] = f.Let($"urem i64 {r}, {size}");
                r = f.Let($"udiv i64 {r}, {size}");
            }
            if (outer >= 1) index[0] = r;
            var bases = new string[k.Operands.Count];
            for (var o = 0; o < k.Operands.Count; o++)
            {
                var offset = "0";
                for (var d = 0; d < outer; d++)
                {
                    var term = f.Let($"mul i64 {index[d]}, %s{o}_{d}");
                    offset = offset == "0" ? term : f.Let($"add i64 {offset}, {term}");
                }
                bases[o] = offset == "0" ? $"%o{o}" : f.Let($"getelementptr inbounds {IrFunction.Storage(k.Operands[o].Type)}, ptr %o{o}, i64 {offset}");
            }
            var nextRows = variant == "fast" && outer >= 1 && dynamicLength is null ? NextRows(f, k, bases, outer, length, declares) : [];
            var prefetchPass = plan.PrefetchPass(k);
            var rowValues = new string[k.Body.Count];
            var rowLoads = new Dictionary<int, string>();
            var rowNames = new Names(
                l => rowLoads.TryGetValue(l.Operand, out var v) ? v : rowLoads[l.Operand] = f.Load(k.Operands[l.Operand].Type, bases[l.Operand], "0", k.Operands[l.Operand].Value),
                t => rowValues[t.Index]);
            void RowStatements(int level)
            {
                for (var i = 0; i < k.Body.Count; i++)
                    if (k.Body[i].Row && k.Body[i].Value is not KReduce && plan.Level[i] == level)
                    {
                        f.Comment($"{k.Body[i].Node} (per row)");
                        rowValues[i] = Value(f, k.Body[i].Value, rowNames, declares);
                    }
            }
            RowStatements(0);
            for (var pass = 0; pass <= plan.Passes; pass++)
            {
                var reductions = plan.Reductions(k, pass);
                var stores = plan.Stores(k, pass);
                if (pass == plan.Passes && stores.Count == 0) break;
                f.Comment(pass < plan.Passes ? $"pass {pass + 1}: {string.Join(", ", reductions.Select(i => k.Body[i].Node))}" : "store pass");
                var prefetch = pass == prefetchPass ? nextRows : [];
                if (variant == "fast" && stores.Count > 0 && streamed.Count > 0)
                    EmitStreamedStorePass(f, k, plan, pass, stores, length, bases, rowValues, declares, streamed, prefetch);
                else EmitPass(f, k, plan, pass, reductions, stores, variant, length, bases, rowValues, declares, prefetch, dynamicLength);
                if (pass < plan.Passes) RowStatements(pass + 1);
            }
            foreach (var (statement, operand) in k.Stores.Where(x => k.Body[x.Statement].Row))
                f.Store(k.Operands[operand].Type, rowValues[statement], bases[operand], "0");
            f.Do($"br label %{variant}.latch");
            f.Label($"{variant}.latch");
            f.Do($"{next} = add nuw nsw i64 {row}, 1");
            f.Do($"br i1 {f.Let($"icmp slt i64 {next}, %last")}, label %{variant}.head, label %exit{declares.Loop(vectorize: false)}");
        }
        text.Append("exit:\n");
        foreach (var c in plan.Cached.Order()) text.Append($"  call void @free(ptr %c{c})\n");
        StoreFence(text, declares, streamed);
        text.Append("  ret void\n}\n\n");
        return rows;
    }

    /// <summary>
    /// The next row of each input read along the row (RowPlan.PrefetchedInputs says why), which one
    /// pass asks for a block at a time (EmitPass): this row plus the innermost outer stride (past the
    /// last row or a wrap of an outer dim it names memory nobody reads, which a prefetch may: it never
    /// faults).
    /// </summary>
    private static List<(int Operand, string Next)> NextRows(IrFunction f, Kernel k, string[] bases, int outer, long length, IrModule declares)
    {
        var inputs = RowPlan.PrefetchedInputs(k);
        if (inputs.Count == 0 || length < 64) return [];
        declares.Add("declare void @llvm.prefetch.p0(ptr, i32, i32, i32)");
        return [.. inputs.Select(o => (o, f.Let($"getelementptr {IrFunction.Storage(k.Operands[o].Type)}, ptr {bases[o]}, i64 %s{o}_{outer - 1}", $"next row of {k.Operands[o].Value}")))];
    }

    /// <summary>Bytes of the row a blocked pass covers per block (16 cache lines: one prefetch per line of the next row each).</summary>
    private const int BlockBytes = 1024;

    /// <summary>
    /// One loop over the row: the pass's element statements, its reductions' accumulation, its stores.
    /// Blocked (an outer loop over blocks of <see cref="BlockBytes"/>, the vectorized loop inside) where
    /// it prefetches the next row (a prefetch per cache line of <paramref name="nextRows"/> before each
    /// block).
    /// </summary>
    private static void EmitPass(IrFunction f, Kernel k, RowPlan plan, int pass, List<int> reductions, List<(int Statement, int Operand)> stores,
        string variant, long length, string[] bases, string[] rowValues, IrModule declares, List<(int Operand, string Next)> nextRows, string? dynamicLength = null)
    {
        var accumulators = reductions.Select(i => (Statement: i, Reduce: (KReduce)k.Body[i].Value)).ToList();
        bool TracksNaN(KReduce r) => r.Function != KernelReduction.Sum && r.Type.IsFloatingPoint();
        if (length == 0 && dynamicLength is null)
        {
            foreach (var (i, reduce) in accumulators) rowValues[i] = Initial(reduce);
            return;
        }
        var type = k.Operands.Count > 0 ? k.Operands[0].Type : DType.Float32;
        var blocked = nextRows.Count > 0;
        var block = blocked ? Math.Min(length, BlockBytes / IrFunction.Bytes(type)) : length;

        // the loop over blocks: its start, prefetches, and the accumulators carried from block to block
        var preheader = f.Block;
        string start = "0", end = dynamicLength ?? length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string? blockLabel = null, blockNext = null, blockLatch = null;
        var outerAcc = new Dictionary<int, (string Value, string? NaN)>();
        if (blocked)
        {
            blockLabel = f.NewLabel($"{variant}.pass{pass + 1}.block.");
            blockLatch = f.NewLabel($"{variant}.pass{pass + 1}.block.latch.");
            f.Do($"br label %{blockLabel}");
            f.Label(blockLabel);
            start = f.Fresh("jb");
            blockNext = f.Fresh("jb.next");
            f.Do($"{start} = phi i64 [ 0, %{preheader} ], [ {blockNext}, %{blockLatch} ]");
            foreach (var (i, reduce) in accumulators)
            {
                var ty = IrFunction.Type(reduce.Type);
                var value = f.Fresh("acc.block");
                f.Do($"{value} = phi {ty} [ {Initial(reduce)}, %{preheader} ], [ %acc.next.{i}.{pass}.{variant}, %{blockLatch} ]");
                string? nan = null;
                if (TracksNaN(reduce))
                {
                    nan = f.Fresh("nan.block");
                    f.Do($"{nan} = phi i1 [ false, %{preheader} ], [ %nan.next.{i}.{pass}.{variant}, %{blockLatch} ]");
                }
                outerAcc[i] = (value, nan);
            }
            foreach (var (o, next) in nextRows)
            {
                var storage = IrFunction.Storage(k.Operands[o].Type);
                var line = Math.Max(1, 64 / IrFunction.Bytes(k.Operands[o].Type));
                for (long j0 = 0; j0 < block; j0 += line)
                {
                    var at = j0 == 0 ? start : f.Let($"add i64 {start}, {j0}");
                    f.Do($"call void @llvm.prefetch.p0(ptr {f.Let($"getelementptr {storage}, ptr {next}, i64 {at}")}, i32 0, i32 3, i32 1)");
                }
            }
            var full = f.Let($"add nuw nsw i64 {start}, {block}");
            end = length % block == 0 ? full : f.Let($"select i1 {f.Let($"icmp slt i64 {full}, {length}")}, i64 {full}, i64 {length}");
        }

        var entry = f.Block;
        var loop = f.NewLabel($"{variant}.pass{pass + 1}.");
        var done = f.NewLabel($"{variant}.pass{pass + 1}.done.");
        f.Do($"br label %{loop}");
        f.Label(loop);
        var j = f.Fresh("j");
        var jNext = f.Fresh("j.next");
        f.Do($"{j} = phi i64 [ {start}, %{entry} ], [ {jNext}, %{loop} ]");
        var acc = new Dictionary<int, (string Value, string Next, string? NaN, string? NaNNext)>();
        foreach (var (i, reduce) in accumulators)
        {
            var ty = IrFunction.Type(reduce.Type);
            var (value, nextValue) = (f.Fresh("acc"), blocked ? $"%acc.next.{i}.{pass}.{variant}" : f.Fresh("acc.next"));
            f.Do($"{value} = phi {ty} [ {(blocked ? outerAcc[i].Value : Initial(reduce))}, %{entry} ], [ {nextValue}, %{loop} ]");
            string? nan = null, nanNext = null;
            if (TracksNaN(reduce))
            {
                (nan, nanNext) = (f.Fresh("nan"), blocked ? $"%nan.next.{i}.{pass}.{variant}" : f.Fresh("nan.next"));
                f.Do($"{nan} = phi i1 [ {(blocked ? outerAcc[i].NaN : "false")}, %{entry} ], [ {nanNext}, %{loop} ]");
            }
            acc[i] = (value, nextValue, nan, nanNext);
        }
        var (values, names) = ElementValues(f, k, plan, pass, j, variant, bases, rowValues, declares);
        foreach (var (i, reduce) in accumulators)
        {
            var x = Value(f, reduce.Value, names, declares);
            var ty = IrFunction.Type(reduce.Type);
            var (value, nextValue, nan, nanNext) = acc[i];
            var fl = reduce.Type.IsFloatingPoint();
            f.Do(reduce.Function switch
            {
                KernelReduction.Sum => fl ? $"{nextValue} = fadd reassoc {ty} {value}, {x}" : $"{nextValue} = add {ty} {value}, {x}",
                KernelReduction.Max or KernelReduction.Min when fl =>
                    $"{nextValue} = call nnan nsz {ty} {Intrinsic(declares, $"llvm.{(reduce.Function == KernelReduction.Max ? "maxnum" : "minnum")}.{Suffix(reduce.Type)}", ty, 2)}({ty} {value}, {ty} {x})",
                KernelReduction.Max or KernelReduction.Min => $"{nextValue} = select i1 {f.Let($"icmp {(reduce.Function == KernelReduction.Max ? "sgt" : "slt")} {ty} {value}, {x}")}, {ty} {value}, {ty} {x}",
            });
            if (nan is not null) f.Do($"{nanNext} = or i1 {nan}, {f.Let($"fcmp uno {ty} {x}, 0.0")}");
        }
        foreach (var (statement, operand) in stores)
            f.Store(k.Operands[operand].Type, values[statement], bases[operand], f.Scale(j, Stride(k, variant, operand)));
        f.Do($"{jNext} = add nuw nsw i64 {j}, 1");
        var expensive = plan.Computed[pass].Any(i => KernelExprs.CallsExpensive(k.Body[i].Value));
        f.Do($"br i1 {f.Let($"icmp slt i64 {jNext}, {end}")}, label %{loop}, label %{(blocked ? blockLatch : done)}{declares.Loop(vectorize: variant == "fast", interleave: !expensive)}");
        if (blocked)
        {
            f.Label(blockLatch!);
            f.Do($"{blockNext} = add nuw nsw i64 {start}, {block}");
            f.Do($"br i1 {f.Let($"icmp slt i64 {blockNext}, {length}")}, label %{blockLabel}, label %{done}{declares.Loop(vectorize: false)}");
        }
        f.Label(done);
        foreach (var (i, reduce) in accumulators)
        {
            var (_, nextValue, _, nanNext) = acc[i];
            var ty = IrFunction.Type(reduce.Type);
            rowValues[i] = nanNext is null ? nextValue : f.Let($"select i1 {nanNext}, {ty} {IrFunction.Literal(double.NaN, reduce.Type)}, {ty} {nextValue}", k.Body[i].Node);
        }
    }

    private static string Stride(Kernel k, string variant, int o) => variant == "fast" ? k.Operands[o].InnerStride!.Value.ToString() : $"%s{o}_{k.OuterRank}";

    /// <summary>
    /// Pass <paramref name="pass"/>'s element statements at element <paramref name="j"/> of the row:
    /// computed, or loaded from the scratch row an earlier pass kept them in (and kept there by their
    /// first pass); the names they were computed with (for the reductions' arguments).
    /// </summary>
    private static (string[] Values, Names Names) ElementValues(IrFunction f, Kernel k, RowPlan plan, int pass, string j, string variant,
        string[] bases, string[] rowValues, IrModule declares)
    {
        var loaded = new Dictionary<int, string>();
        var values = new string[k.Body.Count];
        var names = new Names(
            l => loaded.TryGetValue(l.Operand, out var v) ? v
                : loaded[l.Operand] = f.Load(k.Operands[l.Operand].Type, bases[l.Operand], k.Operands[l.Operand].Row ? "0" : f.Scale(j, Stride(k, variant, l.Operand)), k.Operands[l.Operand].Value),
            t => k.Body[t.Index].Row ? rowValues[t.Index] : values[t.Index]);
        for (var i = 0; i < k.Body.Count; i++)
        {
            var statementType = k.Body[i].Value.Type;
            if (plan.Loaded[pass].Contains(i))
            {
                values[i] = f.Load(statementType, $"%c{i}", j, $"{k.Body[i].Node}, from pass {plan.FirstPass[i] + 1}");
            }
            else if (plan.Computed[pass].Contains(i))
            {
                f.Comment(k.Body[i].Node);
                values[i] = Value(f, k.Body[i].Value, names, declares);
                if (plan.Cached.Contains(i) && plan.FirstPass[i] == pass) f.Store(statementType, values[i], $"%c{i}", j);
            }
        }
        return (values, names);
    }

    private static string Initial(KReduce r) => (r.Function, r.Type.IsFloatingPoint()) switch
    {
        (KernelReduction.Sum, _) => IrFunction.Literal(0, r.Type),
        (KernelReduction.Max, true) => IrFunction.Literal(double.NegativeInfinity, r.Type),
        (KernelReduction.Min, true) => IrFunction.Literal(double.PositiveInfinity, r.Type),
        (KernelReduction.Max, false) => r.Type == DType.Int64 ? long.MinValue.ToString() : int.MinValue.ToString(),
        (KernelReduction.Min, false) => r.Type == DType.Int64 ? long.MaxValue.ToString() : int.MaxValue.ToString(),
    };
}
