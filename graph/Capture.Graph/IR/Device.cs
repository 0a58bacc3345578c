namespace Capture.Graphs;

/// <summary>A torch device: its type ("cpu", "cuda", "meta") and index (null when torch gives none).</summary>
public readonly record struct Device(string Type, int? Index = null)
{
    public static Device Cpu { get; } = new("cpu");

    public override string ToString() => Index is { } i ? $"{Type}:{i}" : Type;
}
