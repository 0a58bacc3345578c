using Capture.Graph;

namespace Capture.Codegen.Llvm;

// Streaming stores for kernels that write more than the caches hold (KernelSchedule.Streams): a
// cached store first reads the line it writes, and the line then pushes out data still to be read.
// The loop vectorizer will not widen a store marked !nontemporal (its scalar alignment is too small
// for a streaming vector store), so a reduction kernel's store pass writes each block of a row (see
// EmitPass) into a scratch row, which stays in L1, and the block is then copied out in whole vectors
// with streaming stores where the output block is aligned to them (else with ordinary stores). An sfence at the end orders the
// streamed stores before the kernel returns (they are weakly ordered).
public static partial class LlvmEmitter
{
    /// <summary>Bytes per streamed vector: AVX's 32 (two SSE stores where only SSE is there).</summary>
    private const int StreamBytes = 32;

    /// <summary>The element outputs a kernel's store pass streams (contiguous along the row, not bool).</summary>
    private static List<int> StreamedOutputs(Kernel k, KernelSchedule schedule) =>
        !schedule.Streams(k) || !System.Runtime.Intrinsics.X86.Sse.IsSupported ? []
            : [.. k.Stores.Where(x => !k.Body[x.Statement].Row && k.Operands[x.Operand].InnerStride == 1 && k.Operands[x.Operand].Type != DType.Bool)
                .Select(x => x.Operand).Distinct().Order()];

    /// <summary>
    /// Copies elements [<paramref name="start"/>, <paramref name="end"/>) of a scratch row to the
    /// output row at <paramref name="target"/>: whole vectors streamed where the first is aligned, the
    /// rest (or all, where it is not aligned) with ordinary stores.
    /// </summary>
    private static void StreamRange(IrFunction f, DType type, string scratch, string target, string start, string end, IrModule declares)
    {
        var t = IrFunction.Storage(type);
        var bytes = IrFunction.Bytes(type);
        var lanes = StreamBytes / bytes;
        var vector = $"<{lanes} x {t}>";
        var vectorLoop = f.NewLabel("stream.vector.");
        var copy = f.NewLabel("stream.copy.");
        var copyLoop = f.NewLabel("stream.copy.loop.");
        var done = f.NewLabel("stream.done.");
        f.Comment($"stream the block out ({lanes}-element vectors, aligned to {StreamBytes} bytes)");
        var first = f.Let($"getelementptr inbounds {t}, ptr {target}, i64 {start}");
        var aligned = f.Let($"icmp eq i64 {f.Let($"and i64 {f.Let($"ptrtoint ptr {first} to i64")}, {StreamBytes - 1}")}, 0");
        var count = f.Let($"sub nuw nsw i64 {end}, {start}");
        var vectorEnd = f.Let($"add nuw nsw i64 {start}, {f.Let($"and i64 {count}, {-lanes}")}");
        var any = f.Let($"and i1 {aligned}, {f.Let($"icmp slt i64 {start}, {vectorEnd}")}");
        var before = f.Block;
        f.Do($"br i1 {any}, label %{vectorLoop}, label %{copy}");
        f.Label(vectorLoop);
        var i = f.Fresh("i");
        var iNext = f.Fresh("i.next");
        f.Do($"{i} = phi i64 [ {start}, %{before} ], [ {iNext}, %{vectorLoop} ]");
        var value = f.Let($"load {vector}, ptr {f.Let($"getelementptr inbounds {t}, ptr {scratch}, i64 {i}")}, align {bytes}");
        f.Do($"store {vector} {value}, ptr {f.Let($"getelementptr inbounds {t}, ptr {target}, i64 {i}")}, align {StreamBytes}, !nontemporal !{{i32 1}}");
        f.Do($"{iNext} = add nuw nsw i64 {i}, {lanes}");
        f.Do($"br i1 {f.Let($"icmp slt i64 {iNext}, {vectorEnd}")}, label %{vectorLoop}, label %{copy}{declares.Loop(vectorize: false)}");
        // the elements past the last whole vector, or the whole block where it is not aligned
        f.Label(copy);
        var from = f.Fresh("from");
        f.Do($"{from} = phi i64 [ {start}, %{before} ], [ {vectorEnd}, %{vectorLoop} ]");
        f.Do($"br i1 {f.Let($"icmp slt i64 {from}, {end}")}, label %{copyLoop}, label %{done}");
        f.Label(copyLoop);
        var k = f.Fresh("k");
        var kNext = f.Fresh("k.next");
        f.Do($"{k} = phi i64 [ {from}, %{copy} ], [ {kNext}, %{copyLoop} ]");
        f.Do($"store {t} {f.Load(type, scratch, k)}, ptr {f.Let($"getelementptr inbounds {t}, ptr {target}, i64 {k}")}");
        f.Do($"{kNext} = add nuw nsw i64 {k}, 1");
        f.Do($"br i1 {f.Let($"icmp slt i64 {kNext}, {end}")}, label %{copyLoop}, label %{done}{declares.Loop()}");
        f.Label(done);
    }
}
