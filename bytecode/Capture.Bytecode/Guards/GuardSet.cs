namespace Capture.Bytecode;

/// <summary>The guards of one capture, in the order they were installed, each once.</summary>
public sealed class GuardSet
{
    private readonly List<Guard> _guards = [];
    private readonly HashSet<string> _seen = [];

    public IReadOnlyList<Guard> Guards => _guards;

    public void Add(Guard guard)
    {
        if (_seen.Add(guard.ToString())) _guards.Add(guard);
    }

    /// <summary>The first failing guard's reason, or null when all hold.</summary>
    public string? Check(FrameState frame, ITorchBridge torch)
    {
        foreach (var guard in _guards)
            if (guard.Check(frame, torch) is { } failure) return failure;
        return null;
    }
}
