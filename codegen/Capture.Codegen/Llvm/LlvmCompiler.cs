namespace Capture.Codegen.Llvm;

/// <summary>
/// Kernels as LLVM IR, optimized at O3 for the host and linked by ORC (<see cref="LlvmJit"/>). The
/// compiled object is what the kernel cache keeps, keyed by the IR, the host CPU and its features,
/// the LLVM library and Capture's code generator: a second process links the object without running
/// LLVM's optimizer or code generator. Each kernel's entry spreads its work items over threads
/// (on KernelThreads, as the C# kernels do) when the kernel is big enough.
/// </summary>
public sealed class LlvmKernelCompiler : IKernelCompiler
{
    /// <summary>Loads libLLVM: throws NotSupportedException naming Debian's package when it is missing.</summary>
    public LlvmKernelCompiler() => LlvmApi.Load();

    /// <summary>Where this compiler's kernels are optimized, emitted and linked.</summary>
    public LlvmJit Jit { get; } = new();

    public string Name => "llvm";

    public string Language => "LLVM IR";

    public IGeneratedKernels Generate(IReadOnlyList<Kernel> kernels, KernelSchedule schedule) => new Generated(this, LlvmEmitter.Emit(kernels, schedule));

    private static readonly string Salt = string.Join(";", "llvm", typeof(LlvmKernelCompiler).Assembly.ManifestModule.ModuleVersionId);

    private sealed record Generated(LlvmKernelCompiler Compiler, LlvmModule Module) : IGeneratedKernels
    {
        public string Source => Module.Ir;

        public unsafe CompiledKernels Compile(KernelCache? cache, string salt)
        {
            var jit = Compiler.Jit;
            var key = KernelCache.Key(Module.Ir, $"{Salt};{jit.Host};{LlvmApi.LibraryPath};{salt}");
            var image = cache?.TryLoad(key);
            var fromCache = image is not null;
            LinkedModule? linked = null;
            if (image is not null)
            {
                // an entry that checks out but does not link (a bad image) is discarded and rebuilt, not kept
                try { linked = jit.Link(key, image, Module.Kernels.Select(k => k.Symbol)); }
                catch (LlvmException)
                {
                    cache!.Discard(key);
                    (image, fromCache) = (null, false);
                }
            }
            if (image is null)
            {
                image = jit.CompileToObject(Module.Ir, $"capture_{key[..16]}");
                cache?.Store(key, image);
            }
            linked ??= jit.Link(key, image, Module.Kernels.Select(k => k.Symbol));
            return new CompiledKernels(Module.Kernels.ToDictionary(k => k.Name, k => Entry(k, linked.Addresses[k.Symbol])), key, fromCache) { Owner = linked };
        }
    }

    private static unsafe KernelEntry Entry(LlvmKernel kernel, nint address)
    {
        if (kernel.RuntimeItemsAt is { } itemsAt)
        {
            // over dynamic sizes: the items and elements of this call, from the strides array
            var parallelFrom = KernelSchedule.Host.ParallelElements;
            return (p, s) =>
            {
                var (runtimeItems, elements) = (s[itemsAt], s[itemsAt + 1]);
                if (runtimeItems <= 1 || elements < parallelFrom)
                {
                    ((delegate* unmanaged<long, long, nint*, long*, void>)address)(0, runtimeItems, p, s);
                    return;
                }
                var chunks = (int)Math.Min(runtimeItems, Environment.ProcessorCount * 4L);
                var (pp, ss) = ((nint)p, (nint)s);
                KernelThreads.For(chunks, c => ((delegate* unmanaged<long, long, nint*, long*, void>)address)(runtimeItems * c / chunks, runtimeItems * (c + 1) / chunks, (nint*)pp, (long*)ss));
            };
        }
        var items = kernel.Items;
        if (!kernel.Parallel)
            return (p, s) => ((delegate* unmanaged<long, long, nint*, long*, void>)address)(0, items, p, s);
        return (p, s) =>
        {
            var chunks = (int)Math.Min(items, Environment.ProcessorCount * 4L);
            var (pp, ss) = ((nint)p, (nint)s);
            KernelThreads.For(chunks, c => ((delegate* unmanaged<long, long, nint*, long*, void>)address)(items * c / chunks, items * (c + 1) / chunks, (nint*)pp, (long*)ss));
        };
    }

    /// <summary>The host assembly generated LLVM IR becomes (for `capture graph --format asm`).</summary>
    public string Assembly(string ir) => Jit.CompileToAssembly(ir, "capture_report");
}
