namespace Capture.Codegen;

/// <summary>A compiled kernel's entry: operands' data addresses and strides.</summary>
public unsafe delegate void KernelEntry(nint* pointers, long* strides);

/// <summary>The kernels of one compiled module (a Roslyn assembly, an LLVM object), by name, and whether it came from the kernel cache.</summary>
/// <see cref="Owner"/> keeps the compiled code loaded while the kernels are held (LLVM's linked
/// object; a Roslyn assembly's load context stays while its delegates do).
public sealed record CompiledKernels(IReadOnlyDictionary<string, KernelEntry> Entries, string Key, bool FromCache)
{
    public IDisposable? Owner { get; init; }
}

/// <summary>Generated source for a graph's kernels, ready to be compiled.</summary>
public interface IGeneratedKernels
{
    /// <summary>The generated text (C#, LLVM IR), shown by reports and `capture graph --format`.</summary>
    string Source { get; }

    /// <summary>Compiles it (or loads it from <paramref name="cache"/>) and hands out each kernel's entry.</summary>
    CompiledKernels Compile(KernelCache? cache, string salt);
}

/// <summary>A code generator and compiler for kernels: what a kernel backend is built on.</summary>
public interface IKernelCompiler
{
    /// <summary>The backend's name, and the name of its compile phase in reports ("roslyn", "llvm").</summary>
    string Name { get; }

    /// <summary>What the generated source is written in, for reports ("C#", "LLVM IR").</summary>
    string Language { get; }

    IGeneratedKernels Generate(IReadOnlyList<Kernel> kernels, KernelSchedule schedule);
}
