namespace Capture.Codegen.Llvm;

// Streaming stores for kernels that write more than the caches hold (KernelSchedule.Streams): a
// cached store first reads the line it writes, and the line then pushes out data still to be read.
// The loop vectorizer will not widen a store marked !nontemporal (its scalar alignment is too small
// for a streaming vector store). So a reduction kernel's store pass, where the row is aligned, is
// written out a cache line of elements at a time with alignments that say so, for the SLP vectorizer
// to join (EmitStreamedStorePass). (Staging blocks in a scratch row and copying them out in vectors
// measured no faster than cached stores: the copy's streaming stores came in bursts with no loads
// between.) Pointwise kernels stream their work items the same way. An sfence at the end orders the streamed stores before
// the kernel returns (they are weakly ordered).
public static partial class LlvmEmitter
{
    /// <summary>Bytes per streamed vector: AVX's 32 (two SSE stores where only SSE is there).</summary>
    private const int StreamBytes = 32;

    /// <summary>The element outputs a kernel's store pass streams (contiguous along the row, not bool).</summary>
    private static List<int> StreamedOutputs(Kernel k, KernelSchedule schedule) =>
        !schedule.Streams(k) || !System.Runtime.Intrinsics.X86.Sse.IsSupported ? []
            : [.. k.Stores.Where(x => !k.Body[x.Statement].Row && k.Operands[x.Operand].InnerStride == 1 && k.Operands[x.Operand].Type != DType.Bool)
                .Select(x => x.Operand).Distinct().Order()];

    /// <summary>The sfence that orders a kernel's streamed stores before it returns, where it streams any.</summary>
    private static void StoreFence(System.Text.StringBuilder text, IrModule declares, List<int> streamed)
    {
        if (streamed.Count == 0) return;
        declares.Add("declare void @llvm.x86.sse.sfence()");
        text.Append("  call void @llvm.x86.sse.sfence()\n");
    }

    /// <summary>
    /// A pointwise work item's elements [<paramref name="j0"/>, <paramref name="end"/>) where its
    /// streamed outputs start aligned to <see cref="StreamBytes"/>: steps of a cache line of the
    /// narrowest, each element written out in turn with streaming stores that say their alignment (as
    /// <see cref="EmitStreamedStorePass"/>), then the rest with ordinary stores, then on to the latch;
    /// the block it starts in branches to the cached loop (<c>{variant}.body</c>) for an item not
    /// aligned; returns that block's label.
    /// </summary>
    private static string EmitStreamedItem(IrFunction f, Kernel k, string[] bases, string j0, string end, List<int> streamed, string variant, IrModule declares)
    {
        var narrowest = streamed.Min(o => IrFunction.Bytes(k.Operands[o].Type));
        var step = 64 / narrowest;
        var aligned = "true";
        foreach (var o in streamed)
        {
            var first = f.Let($"getelementptr inbounds {IrFunction.Storage(k.Operands[o].Type)}, ptr {bases[o]}, i64 {j0}");
            aligned = f.Let($"and i1 {aligned}, {f.Let($"icmp eq i64 {f.Let($"and i64 {f.Let($"ptrtoint ptr {first} to i64")}, {StreamBytes - 1}")}, 0")}");
        }
        var stepsEnd = f.Let($"add nuw nsw i64 {j0}, {f.Let($"and i64 {f.Let($"sub nsw i64 {end}, {j0}")}, {-step}")}");
        var any = f.Let($"icmp slt i64 {j0}, {stepsEnd}");
        var loop = f.NewLabel("stream.");
        var tail = f.NewLabel("stream.tail.");
        var tailLoop = f.NewLabel("stream.tail.loop.");
        var before = f.Block;
        f.Do($"br i1 {f.Let($"and i1 {aligned}, {any}")}, label %{loop}, label %{variant}.body");

        f.Label(loop);
        var j = f.Fresh("j");
        var jNext = f.Fresh("j.next");
        f.Do($"{j} = phi i64 [ {j0}, %{before} ], [ {jNext}, %{loop} ]");
        EmitStreamStep(f, k, k.Stores, streamed, bases, j, step, at => PointwiseValues(f, k, bases, at, o => Stride(k, "fast", o), declares));
        f.Do($"{jNext} = add nuw nsw i64 {j}, {step}");
        f.Do($"br i1 {f.Let($"icmp slt i64 {jNext}, {stepsEnd}")}, label %{loop}, label %{tail}{declares.Loop(vectorize: false)}");

        // the elements past the last whole step, stored through the cache
        f.Label(tail);
        f.Do($"br i1 {f.Let($"icmp slt i64 {stepsEnd}, {end}")}, label %{tailLoop}, label %{variant}.latch");
        f.Label(tailLoop);
        var i = f.Fresh("i");
        var iNext = f.Fresh("i.next");
        f.Do($"{i} = phi i64 [ {stepsEnd}, %{tail} ], [ {iNext}, %{tailLoop} ]");
        var rest = PointwiseValues(f, k, bases, i, o => Stride(k, "fast", o), declares);
        foreach (var (statement, operand) in k.Stores)
            f.Store(k.Operands[operand].Type, rest[statement], bases[operand], f.Scale(i, Stride(k, "fast", operand)));
        f.Do($"{iNext} = add nuw nsw i64 {i}, 1");
        f.Do($"br i1 {f.Let($"icmp slt i64 {iNext}, {end}")}, label %{tailLoop}, label %{variant}.latch{declares.Loop(vectorize: false)}");
        return before;
    }

    /// <summary>
    /// A row kernel's store pass where it streams: for a row whose streamed outputs start aligned to
    /// <see cref="StreamBytes"/>, steps of a cache line of the narrowest of them, each element of a
    /// step written out in turn, its stores marked !nontemporal with the alignment their address has
    /// (the step's first, <see cref="StreamBytes"/>); the SLP vectorizer joins a step's elements into
    /// vectors and its stores into whole-vector streaming stores. One prefetch per line of the next
    /// row per step. The elements past the last whole step, with ordinary stores; a row not aligned,
    /// through <see cref="EmitPass"/>.
    /// </summary>
    private static void EmitStreamedStorePass(IrFunction f, Kernel k, RowPlan plan, int pass, List<(int Statement, int Operand)> stores,
        long length, string[] bases, string[] rowValues, IrModule declares, List<int> streamed, List<(int Operand, string Next)> nextRows)
    {
        var narrowest = streamed.Min(o => IrFunction.Bytes(k.Operands[o].Type));
        var step = 64 / narrowest;
        var steps = length / step * step;
        if (steps == 0)
        {
            EmitPass(f, k, plan, pass, [], stores, "fast", length, bases, rowValues, declares, nextRows);
            return;
        }
        var aligned = "true";
        foreach (var o in streamed)
            aligned = f.Let($"and i1 {aligned}, {f.Let($"icmp eq i64 {f.Let($"and i64 {f.Let($"ptrtoint ptr {bases[o]} to i64")}, {StreamBytes - 1}")}, 0")}");
        var loop = f.NewLabel("stream.");
        var tail = f.NewLabel("stream.tail.");
        var tailLoop = f.NewLabel("stream.tail.loop.");
        var cached = f.NewLabel("stream.cached.");
        var done = f.NewLabel("stream.done.");
        var before = f.Block;
        f.Do($"br i1 {aligned}, label %{loop}, label %{cached}");

        f.Label(loop);
        var j = f.Fresh("j");
        var jNext = f.Fresh("j.next");
        f.Do($"{j} = phi i64 [ 0, %{before} ], [ {jNext}, %{loop} ]");
        foreach (var (o, next) in nextRows)
        {
            var storage = IrFunction.Storage(k.Operands[o].Type);
            var line = 64 / IrFunction.Bytes(k.Operands[o].Type);
            for (var e = 0; e < step; e += line)
                f.Do($"call void @llvm.prefetch.p0(ptr {f.Let($"getelementptr {storage}, ptr {next}, i64 {(e == 0 ? j : f.Let($"add nuw nsw i64 {j}, {e}"))}")}, i32 0, i32 3, i32 1)");
        }
        EmitStreamStep(f, k, stores, streamed, bases, j, step, at => ElementValues(f, k, plan, pass, at, "fast", bases, rowValues, declares).Values);
        f.Do($"{jNext} = add nuw nsw i64 {j}, {step}");
        f.Do($"br i1 {f.Let($"icmp slt i64 {jNext}, {steps}")}, label %{loop}, label %{tail}{declares.Loop(vectorize: false)}");

        // the elements past the last whole step, stored through the cache
        f.Label(tail);
        if (steps < length)
        {
            f.Do($"br label %{tailLoop}");
            f.Label(tailLoop);
            var i = f.Fresh("i");
            var iNext = f.Fresh("i.next");
            f.Do($"{i} = phi i64 [ {steps}, %{tail} ], [ {iNext}, %{tailLoop} ]");
            var (values, _) = ElementValues(f, k, plan, pass, i, "fast", bases, rowValues, declares);
            foreach (var (statement, operand) in stores) f.Store(k.Operands[operand].Type, values[statement], bases[operand], f.Scale(i, Stride(k, "fast", operand)));
            f.Do($"{iNext} = add nuw nsw i64 {i}, 1");
            f.Do($"br i1 {f.Let($"icmp slt i64 {iNext}, {length}")}, label %{tailLoop}, label %{done}{declares.Loop(vectorize: false)}");
        }
        else f.Do($"br label %{done}");

        f.Label(cached);
        EmitPass(f, k, plan, pass, [], stores, "fast", length, bases, rowValues, declares, nextRows);
        f.Do($"br label %{done}");
        f.Label(done);
    }

    /// <summary>
    /// One step of a streamed loop: each of its <paramref name="step"/> elements from <paramref name="j"/>
    /// computed (<paramref name="valuesAt"/>) and stored, streamed outputs with streaming stores that
    /// say the alignment their address has (the step's first: <see cref="StreamBytes"/>), the others
    /// through the cache.
    /// </summary>
    private static void EmitStreamStep(IrFunction f, Kernel k, IEnumerable<(int Statement, int Operand)> stores, List<int> streamed, string[] bases,
        string j, int step, Func<string, string[]> valuesAt)
    {
        for (var e = 0; e < step; e++)
        {
            var at = e == 0 ? j : f.Let($"add nuw nsw i64 {j}, {e}");
            var values = valuesAt(at);
            foreach (var (statement, operand) in stores)
            {
                var type = k.Operands[operand].Type;
                if (!streamed.Contains(operand))
                {
                    f.Store(type, values[statement], bases[operand], f.Scale(at, Stride(k, "fast", operand)));
                    continue;
                }
                var offset = e * IrFunction.Bytes(type);
                var align = offset == 0 ? StreamBytes : Math.Min(StreamBytes, offset & -offset);
                var t = IrFunction.Storage(type);
                f.Do($"store {t} {values[statement]}, ptr {f.Let($"getelementptr inbounds {t}, ptr {bases[operand]}, i64 {at}")}, align {align}, !nontemporal !{{i32 1}}");
            }
        }
    }
}
