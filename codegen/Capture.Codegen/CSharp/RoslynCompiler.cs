using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Capture.Codegen;

/// <summary>
/// Compiles generated C# in memory with Roslyn (optimized, unsafe allowed) into a collectible
/// AssemblyLoadContext and hands out each kernel as a <see cref="KernelEntry"/>. With a
/// <see cref="KernelCache"/>, an image compiled before for the same source (and versions) is loaded
/// instead. Compile errors are a bug in the emitter: they come back with the generated source.
/// </summary>
public static class RoslynCompiler
{
    private static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p) is "System.Runtime.dll" or "System.Private.CoreLib.dll" or "System.Threading.Tasks.Parallel.dll"
                or "System.Collections.Concurrent.dll" or "System.Threading.dll" or "netstandard.dll" or "System.Runtime.Intrinsics.dll"
                or "System.Numerics.Vectors.dll")
            .Append(typeof(KernelThreads).Assembly.Location) // the kernels' thread team
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray());

    /// <summary>What makes an image stale besides its source: Capture's code generator and Roslyn.</summary>
    private static readonly string Salt = string.Join(";",
        typeof(RoslynCompiler).Assembly.ManifestModule.ModuleVersionId,
        typeof(CSharpCompilation).Assembly.GetName().Version,
        Environment.Version);

    /// <summary>How many generated assemblies are still loaded (each unloads once its kernels are unreachable).</summary>
    public static int LoadedAssemblies => AssemblyLoadContext.All.Count(c => c.IsCollectible && c.Name?.StartsWith("capture_", StringComparison.Ordinal) == true);

    public static CompiledKernels Compile(string source, string className, IEnumerable<string> kernels, KernelCache? cache = null, string salt = "")
    {
        var key = KernelCache.Key(source, Salt + ";" + salt);
        var assemblyName = "capture_" + key[..32];
        if (cache?.TryLoad(key) is { } cached)
        {
            try { return new CompiledKernels(Load(cached, assemblyName, className, kernels), key, FromCache: true); }
            catch (Exception e) when (e is BadImageFormatException or InvalidOperationException or FileLoadException)
            {
                cache.Discard(key); // loads wrongly or not at all: rebuilt below
            }
        }
        var image = Emit(source, className, assemblyName);
        cache?.Store(key, image);
        return new CompiledKernels(Load(image, assemblyName, className, kernels), key, FromCache: false);
    }

    private static byte[] Emit(string source, string className, string assemblyName)
    {
        var tree = CSharpSyntaxTree.ParseText(source);
        var compilation = CSharpCompilation.Create(
            assemblyName, [tree], References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release,
                allowUnsafe: true, deterministic: true));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        if (!emitted.Success)
        {
            // a bug in the code generator: the errors with their lines, and the whole source in a file, not in the message
            var lines = source.Split('\n');
            var errors = emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(5).Select(d =>
            {
                var line = d.Location.GetLineSpan().StartLinePosition.Line;
                return $"  {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}\n    {(line < lines.Length ? lines[line].Trim() : "")}";
            });
            var dump = Path.Combine(Path.GetTempPath(), $"{assemblyName}.cs");
            try { File.WriteAllText(dump, source); }
            catch (IOException) { dump = "(not written)"; }
            throw new InvalidOperationException($"generated C# for {className} does not compile (a bug in Capture's code generator):\n{string.Join("\n", errors)}\nthe generated source: {dump}");
        }
        return image.ToArray();
    }

    private static Dictionary<string, KernelEntry> Load(byte[] image, string assemblyName, string className, IEnumerable<string> kernels)
    {
        var context = new AssemblyLoadContext(assemblyName, isCollectible: true);
        using var stream = new MemoryStream(image);
        var assembly = context.LoadFromStream(stream);
        if (assembly.GetName().Name != assemblyName)
            throw new InvalidOperationException($"the image is {assembly.GetName().Name}, not {assemblyName}");
        var type = assembly.GetType(className) ?? throw new InvalidOperationException($"no class {className} in the generated assembly");
        var entries = kernels.ToDictionary(k => k, k => (KernelEntry)Delegate.CreateDelegate(typeof(KernelEntry),
            type.GetMethod(k, BindingFlags.Public | BindingFlags.Static) ?? throw new InvalidOperationException($"no kernel method {k}")));
        // nothing more is loaded into the context: it unloads once its delegates are unreachable
        // (a collectible context that is never told to unload stays for the life of the process)
        context.Unload();
        return entries;
    }
}
