namespace Capture.Codegen;

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

/// <summary>Kernels as C# compiled by Roslyn.</summary>
public sealed class RoslynKernelCompiler : IKernelCompiler
{
    /// <summary>The class every generated assembly holds (one assembly per graph, each in its own load context).</summary>
    public const string ClassName = "CaptureKernels";

    public string Name => "roslyn";

    public string Language => "C#";

    public IGeneratedKernels Generate(IReadOnlyList<Kernel> kernels, KernelSchedule schedule) =>
        new Generated(CSharpEmitter.Emit(ClassName, kernels, schedule), kernels.Select(k => k.Name).ToList());

    private sealed record Generated(string Source, IReadOnlyList<string> Kernels) : IGeneratedKernels
    {
        public CompiledKernels Compile(KernelCache? cache, string salt) => RoslynCompiler.Compile(Source, ClassName, Kernels, cache, salt);
    }
}
