namespace Capture.EndToEnd.Tests;

/// <summary>
/// `import capture` in plain python3.11 (no `./capture run`): CPython loads .NET through libhostfxr
/// and Capture attaches to the running interpreter. Scripts, pytest and Jupyter, each compared with
/// eager torch in the same process.
/// </summary>
public class PythonHostTests
{
    private static string Hosted(string name) => Path.Combine(CommandRunner.Root, "tests", "Capture.EndToEnd.Tests", "scripts", "hosted", name);

    // the package from this checkout, whatever .pth another checkout installed
    private static readonly Dictionary<string, string> Environment = new()
    {
        ["PYTHONPATH"] = Path.Combine(CommandRunner.Root, "runtime", "python"),
        ["CAPTURE_HOME"] = CommandRunner.Root,
    };

    private static CommandResult Python(params string[] args) =>
        CommandRunner.Run("/usr/bin/python3.11", args, environment: Environment);

    private static void AssertClean(CommandResult run)
    {
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        Assert.False(CommandRunner.HasDotNetTrace(run.Stdout + run.Stderr), run.Stderr);
    }

    [Fact]
    public void PlainPythonImportsCaptureIntoItsOwnInterpreter()
    {
        var run = Python("-c", "import sys, capture, torch\n"
            + "info = capture.runtime_info()\n"
            + "print('libpython:', info['libpython'])\n"
            + "print('dotnet:', info['dotnet'])\n"
            + "f = capture.compile(lambda x: (x.sin() * 2).relu())\n"
            + "x = torch.randn(33)\n"
            + "print('same:', torch.allclose(f(x), (x.sin() * 2).relu()))\n");
        AssertClean(run);
        // the symbols of the running python3.11, not a second libpython
        Assert.Contains("libpython: /usr/bin/python3.11", run.Stdout);
        Assert.Contains("dotnet: .NET", run.Stdout);
        Assert.Contains("same: True", run.Stdout);
    }

    [Fact]
    public void TheBuildMakesImportCaptureWorkWithoutSettingsInPython311()
    {
        // `./capture` (build) writes a .pth into python3.11's site folder
        var run = CommandRunner.Run("/usr/bin/python3.11", ["-c", "import capture; print(capture.__file__)"], workingDirectory: Path.GetTempPath());
        Assert.True(run.ExitCode == 0, $"`import capture` fails in plain python3.11 (run ./capture test, which installs the .pth):\n{run.Stderr}");
        Assert.EndsWith(Path.Combine("runtime", "python", "capture", "__init__.py"), run.Stdout.Trim());
    }

    [Theory]
    [InlineData("roslyn")]
    [InlineData("llvm")]
    public void AModuleTrainedWithAdamWHasTheLossesOfEager(string backend)
    {
        var run = Python(Hosted("adamw.py"), backend);
        AssertClean(run);
        Assert.Contains("parameters equal: True", run.Stdout);
        Assert.Contains("losses equal: True", run.Stdout);
    }

    [Fact]
    public void PytestRunsATestFileThatImportsCapture()
    {
        var run = Python("-m", "pytest", "-q", "-p", "no:cacheprovider", Hosted("test_with_capture.py"));
        AssertClean(run);
        Assert.Contains("4 passed", run.Stdout);
    }

    [Fact]
    public void CaptureRunDashMRunsPytestAsPythonDoes()
    {
        var run = CommandRunner.Capture("run", "-m", "pytest", "-q", "-p", "no:cacheprovider", Hosted("test_with_capture.py"));
        AssertClean(run);
        Assert.Contains("4 passed", run.Stdout);
    }

    [Fact]
    public void CaptureRunDashCRunsCodeAsPythonDoes()
    {
        var run = CommandRunner.Capture("run", "-c", "import sys, capture\nprint(sys.argv, repr(sys.path[0]), __name__)\nsys.exit(3)", "a", "b");
        Assert.Equal(3, run.ExitCode);
        Assert.Contains("['-c', 'a', 'b'] '' __main__", run.Stdout);
        var missing = CommandRunner.Capture("run", "-m", "no_such_module_here");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("No module named no_such_module_here", missing.Stderr);
    }

    [Fact]
    public void AScriptWrittenForTorchCompileRunsUnchanged()
    {
        var run = Python(Hosted("torch_compile_api.py"));
        AssertClean(run);
        Assert.EndsWith("ok", run.Stdout.Trim());
    }

    [Theory]
    [InlineData("hosted", "eager")]
    [InlineData("hosted", "roslyn")]
    [InlineData("hosted", "llvm")]
    [InlineData("embedded", "roslyn")]
    public void ATracebackFromCompiledCodeEndsAtTheUsersLine(string host, string backend)
    {
        // a torch error found at capture, a user `raise` after a graph break, a torch error while a graph runs
        var run = host == "hosted" ? Python(Hosted("tracebacks.py"), backend) : CommandRunner.Capture("run", Hosted("tracebacks.py"), backend);
        AssertClean(run);
        var cases = System.Text.RegularExpressions.Regex.Matches(run.Stdout, @"^(\w+): (\S+):(\d+) expected (\d+) \((\w+);", System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.Equal(3, cases.Count);
        foreach (System.Text.RegularExpressions.Match c in cases)
        {
            Assert.True(c.Groups[2].Value == "tracebacks.py" && c.Groups[3].Value == c.Groups[4].Value, $"{c.Value}\n{run.Stdout}");
        }
        Assert.Contains("user_raise: tracebacks.py:20 expected 20 (ValueError;", run.Stdout);
    }

    [Fact]
    public void AJupyterNotebookCompilesExplainsAndShowsTheReportInline()
    {
        var notebook = Path.Combine(Directory.CreateTempSubdirectory("capture-notebook").FullName, "capture.ipynb");
        var run = Python(Hosted("notebook.py"), notebook);
        AssertClean(run);
        Assert.DoesNotContain(" error:", run.Stdout);
        Assert.Contains("cell 1 stdout: matches eager: True", run.Stdout);
        Assert.Contains("cell 2 text/plain: Graph count: 1 Graph break count: 0", run.Stdout);
        Assert.Matches(@"cell 2 text/html: <div class='capture-explain'><table><tr><th[^>]*>graphs</th><td>1</td>", run.Stdout);
        // the HTML report of the session, inline in a frame of its own
        Assert.Matches(@"cell 3 text/html: <iframe srcdoc=""&lt;!DOCTYPE html&gt;", run.Stdout);
        Assert.Contains("notebook report", File.ReadAllText(notebook));
        Assert.True(File.Exists(notebook));
    }
}
