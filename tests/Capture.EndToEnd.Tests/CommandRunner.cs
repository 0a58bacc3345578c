using System.Diagnostics;
using System.Reflection;

namespace Capture.EndToEnd.Tests;

public sealed record CommandResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs the built `capture` CLI (same configuration as these tests) and Debian's python3.11.</summary>
public static class CommandRunner
{
    public static string Root { get; } = FindRoot();

    private static string Configuration =>
        typeof(CommandRunner).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    public static string CliPath => Path.Combine(Root, "runtime", "Capture.Cli", "bin", Configuration, "net10.0", "Capture.Cli");

    public static CommandResult Capture(params string[] args) => Run(CliPath, args);

    /// <summary>`capture ARGS` with capture.compile's default backend set to <paramref name="backend"/> ($CAPTURE_BACKEND).</summary>
    public static CommandResult CaptureOn(string backend, params string[] args) =>
        Run(CliPath, args, environment: new Dictionary<string, string> { ["CAPTURE_BACKEND"] = backend });

    /// <summary>The backends every end-to-end test runs on.</summary>
    public static TheoryData<string> Backends => new() { "eager", "roslyn", "llvm" };

    public static CommandResult Python(params string[] args) => Run("/usr/bin/python3.11", args);

    public static CommandResult Run(string program, IReadOnlyList<string> args, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Root,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in 3 minutes");
        }
        return new CommandResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Capture.sln"))) return dir.FullName;
        throw new InvalidOperationException("Capture.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>True when text shows a .NET stack trace or exception name, which users must never see.</summary>
    public static bool HasDotNetTrace(string text) =>
        text.Contains("   at ") || text.Contains("System.") || (text.Contains("Exception:") && text.Contains("Capture."));
}
