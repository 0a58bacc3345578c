using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Capture.Codegen;

/// <summary>A compiled kernel's entry: operands' data addresses and strides.</summary>
public unsafe delegate void KernelEntry(nint* pointers, long* strides);

/// <summary>
/// Compiles generated C# in memory with Roslyn (optimized, unsafe allowed) into a collectible
/// AssemblyLoadContext and hands out each kernel as a <see cref="KernelEntry"/>. Compile errors are
/// a bug in the emitter: they come back with the generated source's lines.
/// </summary>
public static class RoslynCompiler
{
    private static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p) is "System.Runtime.dll" or "System.Private.CoreLib.dll" or "System.Threading.Tasks.Parallel.dll"
                or "System.Collections.Concurrent.dll" or "System.Threading.dll" or "netstandard.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray());

    public static IReadOnlyDictionary<string, KernelEntry> Compile(string source, string className, IEnumerable<string> kernels)
    {
        var tree = CSharpSyntaxTree.ParseText(source);
        var compilation = CSharpCompilation.Create(
            "capture_" + className, [tree], References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release, allowUnsafe: true));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        if (!emitted.Success)
        {
            var errors = emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(5).Select(d => d.ToString());
            throw new InvalidOperationException($"generated C# for {className} does not compile:\n{string.Join("\n", errors)}\n{source}");
        }
        image.Position = 0;
        var context = new AssemblyLoadContext("capture_" + className, isCollectible: true);
        var assembly = context.LoadFromStream(image);
        var type = assembly.GetType(className) ?? throw new InvalidOperationException($"no class {className} in the generated assembly");
        return kernels.ToDictionary(k => k, k => (KernelEntry)Delegate.CreateDelegate(typeof(KernelEntry),
            type.GetMethod(k, BindingFlags.Public | BindingFlags.Static) ?? throw new InvalidOperationException($"no kernel method {k}")));
    }
}
