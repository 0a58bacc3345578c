using System.Text;

namespace Capture.Graphs;

/// <summary>
/// One intermediate tensor a kernel writes: live from the kernel that defines it to the last kernel
/// that reads it (itself or through views). <see cref="InPlaceOf"/> names the buffer whose memory it
/// takes over when a pointwise kernel writes where its input died.
/// </summary>
public sealed record PlannedBuffer(string Value, long Bytes, int Slot, int Defined, int LastUse, string? InPlaceOf);

/// <summary>
/// Where each intermediate lives: buffers share slots when their lifetimes do not overlap, so the
/// backend allocates <see cref="PlannedBytes"/> (the sum of the slots) instead of
/// <see cref="NaiveBytes"/> (one allocation per intermediate). <see cref="PeakLiveBytes"/> is the
/// most bytes live at once, the bound no plan can beat. Graph outputs are allocated on their own
/// (the caller keeps them) and are not in the plan, nor are values torch allocates (opaque calls).
/// </summary>
public sealed record MemoryPlan(IReadOnlyList<PlannedBuffer> Buffers, IReadOnlyList<long> Slots, IReadOnlyList<string> Unplanned)
{
    public long PlannedBytes => Slots.Sum();
    public long NaiveBytes => Buffers.Sum(b => b.Bytes);

    public long PeakLiveBytes => Buffers.Count == 0 ? 0 :
        Enumerable.Range(1, Buffers.Max(b => b.LastUse)).Max(step => Buffers.Where(b => b.Defined <= step && step <= b.LastUse).Sum(b => b.Bytes));

    public string Summary => $"{Buffers.Count} buffers in {Slots.Count} slots: planned {Bytes(PlannedBytes)}, naive {Bytes(NaiveBytes)}, peak live {Bytes(PeakLiveBytes)}";

    public static string Bytes(long n) => n switch
    {
        >= 1 << 20 => $"{n / (double)(1 << 20):0.##} MiB",
        >= 1 << 10 => $"{n / 1024.0:0.##} KiB",
        _ => $"{n} B",
    };

    public override string ToString()
    {
        var text = new StringBuilder(Summary).Append('\n');
        foreach (var b in Buffers)
            text.Append($"  {b.Value}: {Bytes(b.Bytes)} in slot {b.Slot}, kernels {b.Defined}..{b.LastUse}{(b.InPlaceOf is { } p ? $", in place of {p}" : "")}\n");
        return text.ToString();
    }
}
