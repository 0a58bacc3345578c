using Capture.Runtime.Compile;

namespace Capture.Runtime.Reports;

/// <summary>What reports say about a compiled graph's gradients (text, HTML and explain share it).</summary>
public static class AutogradSummary
{
    public static string Status(CompileTrace? trace) => trace switch
    {
        { Split: { } s } =>
            $"forward/backward split ({s.Partition}; saving everything needed would keep {s.Alternative.Saved.Count} tensors, {Partitioners.FormatBytes(s.Alternative.SavedBytes)}); loss.backward() runs the compiled backward",
        { Main.Pieces: { Count: > 0 } pieces } =>
            $"cut at its control flow into {pieces.Count} pieces: each piece of ops, branch and loop body has its own compiled forward/backward split; "
            + "loss.backward() runs their compiled backwards, chained by torch's autograd",
        { NoSplitReason: { } reason } => reason,
        _ => "no forward/backward split: no input requires grad, or grad mode is off (an inference graph)",
    };

    /// <summary>"name: f32[8, 32]" for each value the forward saves.</summary>
    public static IEnumerable<string> Saved(Partition partition) =>
        partition.Saved.Select(n => $"{n}: {MetaText.Format(partition.Forward[n].Meta)}");
}
