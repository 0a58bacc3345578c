namespace Capture.Frontend;

/// <summary>How a capture treats input sizes: Dynamo's automatic dynamic shapes.</summary>
public enum DynamicMode
{
    /// <summary>dynamic=None: the first capture specializes; a dim whose size guard failed is symbolic in the next.</summary>
    Automatic,
    /// <summary>dynamic=True: every input dim of size 2 or more is symbolic from the first capture.</summary>
    Always,
    /// <summary>dynamic=False: never symbolic; every new size recompiles.</summary>
    Never,
}

/// <summary>
/// Which dims of which graph inputs a capture makes symbolic: those a failed size guard named (per
/// code object, automatic dynamic), those <c>capture.mark_dynamic</c> marked on the tensor, or all
/// (dynamic=True); never those <c>capture.mark_static</c> marked, never size 0, size 1 only for a dim
/// known to vary (else it specializes, as in Dynamo), and never a module's parameters and buffers (reached through an
/// attribute: a model's weights keep their shapes).
/// </summary>
public sealed class DynamicDims(DynamicMode mode = DynamicMode.Automatic)
{
    private readonly HashSet<(string Source, int Dim)> _observed = [];

    public DynamicMode Mode { get; } = mode;

    /// <summary>The dims automatic dynamic has made symbolic so far ("L['x'] dim 1").</summary>
    public IEnumerable<string> Observed => _observed.Select(o => $"{o.Source} dim {o.Dim}");

    /// <summary>Notes that a size guard on <paramref name="source"/> failed at <paramref name="dim"/>; true when that is new.</summary>
    public bool Observe(Source source, int dim) => Mode == DynamicMode.Automatic && !IsModuleState(source) && _observed.Add((source.ToString()!, dim));

    /// <summary>
    /// Whether dim <paramref name="dim"/> (of size <paramref name="size"/>) of the input at
    /// <paramref name="source"/> is symbolic. Size 1 is, with <paramref name="ones"/>, for a dim known to
    /// vary (a failed size guard named it, or mark_dynamic): its graph then serves every size, unless
    /// the capture relies on the 1 (then it is captured again with the 1 specialized).
    /// </summary>
    public bool IsDynamic(Source source, int dim, long size, IReadOnlySet<int> marked, IReadOnlySet<int> markedStatic, bool ones = false)
    {
        if (size < 1 || Mode == DynamicMode.Never || markedStatic.Contains(dim) || IsModuleState(source)) return false;
        var varies = marked.Contains(dim) || _observed.Contains((source.ToString()!, dim));
        return size == 1 ? ones && varies : Mode == DynamicMode.Always || varies;
    }

    private static bool IsModuleState(Source source) => source switch
    {
        AttrSource => true,
        PartSource p => IsModuleState(p.Base),
        _ => false,
    };
}
