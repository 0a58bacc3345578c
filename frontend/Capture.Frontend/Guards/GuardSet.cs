namespace Capture.Frontend;

/// <summary>
/// Where and why a capture came to depend on a guard: "line 14 branches on `x.shape[0] > 2`".
/// <see cref="At"/> is null for guards the whole capture depends on (grad mode, default dtype).
/// </summary>
public sealed record GuardUse(SourceLocation? At, string Why)
{
    public const string BranchPrefix = "branches on";

    public override string ToString() => At is { } at ? $"line {at.Line} {Why}" : Why;

    /// <summary>"branches on `x.shape[0] > 2`" from a source line (`if x.shape[0] > 2:`), keywords and colon left out.</summary>
    public static string BranchOn(string? lineText, int line)
    {
        var text = (lineText ?? "").Trim();
        foreach (var keyword in new[] { "if ", "elif ", "while ", "assert " })
            if (text.StartsWith(keyword, StringComparison.Ordinal)) { text = text[keyword.Length..]; break; }
        if (text.EndsWith(':')) text = text[..^1].TrimEnd();
        return text.Length == 0 ? $"{BranchPrefix} a value decided at capture" : $"{BranchPrefix} `{text}`";
    }
}

/// <summary>
/// The guards of one capture, in the order they were installed, each once, with the uses that made
/// the capture depend on each (reports explain a guard by the source lines behind it).
/// </summary>
public sealed class GuardSet
{
    private readonly List<Guard> _guards = [];
    private readonly Dictionary<string, List<GuardUse>> _uses = [];
    private ReadPlan? _plan; // made at the first check, after the capture added every guard

    public IReadOnlyList<Guard> Guards => _guards;

    /// <summary>The line being captured: guards added now are explained by it.</summary>
    public SourceLocation? Site { get; set; }

    /// <summary>Adds <paramref name="guard"/> (once) and notes the current site as a use, with <paramref name="why"/> or the guard's own wording.</summary>
    public void Add(Guard guard, string? why = null) => Add(guard, Site, why);

    public void Add(Guard guard, SourceLocation? at, string? why = null)
    {
        var key = guard.ToString()!;
        if (!_uses.TryGetValue(key, out var uses))
        {
            _uses[key] = uses = [];
            _guards.Add(guard);
            _plan = null;
        }
        Note(uses, new GuardUse(at, why ?? guard.Use));
    }

    /// <summary>Another use of a guard already installed (a branch decided by a value it pins).</summary>
    public void Use(Guard guard, SourceLocation? at, string why)
    {
        if (_uses.TryGetValue(guard.ToString()!, out var uses)) Note(uses, new GuardUse(at, why));
    }

    /// <summary>Puts <paramref name="replacement"/> where <paramref name="guard"/> was, with its uses (a graph input frozen into a constant).</summary>
    public void Replace(Guard guard, Guard replacement)
    {
        var index = _guards.IndexOf(guard);
        if (index < 0) throw new ArgumentException($"no guard {guard} to replace", nameof(guard));
        _guards[index] = replacement;
        _plan = null;
        _uses.Remove(guard.ToString()!, out var uses);
        _uses[replacement.ToString()!] = [.. (uses ?? []).Select(u => u with { Why = replacement.Use })];
    }

    /// <summary>The uses behind a guard, in the order the capture met them.</summary>
    public IReadOnlyList<GuardUse> UsesOf(Guard guard) => _uses.TryGetValue(guard.ToString()!, out var uses) ? uses : [];

    private static void Note(List<GuardUse> uses, GuardUse use)
    {
        if (uses.Contains(use)) return;
        // a branch on a line says more than reading a value on that line: it replaces the plain read
        if (use.Why.StartsWith(GuardUse.BranchPrefix, StringComparison.Ordinal))
            uses.RemoveAll(u => u.At == use.At && !u.Why.StartsWith(GuardUse.BranchPrefix, StringComparison.Ordinal));
        else if (uses.Any(u => u.At == use.At && u.Why.StartsWith(GuardUse.BranchPrefix, StringComparison.Ordinal)))
            return;
        if (uses.Count < 8) uses.Add(use);
    }

    /// <summary>The first failing guard's reason, or null when all hold.</summary>
    public string? Check(FrameState frame, ITorchBridge torch)
    {
        frame.SizeBindings.Clear();
        if (frame.KeepsReads && ReadWitness.Available)
        {
            var plan = _plan ??= new ReadPlan(_guards);
            if (!plan.Busy)
            {
                var failure = plan.Check(frame, torch);
                if (failure is null) frame.UsePlan(plan);
                return failure;
            }
        }
        foreach (var guard in _guards)
            if (guard.Check(frame, torch) is { } failure) return failure;
        return null;
    }
}
