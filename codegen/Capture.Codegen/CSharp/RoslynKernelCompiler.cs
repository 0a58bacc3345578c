namespace Capture.Codegen;

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
