using System.Diagnostics;
using Capture.Runtime.Compile;
using Capture.Runtime.Backends;

namespace Capture.Runtime.Dispatch;

/// <summary>
/// Runs a Python function through Capture, as Dynamo's resume functions do without rewriting
/// bytecode. Per code object a <see cref="CodeCache"/> holds entries (entry instruction, guards,
/// compiled segment). From instruction 0 it finds an entry whose guards pass (or captures one), runs
/// its graph, rebuilds the frame (<see cref="FrameRebuilder"/>), and at a graph break runs the
/// breaking instruction for real and goes on from the next one the same way. A failed guard is a
/// recompile reason; past <see cref="CacheSizeLimit"/> entries a code object runs without capture.
/// </summary>
public sealed class FrameRunner(Torch.TorchBridge bridge, IGraphBackend backend, CaptureMode mode, ICaptureEventSink events, int id, string purpose = "compiled")
{
    /// <summary>Captures per frame before it runs eagerly (torch._dynamo.config.cache_size_limit's default).</summary>
    public const int DefaultCacheSizeLimit = 8;

    /// <summary>The recompile limit: captures per frame before it runs eagerly (capture.config.cache_size_limit).</summary>
    public int CacheSizeLimit { get; set; } = DefaultCacheSizeLimit;

    /// <summary>Whether inference graphs freeze their modules' parameters and buffers (capture.compile(..., options={"freezing": False}) turns it off).</summary>
    public bool Freeze { get; init; } = true;

    /// <summary>How this runner captures: bytecode symbolic execution, or the function's AST (whole function, one graph).</summary>
    public CaptureMode Mode => mode;

    /// <summary>The backend this runner compiles its graphs for.</summary>
    public IGraphBackend Backend => backend;

    /// <summary>Tells reports apart the frames of different runners.</summary>
    public int Id => id;

    /// <summary>What this runner is for, as reports name it: "compiled" (capture.compile) or "explain".</summary>
    public string Purpose => purpose;

    private readonly Dictionary<nint, CodeCache> _caches = [];
    private readonly List<string> _recompileReasons = [];
    private readonly FrameBinder _binder = new();
    // per call options: a function a broken region calls is captured with its caller's fullgraph and dynamic
    private readonly Dictionary<CallOptions, RealExecutor.CallHook> _callHooks = [];

    /// <summary>The failed guard behind each recompile since the last reset, oldest first.</summary>
    public IReadOnlyList<string> RecompileReasons => _recompileReasons;

    private void Emit(CodeCache cache, CaptureEvent e) =>
        events.Record(e with { Code = cache.Code, Backend = backend.Name, Mode = mode, Runner = id, Purpose = purpose });

    public void Reset()
    {
        foreach (var cache in _caches.Values) cache.Dispose();
        _caches.Clear();
        _recompileReasons.Clear();
    }

    /// <summary>Calls <paramref name="function"/>(*args, **kwargs) through Capture (GIL held).</summary>
    public PyObject Call(PyObject function, PyObject args, PyObject kwargs, CallOptions options = default)
    {
        var cache = CacheFor(function);
        if (cache.Dynamic.Mode != options.Dynamic) cache.Dynamic = new DynamicDims(options.Dynamic);
        if (mode == CaptureMode.Ast) return CallAst(cache, function, args, kwargs);
        if (cache.EagerReason is { } reason)
        {
            Emit(cache, new CaptureEvent.RanEagerly(cache.Code.Name, reason));
            return CallEagerly(function, args, kwargs);
        }
        using var frame = BindFrame(cache, function, args, kwargs);
        if (cache.WholeFrameReason is not null) return CallWhole(cache, function, frame, args, kwargs, options);
        var pc = 0;
        while (true)
        {
            var entry = cache.Lookup(frame, pc, bridge, out var failure);
            if (entry is null && cache.Entries.Count >= CacheSizeLimit)
            {
                // past the recompile limit, what no compiled entry fits runs as plain Python: the whole
                // call when none of it ran yet (at eager speed), else the rest of the frame
                if (pc != 0) return RunRest(cache, frame, pc, options); // (RunRest reports the limit)
                ReportLimit(cache);
                return CallEagerly(function, args, kwargs);
            }
            if (entry is null)
            {
                entry = CaptureAt(cache, frame, pc, failure, options);
                if (entry is null)
                {
                    pc = StepReal(cache, frame, pc, options, out var returned);
                    if (returned is not null) return returned;
                    continue;
                }
            }
            var value = RunEntry(cache, entry, frame);
            if (value is not null) return value;
            pc = StepReal(cache, frame, ((ExitPlan.Break)entry.Exit).Cause.InstructionIndex, options, out value);
            if (value is not null) return value;
        }
    }

    /// <summary>
    /// A frame captured only as a whole (try/with blocks, closures): one entry from its first
    /// instruction to its return, or, when its capture breaks, the frame runs eagerly, before anything
    /// of it ran. The broken capture stays in the cache (its guards say when it applies again).
    /// </summary>
    private PyObject CallWhole(CodeCache cache, PyObject function, FrameState frame, PyObject args, PyObject kwargs, CallOptions options)
    {
        var entry = cache.Lookup(frame, 0, bridge, out var failure);
        if (entry is null && cache.Entries.Count < CacheSizeLimit) entry = CaptureAt(cache, frame, 0, failure, options);
        if (entry is null)
        {
            if (cache.Entries.Count >= CacheSizeLimit) ReportLimit(cache);
            return CallEagerly(function, args, kwargs);
        }
        if (entry.Exit is ExitPlan.Break b)
        {
            Emit(cache, new CaptureEvent.RanEagerly(cache.Code.Name,
                $"graph break in a frame captured only as a whole ({cache.WholeFrameReason}): {b.Cause}"));
            return CallEagerly(function, args, kwargs);
        }
        return RunEntry(cache, entry, frame) ?? throw new InvalidOperationException("a whole-frame capture ends in a return");
    }

    /// <summary>
    /// The AST path: one entry for the whole function, captured from its source. What the AST path
    /// cannot express is raised to the caller (as TorchScript does), never run some other way.
    /// </summary>
    private PyObject CallAst(CodeCache cache, PyObject function, PyObject args, PyObject kwargs)
    {
        using var frame = BindFrame(cache, function, args, kwargs);
        var entry = cache.Lookup(frame, 0, bridge, out var failure);
        if (entry is null)
        {
            if (cache.Entries.Count >= CacheSizeLimit)
            {
                ReportLimit(cache);
                return CallEagerly(function, args, kwargs);
            }
            var watch = Stopwatch.StartNew();
            try
            {
                entry = AstTransformer.Capture(function, frame.Locals, frame.Globals, frame.Builtins, bridge);
            }
            catch (AstCaptureException e)
            {
                Emit(cache, new CaptureEvent.AstRefused(cache.Code.Name, e.Diagnostics));
                if (!e.EagerFailsToo) throw;
                // the code fails for these inputs: the real call raises what eager code raises
                return CallEagerly(function, args, kwargs);
            }
            Store(cache, entry, frame, watch.Elapsed, failure, discarded: false);
        }
        return RunEntry(cache, entry, frame) ?? throw new InvalidOperationException("an AST capture ends in a return");
    }

    /// <summary>Captures from <paramref name="pc"/> and caches the entry; null when the capture failed (reported).</summary>
    private CaptureResult? CaptureAt(CodeCache cache, FrameState frame, int pc, string? failure, CallOptions options)
    {
        var watch = Stopwatch.StartNew();
        CaptureResult entry;
        try
        {
            if (failure is not null) cache.ObserveSizeChanges(frame, pc, bridge);
            entry = InstructionTranslator.Capture(cache.Code, frame, pc, bridge, resumable: cache.WholeFrameReason is null, cache.Dynamic);
        }
        catch (NotSupportedException e)
        {
            var at = cache.Code.Instructions[e is UnresumableBreakException u ? u.Cause.InstructionIndex : pc];
            Emit(cache, new CaptureEvent.CaptureFailed(cache.Code.Name, at, e.Message));
            if (options.FullGraph) throw new NotSupportedException($"fullgraph=True: {e.Message} at {cache.Code.Instructions[pc].Location}");
            return null;
        }
        Store(cache, entry, frame, watch.Elapsed, failure, discarded: cache.WholeFrameReason is not null && entry.Exit is ExitPlan.Break);
        if (options.FullGraph && entry.Exit is ExitPlan.Break b)
            throw new NotSupportedException($"fullgraph=True but the graph breaks: {b.Cause.Reason} ({b.Cause.Location?.File}:{b.Cause.Location?.Line})");
        return entry;
    }

    /// <summary>
    /// Compiles a new entry (unless discarded), caches it and reports it. Compiled now, under the grad
    /// mode the entry's guards pin, so that explain reports it with the capture. An inference entry's
    /// parameters and buffers are offered to the backend to freeze (<see cref="Freezing"/>); those it
    /// froze are guarded as frozen tensors from then on.
    /// </summary>
    private void Store(CodeCache cache, CaptureResult entry, FrameState frame, TimeSpan captureTime, string? failure, bool discarded)
    {
        var gradEnabled = entry.Guards.Guards.OfType<GradModeGuard>().FirstOrDefault()?.Enabled ?? bridge.IsGradEnabled();
        var freezing = discarded || gradEnabled || !backend.Freezes || !Freeze ? null : Freezing.Of(entry, frame, bridge);
        ICompiledGraph? compiled = null;
        if (!discarded)
        {
            // the pipeline reasons about symbolic sizes with what the capture's guards ensure (s1 == 8)
            using var facts = ShapeEnv.Enter(ShapeEnv.FromFacts(entry.Guards.Guards.OfType<SizeRelationGuard>().Select(g => g.Relation)));
            compiled = backend.Compile(entry.Graph, gradEnabled, freezing?.Data);
        }
        if (compiled?.Trace.Frozen is { Count: > 0 } frozen) freezing!.Apply(entry.Guards, frozen);
        cache.Add(entry, compiled);
        if (failure is not null)
        {
            _recompileReasons.Add($"{cache.Code.Name}: {failure}");
            cache.NoteRecompile(failure);
        }
        Emit(cache, new CaptureEvent.Captured(cache.Code.Name, entry, captureTime, failure, Discarded: discarded) { Compiled = compiled });
    }

    /// <summary>Runs an entry's graph and side effects; returns the frame's value, or null after rebuilding the frame at its break.</summary>
    private PyObject? RunEntry(CodeCache cache, CaptureResult entry, FrameState frame)
    {
        PyObject outputs;
        try { outputs = RunGraph(cache.CompiledOf(entry), entry, frame); }
        catch (Exception e) when (Locate(e, GraphLocation(e, entry), $"{cache.Code.Name} (compiled graph)")) { throw; }
        using var _ = outputs;
        using var rebuilder = new FrameRebuilder(outputs, frame);
        rebuilder.Replay(entry.SideEffects);
        switch (entry.Exit)
        {
            case ExitPlan.Return r:
                return rebuilder.Build(r.Value);
            case ExitPlan.Break b:
                rebuilder.Rebuild(b);
                return null;
            default:
                throw new InvalidOperationException($"unknown exit {entry.Exit}");
        }
    }

    private PyObject RunGraph(CompiledEntry compiled, CaptureResult entry, FrameState frame)
    {
        var sources = entry.InputSources;
        var values = new SourceValue[sources.Count];
        var inputs = new PyObject[sources.Count];
        // a graph that sets grad mode restores it when it fails halfway, as the with block would
        var gradMode = compiled.SetsGlobalState ? bridge.IsGradEnabled() : (bool?)null;
        try
        {
            for (var i = 0; i < inputs.Length; i++) inputs[i] = (values[i] = SourceValue.Of(sources[i], frame)).Object;
            return compiled.Graph.Run(inputs, compiled.InputMetas);
        }
        catch when (gradMode is { } enabled)
        {
            bridge.SetGradEnabled(enabled);
            throw;
        }
        finally
        {
            foreach (var v in values) if (v.Object is not null) v.Dispose();
            frame.EndReads();
        }
    }

    private static PyObject CallEagerly(PyObject function, PyObject args, PyObject kwargs) => function.CallPrepared(args, kwargs);

    private CodeCache CacheFor(PyObject function)
    {
        // id(code): each cache holds its code object, so an address found among the keys is that object
        if (_caches.TryGetValue(function.GetAttrAddress("__code__"), out var cache)) return cache;
        using var code = function.GetAttr("__code__");
        var key = code.Address;
        cache = new CodeCache(code.NewReference(), InstructionDecoder.Decode(code));
        _caches[key] = cache;
        return cache;
    }

    /// <summary>
    /// A real call from a frame Capture runs: Python functions and nn.Modules without hooks go through
    /// the frame runner (captured in their own right); anything else is called directly.
    /// </summary>
    private PyObject CallThroughCapture(PyObject callable, IReadOnlyList<PyObject> args, IReadOnlyList<KeyValuePair<string, PyObject>> kwargs, CallOptions options)
    {
        PyObject? function = null;
        PyObject? self = null;
        var arguments = args.ToList();
        if (FunctionMarks.IsDisabled(callable)) return callable.Call(args, kwargs);
        // torch's own Python functions (torch.functional.unique_consecutive) run as they are: the
        // capture already broke at their call because of what they do
        if (callable.TypeName == "function" && PythonObjects.IsTrusted(callable)) return callable.Call(args, kwargs);
        if (callable.TypeName == "function") function = callable.NewReference();
        else if (bridge.IsModule(callable) && !ModuleHooks.Any(callable))
        {
            // what nn.Module.__call__ would run: the class's forward, unless __call__ is overridden or the instance has a forward of its own
            using var type = callable.Type;
            using var own = ModuleCall.InstanceForward(callable);
            if (ModuleCall.IsModuleCall(type) && own is null)
            {
                function = type.GetAttr("forward");
                arguments.Insert(0, callable);
            }
        }
        else if (callable.TypeName == "method" && callable.HasAttr("__func__"))
        {
            using var inner = callable.GetAttr("__func__");
            if (inner.TypeName == "function")
            {
                function = inner.NewReference();
                self = callable.GetAttr("__self__");
                arguments.Insert(0, self);
            }
        }
        // the standard library modules Capture does not trace run as they are (their frames too)
        if (function is null || PythonObjects.UntracedStdlibModule(function) is not null)
        {
            function?.Dispose();
            self?.Dispose();
            return callable.Call(args, kwargs);
        }
        using (self)
        using (function)
        using (var tuple = Py.Tuple(arguments))
        using (var dict = Py.Dict(kwargs))
            return Call(function, tuple, dict, options);
    }

    /// <summary>
    /// Marks a Python error leaving code that ran here (a graph, or an instruction run for real) with
    /// where it happened in the user's code: capture/__init__.py re-raises it from a frame at that
    /// file and line, so the traceback ends at the user's line, not inside Capture. The innermost
    /// mark stays (a nested call marked it first). Always false: it runs as an exception filter.
    /// </summary>
    private static bool Locate(Exception e, SourceLocation? where, string function)
    {
        var python = e switch { PythonException p => p, PythonErrorContext c => c.Python, _ => null };
        if (python is null || where is null || where.File.Length == 0) return false;
        try
        {
            using var value = python.Value;
            if (value.HasAttr(LocationAttribute)) return false;
            using var file = Py.Str(where.File);
            using var line = Py.Int(where.Line);
            using var name = Py.Str(function);
            using var mark = Py.Tuple([file, line, name]);
            value.SetAttr(LocationAttribute, mark);
        }
        catch (PythonException) { } // an exception that takes no attributes keeps Capture's frames
        return false;
    }

    private const string LocationAttribute = "_capture_where";

    // the node that failed, else the graph's first node with a line
    private static SourceLocation? GraphLocation(Exception e, CaptureResult entry) =>
        e is GraphExecutionException { Node.Source: { } node } ? node
            : entry.Graph.Nodes.Select(n => n.Source).FirstOrDefault(l => l is not null);

    /// <summary>Runs one instruction for real; returns the next instruction, or sets the returned value.</summary>
    private int StepReal(CodeCache cache, FrameState frame, int pc, CallOptions options, out PyObject? returned)
    {
        returned = null;
        if (!_callHooks.TryGetValue(options, out var hook))
            _callHooks[options] = hook = (c, a, k) => CallThroughCapture(c, a, k, options);
        RealStep step;
        try { step = RealExecutor.Execute(cache.Code, frame, pc, hook); }
        catch (Exception e) when (Locate(e, cache.Code.Instructions[pc].Location, cache.Code.Name)) { throw; }
        switch (step)
        {
            case RealStep.Return r: returned = r.Value; return -1;
            case RealStep.Continue c: return c.Next;
            default: throw new InvalidOperationException("unknown step");
        }
    }

    /// <summary>Past the entry limit the rest of the frame runs for real, instruction by instruction.</summary>
    private PyObject RunRest(CodeCache cache, FrameState frame, int pc, CallOptions options)
    {
        ReportLimit(cache);
        while (true)
        {
            pc = StepReal(cache, frame, pc, options, out var returned);
            if (returned is not null) return returned;
        }
    }

    /// <summary>
    /// Once per code object: the event, and a Python warning (stderr by default, filterable as any
    /// warning) naming the function, its last recompile reasons and what to do.
    /// </summary>
    private void ReportLimit(CodeCache cache)
    {
        if (cache.LimitReported) return;
        cache.LimitReported = true;
        var code = cache.Code;
        Emit(cache, new CaptureEvent.RanEagerly(code.Name, $"{code.Name} was captured {CacheSizeLimit} times (the recompile limit): calls no compiled entry fits run eagerly from now on"));
        if (purpose != "compiled") return;
        var reasons = cache.RecentRecompileReasons.Count == 0 ? "" : "; the last recompiles were because " + string.Join("; ", cache.RecentRecompileReasons);
        var message = $"capture: {code.Name} ({code.FileName}:{code.FirstLine}) was compiled {CacheSizeLimit} times (capture.config.cache_size_limit){reasons}. "
            + "From now on a call that no compiled version fits runs as plain Python (eager speed). To compile fewer versions, keep "
            + "values that change from call to call (sizes, Python numbers, new objects) out of what the function specializes on, or raise capture.config.cache_size_limit.";
        // under -W error the warning is raised, as Python raises it
        using var warnings = Py.Import("warnings");
        using var text = Py.Str(message);
        using var builtins = Py.Builtins;
        using var category = builtins.GetAttr("RuntimeWarning");
        using var stacklevel = Py.Int(2); // the user's call of the compiled function
        using var warn = warnings.GetAttr("warn");
        warn.Call([text, category, stacklevel], []).Dispose();
    }

    private FrameState BindFrame(CodeCache cache, PyObject function, PyObject args, PyObject kwargs) =>
        _binder.Bind(cache.Code, ref cache.Scope, function, args, kwargs);
}
