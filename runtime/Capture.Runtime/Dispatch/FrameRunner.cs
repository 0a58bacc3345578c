using System.Diagnostics;
using Capture.Bytecode;
using Capture.Frontend;
using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Backends;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Dispatch;

/// <summary>
/// Runs a Python function through Capture: per code object, a list of cache entries (entry
/// instruction, guards, captured segment). From instruction 0 it finds an entry whose guards pass
/// (or captures one), runs its graph, rebuilds the frame, and at a graph break runs the breaking
/// instruction for real and goes on from the next one the same way. A failed guard is a recompile
/// reason; past <see cref="MaxEntries"/> entries a code object runs without capture.
/// </summary>
public sealed class FrameRunner(TorchBridge bridge, IGraphBackend backend, CaptureMode mode = CaptureMode.Bytecode)
{
    /// <summary>How this runner captures: bytecode symbolic execution, or the function's AST (whole function, one graph).</summary>
    public CaptureMode Mode => mode;

    /// <summary>The backend this runner compiles its graphs for.</summary>
    public IGraphBackend Backend => backend;

    public const int MaxEntries = 8;

    private sealed class CodeCache(PyObject codeObject, CodeInfo code)
    {
        public PyObject CodeObject { get; } = codeObject;
        public CodeInfo Code { get; } = code;
        public List<CaptureResult> Entries { get; } = [];
        public Dictionary<CaptureResult, CompiledEntry> Compiled { get; } = new(ReferenceEqualityComparer.Instance);
        public string? EagerReason { get; set; } = RealExecutor.EagerReason(code);
        public string? WholeFrameReason { get; } = RealExecutor.WholeFrameReason(code);
        public bool LimitReported { get; set; }

        /// <summary>The globals and builtins of the function last called with this code (kept between calls).</summary>
        public FunctionScope? Scope;

        // Scope is left to its handles' finalizers: a reset from inside a call (capture.reset() in a
        // frame Capture runs) must not pull the globals from under the frames still running
        public void Dispose() => CodeObject.Dispose();
    }

    /// <summary>
    /// An entry's compiled graph, whether the graph switches global state (grad mode), and per graph
    /// input the metadata its tensor guard pins (null for an input without one): an entry runs only
    /// after its guards passed, so the backend need not read that metadata again.
    /// </summary>
    private sealed record CompiledEntry(ICompiledGraph Graph, bool SetsGlobalState, TensorMeta?[] InputMetas)
    {
        public static CompiledEntry Of(ICompiledGraph graph, CaptureResult entry)
        {
            var tensorGuards = entry.Guards.Guards.OfType<TensorMatchGuard>().ToList();
            return new(graph, entry.Graph.Nodes.Any(n => n is CallOp { Op.Category: OpCategory.GlobalState }),
                [.. entry.InputSources.Select(s => tensorGuards.FirstOrDefault(g => g.Source == s)?.Expected)]);
        }
    }

    private readonly Dictionary<nint, CodeCache> _caches = [];
    private readonly List<string> _recompileReasons = [];

    /// <summary>The failed guard behind each recompile since the last reset, oldest first.</summary>
    public IReadOnlyList<string> RecompileReasons => _recompileReasons;

    /// <summary>Called for each capture, eager frame and failed capture (explain reports, logs).</summary>
    public Action<CaptureEvent>? OnEvent { get; set; }

    /// <summary>With fullgraph, the first graph break is an error naming its reason and line.</summary>
    public bool FullGraph { get; set; }

    private static int _lastId;

    /// <summary>Tells reports apart the frames of different runners.</summary>
    public int Id { get; } = Interlocked.Increment(ref _lastId);

    /// <summary>What this runner is for, as reports name it: "compiled" (capture.compile) or "explain".</summary>
    public string Purpose { get; set; } = "compiled";

    /// <summary>Tells the explain report (if any), the session log (capture.report) and the live log (CAPTURE_LOGS).</summary>
    private void Emit(CodeCache cache, CaptureEvent e)
    {
        e = e with { Code = cache.Code, Backend = backend.Name, Mode = mode, Runner = Id, Purpose = Purpose };
        OnEvent?.Invoke(e);
        Reports.SessionLog.Record(e);
    }

    public void Reset()
    {
        foreach (var cache in _caches.Values) cache.Dispose();
        _caches.Clear();
        _recompileReasons.Clear();
    }

    /// <summary>Calls <paramref name="function"/>(*args, **kwargs) through Capture (GIL held).</summary>
    public PyObject Call(PyObject function, PyObject args, PyObject kwargs)
    {
        _callHook ??= CallThroughCapture;
        var cache = CacheFor(function);
        if (mode == CaptureMode.Ast) return CallAst(cache, function, args, kwargs);
        if (cache.EagerReason is { } reason)
        {
            Emit(cache, new CaptureEvent.RanEagerly(cache.Code.Name, reason));
            return CallEagerly(function, args, kwargs);
        }
        using var frame = BindFrame(cache, function, args, kwargs);
        if (cache.WholeFrameReason is not null) return CallWhole(cache, function, frame, args, kwargs);
        var pc = 0;
        while (true)
        {
            if (cache.Entries.Count >= MaxEntries) return RunRest(cache, frame, pc);
            var entry = Lookup(cache, frame, pc, out var failure);
            if (entry is null)
            {
                entry = CaptureAt(cache, frame, pc, failure);
                if (entry is null)
                {
                    pc = StepReal(cache, frame, pc, out var returned);
                    if (returned is not null) return returned;
                    continue;
                }
            }
            var value = RunEntry(cache, entry, frame);
            if (value is not null) return value;
            pc = StepReal(cache, frame, ((ExitPlan.Break)entry.Exit).Cause.InstructionIndex, out value);
            if (value is not null) return value;
        }
    }

    /// <summary>
    /// A frame captured only as a whole (try/with blocks, closures): one entry from its first
    /// instruction to its return, or, when its capture breaks, the frame runs eagerly, before anything
    /// of it ran. The broken capture stays in the cache (its guards say when it applies again).
    /// </summary>
    private PyObject CallWhole(CodeCache cache, PyObject function, FrameState frame, PyObject args, PyObject kwargs)
    {
        var entry = Lookup(cache, frame, 0, out var failure);
        if (entry is null && cache.Entries.Count < MaxEntries) entry = CaptureAt(cache, frame, 0, failure);
        if (entry is null)
        {
            if (cache.Entries.Count >= MaxEntries) ReportLimit(cache);
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
        var entry = Lookup(cache, frame, 0, out var failure);
        if (entry is null)
        {
            if (cache.Entries.Count >= MaxEntries)
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
                throw;
            }
            Store(cache, entry, watch.Elapsed, failure, discarded: false);
        }
        return RunEntry(cache, entry, frame) ?? throw new InvalidOperationException("an AST capture ends in a return");
    }

    /// <summary>Captures from <paramref name="pc"/> and caches the entry; null when the capture failed (reported).</summary>
    private CaptureResult? CaptureAt(CodeCache cache, FrameState frame, int pc, string? failure)
    {
        var watch = Stopwatch.StartNew();
        CaptureResult entry;
        try
        {
            entry = InstructionTranslator.Capture(cache.Code, frame, pc, bridge, resumable: cache.WholeFrameReason is null);
        }
        catch (NotSupportedException e)
        {
            var at = cache.Code.Instructions[e is UnresumableBreakException u ? u.Cause.InstructionIndex : pc];
            Emit(cache, new CaptureEvent.CaptureFailed(cache.Code.Name, at, e.Message));
            if (FullGraph) throw new NotSupportedException($"fullgraph=True: {e.Message} at {cache.Code.Instructions[pc].Location}");
            return null;
        }
        Store(cache, entry, watch.Elapsed, failure, discarded: cache.WholeFrameReason is not null && entry.Exit is ExitPlan.Break);
        if (FullGraph && entry.Exit is ExitPlan.Break b)
            throw new NotSupportedException($"fullgraph=True but the graph breaks: {b.Cause.Reason} ({b.Cause.Location?.File}:{b.Cause.Location?.Line})");
        return entry;
    }

    /// <summary>
    /// Compiles a new entry (unless discarded), caches it and reports it. Compiled now, under the grad
    /// mode the entry's guards pin, so that explain reports it with the capture.
    /// </summary>
    private void Store(CodeCache cache, CaptureResult entry, TimeSpan captureTime, string? failure, bool discarded)
    {
        var compiled = discarded ? null : backend.Compile(entry.Graph, entry.Guards.Guards.OfType<GradModeGuard>().FirstOrDefault()?.Enabled ?? bridge.IsGradEnabled());
        cache.Entries.Add(entry);
        if (compiled is not null)
            cache.Compiled[entry] = CompiledEntry.Of(compiled, entry);
        if (failure is not null) _recompileReasons.Add($"{cache.Code.Name}: {failure}");
        Emit(cache, new CaptureEvent.Captured(cache.Code.Name, entry, captureTime, failure, Discarded: discarded) { Compiled = compiled });
    }

    /// <summary>Runs an entry's graph and side effects; returns the frame's value, or null after rebuilding the frame at its break.</summary>
    private PyObject? RunEntry(CodeCache cache, CaptureResult entry, FrameState frame)
    {
        using var outputs = RunGraph(cache.Compiled[entry], entry, frame);
        try
        {
            Replay(entry.SideEffects, outputs, frame);
            switch (entry.Exit)
            {
                case ExitPlan.Return r:
                    return Build(r.Value, outputs, frame);
                case ExitPlan.Break b:
                    Rebuild(frame, b, outputs);
                    return null;
                default:
                    throw new InvalidOperationException($"unknown exit {entry.Exit}");
            }
        }
        finally { ForgetBuilt(); }
    }

    private static PyObject CallEagerly(PyObject function, PyObject args, PyObject kwargs) =>
        function.Call(args.ToItems().ToList(), kwargs.ToDictItems().Select(p => { using (p.Key) return new KeyValuePair<string, PyObject>(p.Key.AsString(), p.Value); }));

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

    private CaptureResult? Lookup(CodeCache cache, FrameState frame, int pc, out string? firstFailure)
    {
        firstFailure = null;
        foreach (var entry in cache.Entries.Where(e => e.EntryIndex == pc))
        {
            var failure = entry.Guards.Check(frame, bridge);
            if (failure is null) return entry;
            firstFailure ??= failure;
        }
        return null;
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
        catch when (gradMode is { } mode)
        {
            bridge.SetGradEnabled(mode);
            throw;
        }
        finally
        {
            foreach (var v in values) if (v.Object is not null) v.Dispose();
        }
    }

    private RealExecutor.CallHook? _callHook;

    /// <summary>
    /// A real call from a frame Capture runs: Python functions and nn.Modules without hooks go through
    /// the frame runner (captured in their own right); anything else is called directly.
    /// </summary>
    private PyObject CallThroughCapture(PyObject callable, IReadOnlyList<PyObject> args, IReadOnlyList<KeyValuePair<string, PyObject>> kwargs)
    {
        PyObject? function = null;
        PyObject? self = null;
        var arguments = args.ToList();
        if (callable.TypeName == "function") function = callable.NewReference();
        else if (bridge.IsModule(callable) && !ModuleHooks.Any(callable))
        {
            using var type = callable.Type;
            function = type.GetAttr("forward");
            arguments.Insert(0, callable);
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
        if (function is null) return callable.Call(args, kwargs);
        using (self)
        using (function)
        using (var tuple = Py.Tuple(arguments))
        using (var dict = Py.Dict(kwargs))
            return Call(function, tuple, dict);
    }


    /// <summary>Runs one instruction for real; returns the next instruction, or sets the returned value.</summary>
    private int StepReal(CodeCache cache, FrameState frame, int pc, out PyObject? returned)
    {
        returned = null;
        switch (RealExecutor.Execute(cache.Code, frame, pc, _callHook))
        {
            case RealStep.Return r: returned = r.Value; return -1;
            case RealStep.Continue c: return c.Next;
            default: throw new InvalidOperationException("unknown step");
        }
    }

    /// <summary>Past the entry limit the rest of the frame runs for real, instruction by instruction.</summary>
    private PyObject RunRest(CodeCache cache, FrameState frame, int pc)
    {
        ReportLimit(cache);
        while (true)
        {
            pc = StepReal(cache, frame, pc, out var returned);
            if (returned is not null) return returned;
        }
    }

    private void ReportLimit(CodeCache cache)
    {
        if (cache.LimitReported) return;
        cache.LimitReported = true;
        Emit(cache, new CaptureEvent.RanEagerly(cache.Code.Name, $"{cache.Code.Name} was captured {MaxEntries} times (the recompile limit): it runs eagerly from now on"));
    }

    private readonly FrameBinder _binder = new();

    private FrameState BindFrame(CodeCache cache, PyObject function, PyObject args, PyObject kwargs) =>
        _binder.Bind(cache.Code, ref cache.Scope, function, args, kwargs);

    private readonly Dictionary<ValueSpec, PyObject> _built = new(ReferenceEqualityComparer.Instance);

    /// <summary>The real value a spec describes; a spec shared by several slots is built once (one list, not two).</summary>
    private PyObject Build(ValueSpec spec, PyObject outputs, FrameState frame)
    {
        if (_built.TryGetValue(spec, out var known)) return known.NewReference();
        var value = BuildNew(spec, outputs, frame);
        if (spec is ValueSpec.List or ValueSpec.Dict or ValueSpec.Tuple or ValueSpec.Iterator) _built[spec] = value.NewReference();
        return value;
    }

    private void ForgetBuilt()
    {
        foreach (var v in _built.Values) v.Dispose();
        _built.Clear();
    }

    private PyObject BuildNew(ValueSpec spec, PyObject outputs, FrameState frame) => spec switch
    {
        ValueSpec.Output o => outputs.TupleItem(o.Index),
        ValueSpec.Constant c => c.Value.NewReference(),
        ValueSpec.FromSource s => s.Source.Resolve(frame),
        ValueSpec.Tuple { NamedType: { } type } t => NamedTuple(type, t.Items, outputs, frame),
        ValueSpec.Tuple t => Sequence(t.Items, outputs, frame, tuple: true),
        ValueSpec.List l => Sequence(l.Items, outputs, frame, tuple: false),
        ValueSpec.Dict d => Dict(d, outputs, frame),
        ValueSpec.Method m => MethodOf(m, outputs, frame),
        ValueSpec.Iterator it => IteratorOf(it, outputs, frame),
        ValueSpec.Function f => FunctionOf(f, outputs, frame),
        ValueSpec.GradMode g => Py.Eval($"__import__('torch').{(g.Enabled ? "enable_grad" : "no_grad")}()"),
        _ => throw new InvalidOperationException($"cannot build {spec}"),
    };

    private PyObject Sequence(IReadOnlyList<ValueSpec> items, PyObject outputs, FrameState frame, bool tuple)
    {
        var values = items.Select(i => Build(i, outputs, frame)).ToList();
        try { return tuple ? Py.Tuple(values) : Py.List(values); }
        finally { foreach (var v in values) v.Dispose(); }
    }

    private PyObject NamedTuple(PyObject type, IReadOnlyList<ValueSpec> items, PyObject outputs, FrameState frame)
    {
        using var plain = Sequence(items, outputs, frame, tuple: true);
        return type.Call(plain);
    }

    private PyObject Dict(ValueSpec.Dict d, PyObject outputs, FrameState frame)
    {
        var values = d.Items.Select(p => new KeyValuePair<string, PyObject>(p.Key, Build(p.Value, outputs, frame))).ToList();
        try { return Py.Dict(values); }
        finally { foreach (var v in values) v.Value.Dispose(); }
    }

    private PyObject MethodOf(ValueSpec.Method m, PyObject outputs, FrameState frame)
    {
        using var self = Build(m.Self, outputs, frame);
        return self.GetAttr(m.Name);
    }

    private PyObject IteratorOf(ValueSpec.Iterator it, PyObject outputs, FrameState frame)
    {
        using var list = Sequence(it.Remaining, outputs, frame, tuple: false);
        using var iter = Py.Builtins.GetAttr("iter");
        return iter.Call(list);
    }

    /// <summary>Makes the segment's stores on objects from the frame for real, in the order they happened.</summary>
    private void Replay(IReadOnlyList<SideEffect> effects, PyObject outputs, FrameState frame)
    {
        foreach (var effect in effects)
        {
            switch (effect)
            {
                case SideEffect.ListContents l:
                    using (var target = l.Target.Resolve(frame))
                    using (var items = Build(l.Items, outputs, frame))
                    using (var all = Py.Eval("slice(None)"))
                        target.SetItem(all, items);
                    break;
                case SideEffect.StoreAttr a:
                    using (var owner = a.Owner.Resolve(frame))
                    using (var value = Build(a.Value, outputs, frame))
                        owner.SetAttr(a.Name, value);
                    break;
            }
        }
    }

    private PyObject FunctionOf(ValueSpec.Function f, PyObject outputs, FrameState frame)
    {
        var defaults = f.Defaults.Select(d => Build(d, outputs, frame)).ToList();
        var kw = f.KwDefaults.Select(p => new KeyValuePair<string, PyObject>(p.Key, Build(p.Value, outputs, frame))).ToList();
        try
        {
            using var defaultsTuple = defaults.Count == 0 ? Py.None : Py.Tuple(defaults);
            using var kwDict = kw.Count == 0 ? null : Py.Dict(kw);
            return RealExecutor.MakeFunction(f.Code, f.Globals, defaultsTuple, kwDict);
        }
        finally
        {
            foreach (var d in defaults) d.Dispose();
            foreach (var p in kw) p.Value.Dispose();
        }
    }

    /// <summary>Replaces the frame's locals and stack with the values the segment left.</summary>
    private void Rebuild(FrameState frame, ExitPlan.Break b, PyObject outputs)
    {
        var locals = b.Locals.ToDictionary(p => p.Key, p => Build(p.Value, outputs, frame));
        var stack = b.Stack.Select(s => s is ValueSpec.Null ? null : Build(s, outputs, frame)).ToList();
        foreach (var name in frame.Locals.Keys.ToList()) frame.SetLocal(name, locals.Remove(name, out var v) ? v : Py.None);
        foreach (var name in frame.Locals.Keys.Where(n => !b.Locals.ContainsKey(n)).ToList()) frame.RemoveLocal(name);
        foreach (var (name, value) in locals) frame.SetLocal(name, value);
        foreach (var old in frame.Stack) old?.Dispose();
        frame.Stack.Clear();
        frame.Stack.AddRange(stack);
    }
}
