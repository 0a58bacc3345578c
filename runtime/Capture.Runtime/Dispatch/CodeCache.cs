using Capture.Runtime.Compile;

namespace Capture.Runtime.Dispatch;

/// <summary>
/// A code object's cache entries: each a capture from some instruction (its guards, its exit) and
/// the graph it compiled to. Lookup returns the first entry at an instruction whose guards pass, and
/// the first failure seen (the recompile reason when none does).
/// </summary>
internal sealed class CodeCache(PyObject codeObject, CodeInfo code)
{
    public PyObject CodeObject { get; } = codeObject;
    public CodeInfo Code { get; } = code;
    public List<CaptureResult> Entries { get; } = [];
    private readonly Dictionary<CaptureResult, CompiledEntry> _compiled = new(ReferenceEqualityComparer.Instance);

    /// <summary>Why the whole code runs eagerly (a generator, an unsupported construct), or null.</summary>
    public string? EagerReason { get; } = RealExecutor.EagerReason(code);

    /// <summary>Why the code is captured only as a whole (try/with blocks, closures), or null.</summary>
    public string? WholeFrameReason { get; } = RealExecutor.WholeFrameReason(code);

    public bool LimitReported { get; set; }

    /// <summary>Which input dims captures of this code make symbolic (automatic dynamic: grows as size guards fail).</summary>
    public DynamicDims Dynamic { get; set; } = new();

    /// <summary>
    /// Automatic dynamic: the dims of graph inputs whose size guards an entry at <paramref name="pc"/>
    /// failed on for this frame are made symbolic in the next capture. Returns the dims newly made dynamic.
    /// </summary>
    public List<string> ObserveSizeChanges(FrameState frame, int pc, ITorchBridge torch)
    {
        var changed = new List<string>();
        if (Dynamic.Mode != DynamicMode.Automatic) return changed;
        foreach (var entry in Entries.Where(e => e.EntryIndex == pc))
            foreach (var guard in entry.Guards.Guards.OfType<TensorMatchGuard>())
            {
                SourceValue read;
                try { read = SourceValue.Of(guard.Source, frame); }
                catch (Exception e) when (e is PythonException or KeyNotFoundException) { (e as PythonException)?.Dispose(); continue; }
                using (read)
                {
                    if (read.Object is not { } value || !torch.IsTensor(value) || !torch.IsPlainTensor(value)) continue;
                    foreach (var dim in guard.SizeMismatches(torch.ReadMeta(value)))
                        if (Dynamic.Observe(guard.Source, dim)) changed.Add($"{guard.Source} dim {dim}");
                }
            }
        return changed;
    }

    private readonly Queue<string> _recentRecompiles = new();

    /// <summary>The guard failures behind the last three recompiles (the recompile-limit warning names them).</summary>
    public IReadOnlyCollection<string> RecentRecompileReasons => _recentRecompiles;

    public void NoteRecompile(string reason)
    {
        if (_recentRecompiles.Count == 3) _recentRecompiles.Dequeue();
        _recentRecompiles.Enqueue(reason);
    }

    /// <summary>The globals and builtins of the function last called with this code (kept between calls).</summary>
    public FunctionScope? Scope;

    public CaptureResult? Lookup(FrameState frame, int pc, ITorchBridge torch, out string? firstFailure)
    {
        firstFailure = null;
        // the reads stay kept for the entry's graph inputs (FrameRunner.RunGraph ends them)
        frame.BeginReads();
        foreach (var entry in Entries)
        {
            if (entry.EntryIndex != pc) continue;
            var failure = entry.Guards.Check(frame, torch);
            if (failure is null) return entry;
            firstFailure ??= failure;
        }
        frame.EndReads();
        return null;
    }

    /// <summary>Adds an entry; a discarded one (a whole-frame capture that broke) has no compiled graph and never runs.</summary>
    public void Add(CaptureResult entry, ICompiledGraph? compiled)
    {
        Entries.Add(entry);
        if (compiled is not null) _compiled[entry] = CompiledEntry.Of(compiled, entry);
    }

    public CompiledEntry CompiledOf(CaptureResult entry) => _compiled[entry];

    // Scope is left to its handles' finalizers: a reset from inside a call (capture.reset() in a
    // frame Capture runs) must not pull the globals from under the frames still running
    public void Dispose() => CodeObject.Dispose();
}

/// <summary>
/// An entry's compiled graph, whether the graph switches global state (grad mode), and per graph
/// input the metadata its tensor guard pins (null for an input without one): an entry runs only
/// after its guards passed, so the backend need not read that metadata again.
/// </summary>
internal sealed record CompiledEntry(ICompiledGraph Graph, bool SetsGlobalState, TensorMeta?[] InputMetas)
{
    public static CompiledEntry Of(ICompiledGraph graph, CaptureResult entry)
    {
        var tensorGuards = entry.Guards.Guards.OfType<TensorMatchGuard>().ToList();
        return new(graph, entry.Graph.Nodes.Any(n => n is CallOp { Op.Category: OpCategory.GlobalState }),
            // a symbolic input's metadata is read per call (its sizes vary)
            [.. entry.InputSources.Select(s => tensorGuards.FirstOrDefault(g => g.Source == s)?.Expected is { } meta && !SizeValues.IsSymbolic(meta) ? meta : null)]);
    }
}
