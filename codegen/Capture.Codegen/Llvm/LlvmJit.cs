using System.Runtime.InteropServices;
using System.Text;

namespace Capture.Codegen.Llvm;

/// <summary>An LLVM object owned by its disposer (context, module, buffer, target machine).</summary>
internal sealed class LlvmHandle : SafeHandle
{
    private readonly Action<nint> _dispose;

    public LlvmHandle(nint handle, Action<nint> dispose, string what) : base(0, ownsHandle: true)
    {
        if (handle == 0) throw new LlvmException($"LLVM gave no {what}");
        SetHandle(handle);
        _dispose = dispose;
    }

    public override bool IsInvalid => handle == 0;

    public nint Value => IsClosed ? throw new ObjectDisposedException(nameof(LlvmHandle)) : handle;

    /// <summary>Hands the handle to LLVM (a call that takes ownership): it is not disposed here.</summary>
    public nint Release()
    {
        var value = handle;
        SetHandleAsInvalid();
        return value;
    }

    protected override bool ReleaseHandle()
    {
        _dispose(handle);
        return true;
    }
}

/// <summary>
/// An LLVM for kernels (one per LLVM kernel compiler, so one per session): one target machine for the host CPU and its features (O3, the large code
/// model: ORC's RuntimeDyld places an object's code and constants wherever memory is free, further
/// apart than the small model's 32-bit offsets reach), and one ORC LLJIT whose main library resolves the C library's symbols (libm's tanh, malloc)
/// from the process. IR text is parsed, verified, optimized with the new pass manager's
/// <c>default&lt;O3&gt;</c> pipeline and emitted as an object file; objects (new, or from the
/// cache) are linked by the JIT and their kernels looked up by name. Objects stay linked for the
/// life of the JIT, which is the life of the process: compiled kernels may be called until it ends
/// (one object per distinct generated module: the same module is linked once).
/// Everything here runs under one lock: LLVM's target machine is not shared between threads.
/// </summary>
public sealed unsafe class LlvmJit
{
    private readonly Lock _gate = new();
    private LlvmHandle? _machine;
    private nint _jit, _dylib;
    private readonly Dictionary<string, Linked> _linked = [];

    /// <summary>The host triple, CPU and features the code is generated for (part of the cache key).</summary>
    public string Host
    {
        get { lock (_gate) { Start(); return _host!; } }
    }

    private string? _host, _triple;

    private void Start()
    {
        if (_machine is not null) return;
        LlvmApi.Load();
        LlvmApi.LLVMInitializeX86TargetInfo();
        LlvmApi.LLVMInitializeX86Target();
        LlvmApi.LLVMInitializeX86TargetMC();
        LlvmApi.LLVMInitializeX86AsmPrinter();
        var triple = LlvmApi.Take(LlvmApi.LLVMGetDefaultTargetTriple())!;
        var cpu = LlvmApi.Take(LlvmApi.LLVMGetHostCPUName())!;
        var features = LlvmApi.Take(LlvmApi.LLVMGetHostCPUFeatures())!;
        if (LlvmApi.LLVMGetTargetFromTriple(triple, out var target, out var error) != 0)
            throw new LlvmException($"no LLVM target for {triple}: {LlvmApi.Take(error)}");
        _machine = new LlvmHandle(LlvmApi.LLVMCreateTargetMachine(target, triple, cpu, features,
            LlvmApi.CodeGenLevelAggressive, LlvmApi.RelocStatic, LlvmApi.CodeModelLarge), LlvmApi.LLVMDisposeTargetMachine, "target machine");
        LlvmApi.Check(LlvmApi.LLVMOrcCreateLLJIT(out _jit, 0), "creating the LLJIT");
        _dylib = LlvmApi.LLVMOrcLLJITGetMainJITDylib(_jit);
        LlvmApi.Check(LlvmApi.LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(out var generator, LlvmApi.LLVMOrcLLJITGetGlobalPrefix(_jit), 0, 0),
            "resolving the process's symbols");
        LlvmApi.LLVMOrcJITDylibAddGenerator(_dylib, generator);
        (_triple, _host) = (triple, $"{triple} {cpu} {features}");
    }

    /// <summary>Parses, verifies and optimizes <paramref name="ir"/>, then emits it as an object file.</summary>
    public byte[] CompileToObject(string ir, string name)
    {
        lock (_gate) return Emit(ir, name, LlvmApi.ObjectFile);
    }

    /// <summary>The host assembly the optimized module becomes (for reports).</summary>
    public string CompileToAssembly(string ir, string name)
    {
        lock (_gate) return Encoding.UTF8.GetString(Emit(ir, name, LlvmApi.AssemblyFile));
    }

    /// <summary>The module after the O3 pipeline, as IR text (for reports and tests).</summary>
    public string Optimize(string ir, string name)
    {
        lock (_gate)
        {
            Start();
            using var context = new LlvmHandle(LlvmApi.LLVMContextCreate(), LlvmApi.LLVMContextDispose, "context");
            using var module = Parse(context, ir, name);
            return LlvmApi.Take(LlvmApi.LLVMPrintModuleToString(module.Value))!;
        }
    }

    private byte[] Emit(string ir, string name, int fileType)
    {
        Start();
        using var context = new LlvmHandle(LlvmApi.LLVMContextCreate(), LlvmApi.LLVMContextDispose, "context");
        using var module = Parse(context, ir, name);
        if (LlvmApi.LLVMTargetMachineEmitToMemoryBuffer(_machine!.Value, module.Value, fileType, out var error, out var buffer) != 0)
            throw new LlvmException($"LLVM could not emit {name}: {LlvmApi.Take(error)}");
        using var owned = new LlvmHandle(buffer, LlvmApi.LLVMDisposeMemoryBuffer, "buffer");
        var bytes = new byte[(int)LlvmApi.LLVMGetBufferSize(buffer)];
        Marshal.Copy(LlvmApi.LLVMGetBufferStart(buffer), bytes, 0, bytes.Length);
        return bytes;
    }

    /// <summary>The module <paramref name="ir"/> describes, verified, for the host, after <c>default&lt;O3&gt;</c>.</summary>
    private LlvmHandle Parse(LlvmHandle context, string ir, string name)
    {
        var text = Encoding.UTF8.GetBytes(ir);
        nint buffer;
        fixed (byte* p = text) buffer = LlvmApi.LLVMCreateMemoryBufferWithMemoryRangeCopy(p, (nuint)text.Length, name);
        // the parser takes the buffer, parsed or not
        if (LlvmApi.LLVMParseIRInContext(context.Value, buffer, out var parsed, out var error) != 0)
            throw new LlvmException($"generated LLVM IR for {name} does not parse: {LlvmApi.Take(error)}\n{Numbered(ir)}");
        var module = new LlvmHandle(parsed, LlvmApi.LLVMDisposeModule, "module");
        try
        {
            if (LlvmApi.LLVMVerifyModule(module.Value, LlvmApi.VerifierReturnStatus, out var invalid) != 0)
                throw new LlvmException($"generated LLVM IR for {name} does not verify: {LlvmApi.Take(invalid)}\n{Numbered(ir)}");
            LlvmApi.Take(invalid);
            LlvmApi.LLVMSetTarget(module.Value, _triple!);
            var layout = LlvmApi.LLVMCreateTargetDataLayout(_machine!.Value);
            LlvmApi.LLVMSetModuleDataLayout(module.Value, layout);
            LlvmApi.LLVMDisposeTargetData(layout);
            var options = LlvmApi.LLVMCreatePassBuilderOptions();
            try
            {
                LlvmApi.Check(LlvmApi.LLVMRunPasses(module.Value, "default<O3>", _machine.Value, options), $"optimizing {name}");
                if (InlineLate(module.Value))
                    LlvmApi.Check(LlvmApi.LLVMRunPasses(module.Value, "always-inline,function(instcombine,simplifycfg)", _machine.Value, options), $"inlining {name}'s helpers");
            }
            finally { LlvmApi.LLVMDisposePassBuilderOptions(options); }
            return module;
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Functions marked "capture-late-inline" are kept out of line through O3 (noinline) and always
    /// inlined after it: a scalar helper with a vector variant ("vector-function-abi-variant") must
    /// still be a call when the loop vectorizer looks for one to widen, and the variant it calls
    /// instead is only inlined by a pass after that. Says whether the module has any.
    /// </summary>
    private static bool InlineLate(nint module)
    {
        static uint Kind(string name)
        {
            var bytes = Encoding.ASCII.GetBytes(name);
            fixed (byte* p = bytes) return LlvmApi.LLVMGetEnumAttributeKindForName(p, (nuint)bytes.Length);
        }
        var key = Encoding.ASCII.GetBytes("capture-late-inline");
        var (noinline, alwaysinline) = (Kind("noinline"), Kind("alwaysinline"));
        var found = false;
        for (var function = LlvmApi.LLVMGetFirstFunction(module); function != 0; function = LlvmApi.LLVMGetNextFunction(function))
        {
            nint marked;
            fixed (byte* p = key) marked = LlvmApi.LLVMGetStringAttributeAtIndex(function, LlvmApi.FunctionIndex, p, (uint)key.Length);
            if (marked == 0) continue;
            LlvmApi.LLVMRemoveEnumAttributeAtIndex(function, LlvmApi.FunctionIndex, noinline);
            LlvmApi.LLVMAddAttributeAtIndex(function, LlvmApi.FunctionIndex, LlvmApi.LLVMCreateEnumAttribute(LlvmApi.LLVMGetModuleContext(module), alwaysinline, 0));
            found = true;
        }
        return found;
    }

    private static string Numbered(string ir) =>
        string.Join("\n", ir.Split('\n').Select((line, i) => $"{i + 1,5} | {line}"));

    /// <summary>
    /// Links an object file (once per <paramref name="key"/>: compiled graphs of the same module
    /// share it) and returns its kernels' addresses. The returned module keeps the code linked; when
    /// the last holder of a key disposes or drops it, its code is removed from the JIT (through the
    /// object's resource tracker), so reset and recompile cycles do not grow the process.
    /// </summary>
    public LinkedModule Link(string key, byte[] image, IEnumerable<string> symbols)
    {
        lock (_gate)
        {
            Start();
            if (!_linked.TryGetValue(key, out var linked))
            {
                var tracker = LlvmApi.LLVMOrcJITDylibCreateResourceTracker(_dylib);
                nint buffer;
                fixed (byte* p = image) buffer = LlvmApi.LLVMCreateMemoryBufferWithMemoryRangeCopy(p, (nuint)image.Length, key);
                try { LlvmApi.Check(LlvmApi.LLVMOrcLLJITAddObjectFileWithRT(_jit, tracker, buffer), $"linking kernels {key[..16]}"); }
                catch
                {
                    LlvmApi.LLVMOrcReleaseResourceTracker(tracker);
                    throw;
                }
                _linked[key] = linked = new Linked(tracker);
            }
            foreach (var symbol in symbols)
            {
                if (linked.Addresses.ContainsKey(symbol)) continue;
                LlvmApi.Check(LlvmApi.LLVMOrcLLJITLookup(_jit, out var address, symbol), $"looking up {symbol}");
                linked.Addresses[symbol] = (nint)address;
            }
            linked.Holders++;
            return new LinkedModule(this, key, new Dictionary<string, nint>(linked.Addresses));
        }
    }

    /// <summary>How many objects are linked now (each removed when its last holder goes).</summary>
    public int LinkedCount
    {
        get { lock (_gate) return _linked.Count; }
    }

    /// <summary>A holder of <paramref name="key"/>'s code is gone: the last one removes it from the JIT.</summary>
    internal void Unlink(string key)
    {
        lock (_gate)
        {
            if (!_linked.TryGetValue(key, out var linked) || --linked.Holders > 0) return;
            _linked.Remove(key);
            // removing frees the code; nothing can call it: every delegate to it went with its holders
            LlvmApi.Check(LlvmApi.LLVMOrcResourceTrackerRemove(linked.Tracker), $"unlinking kernels {key[..16]}");
            LlvmApi.LLVMOrcReleaseResourceTracker(linked.Tracker);
        }
    }

    private sealed class Linked(nint tracker)
    {
        public nint Tracker { get; } = tracker;
        public Dictionary<string, nint> Addresses { get; } = [];
        public int Holders;
    }
}

/// <summary>One holder's share of linked code: its kernels' addresses, valid until it is disposed (or finalized).</summary>
public sealed class LinkedModule : IDisposable
{
    private readonly LlvmJit _jit;
    private readonly string _key;
    private int _released;

    internal LinkedModule(LlvmJit jit, string key, IReadOnlyDictionary<string, nint> addresses)
    {
        (_jit, _key, Addresses) = (jit, key, addresses);
    }

    public IReadOnlyDictionary<string, nint> Addresses { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _jit.Unlink(_key);
        GC.SuppressFinalize(this);
    }

    ~LinkedModule()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _jit.Unlink(_key);
    }
}
