namespace Capture.Runtime;

/// <summary>Where Capture's own files are: found from the running assembly, overridable by environment.</summary>
public static class CapturePaths
{
    private const string PackageMarker = "runtime/python/capture/__init__.py";

    /// <summary>The repository root: the folder holding runtime/python/capture (CAPTURE_HOME overrides).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The folder to put on sys.path so that `import capture` finds the package.</summary>
    public static string PythonPackageParent => Path.Combine(Root, "runtime", "python");

    private static string FindRoot()
    {
        if (Environment.GetEnvironmentVariable("CAPTURE_HOME") is { Length: > 0 } home)
            return Path.GetFullPath(home);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, PackageMarker))) return dir.FullName;
        throw new InvalidOperationException(
            $"cannot find Capture's Python package ({PackageMarker}) above {AppContext.BaseDirectory}; set CAPTURE_HOME to the repository root");
    }
}
