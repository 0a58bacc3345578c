using System.Diagnostics;
using System.Reflection;

namespace Capture.Reliability.Tests;

public sealed record Run(int ExitCode, string Stdout, string Stderr)
{
    public string Output => Stdout + Stderr;
}

/// <summary>Runs the built `capture` command (this configuration), one process per probe: a crash or a leak stays in its process.</summary>
public static class Cli
{
    public static string Root { get; } = FindRoot();

    private static string Configuration =>
        typeof(Cli).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    public static string CliPath => Path.Combine(Root, "runtime", "Capture.Cli", "bin", Configuration, "net10.0", "Capture.Cli");

    public static string Script(string name) => Path.Combine(Root, "tests", "Capture.Reliability.Tests", "scripts", name);

    /// <summary>`capture ARGS`, waited for (at most <paramref name="minutes"/>).</summary>
    public static Run Capture(IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null, double minutes = 4)
    {
        using var process = Start(CliPath, args, environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(minutes)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"capture {string.Join(' ', args)} did not finish in {minutes} minutes");
        }
        return new Run(process.ExitCode, stdout.Result, stderr.Result);
    }

    public static Run Capture(params string[] args) => Capture((IReadOnlyList<string>)args);

    public static Process Start(string program, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Root,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        return Process.Start(start)!;
    }

    /// <summary>The backends every probe runs on.</summary>
    public static TheoryData<string> Backends => new() { "eager", "roslyn", "llvm" };

    public static TheoryData<string> KernelBackends => new() { "roslyn", "llvm" };

    public static TheoryData<string, string> BackendsAndModes
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var backend in new[] { "eager", "roslyn", "llvm" })
                foreach (var mode in new[] { "bytecode", "ast" })
                    data.Add(backend, mode);
            return data;
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Capture.sln"))) return dir.FullName;
        throw new InvalidOperationException("Capture.sln not found above " + AppContext.BaseDirectory);
    }
}
