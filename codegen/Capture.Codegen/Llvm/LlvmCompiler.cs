
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
    private static int _llvmRuns;

    public static LlvmKernelCompiler Instance { get; } = new();

    /// <summary>How many times this process ran LLVM's optimizer and code generator (tests check the cache with it).</summary>
    public static int LlvmRuns => _llvmRuns;

    public string Name => "llvm";

    public string Language => "LLVM IR";

    /// <summary>Loads libLLVM now: throws NotSupportedException naming Debian's package when it is missing.</summary>
    public static void EnsureAvailable() => LlvmApi.Load();

    public IGeneratedKernels Generate(IReadOnlyList<Kernel> kernels, KernelSchedule schedule) => new Generated(LlvmEmitter.Emit(kernels, schedule));

    private static readonly string Salt = string.Join(";", "llvm", typeof(LlvmKernelCompiler).Assembly.ManifestModule.ModuleVersionId);

    private sealed record Generated(LlvmModule Module) : IGeneratedKernels
    {
        public string Source => Module.Ir;

        public unsafe CompiledKernels Compile(KernelCache? cache, string salt)
        {
            var key = KernelCache.Key(Module.Ir, $"{Salt};{LlvmJit.Host};{LlvmApi.LibraryPath};{salt}");
            var image = cache?.TryLoad(key);
            var fromCache = image is not null;
            if (image is null)
            {
                Interlocked.Increment(ref _llvmRuns);
                image = LlvmJit.CompileToObject(Module.Ir, $"capture_{key[..16]}");
                cache?.Store(key, image);
            }
            var addresses = LlvmJit.Link(key, image, Module.Kernels.Select(k => k.Symbol));
            return new CompiledKernels(Module.Kernels.ToDictionary(k => k.Name, k => Entry(k, addresses[k.Symbol])), key, fromCache);
        }
    }

    private static unsafe KernelEntry Entry(LlvmKernel kernel, nint address)
    {
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
    public static string Assembly(string ir) => LlvmJit.CompileToAssembly(ir, "capture_report");
}
