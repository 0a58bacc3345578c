namespace Capture.EndToEnd.Tests;

// `capture run FILE.py` behaves like `python3 FILE.py`, checked by running both.
public sealed class RunCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("capture-e2e-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Script(string name, string source)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, source);
        return path;
    }

    [Fact]
    public void ScriptBehavesLikePython()
    {
        var path = Script("probe.py", """
            import sys, os
            print(sys.argv[1:], os.path.basename(sys.path[0]), __name__, os.path.basename(__file__))
            print("to stderr", file=sys.stderr)
            sys.exit(int(sys.argv[1]))
            """);
        var python = CommandRunner.Python(path, "7", "--flag", "two words");
        var capture = CommandRunner.Capture("run", path, "7", "--flag", "two words");
        Assert.Equal(7, python.ExitCode);
        Assert.Equal(python, capture);
    }

    [Fact]
    public void UncaughtExceptionPrintsThePythonTracebackAndExitsOne()
    {
        var path = Script("fails.py", "def forward(x):\n    return x.shape[0]\n\nforward(None)\n");
        var python = CommandRunner.Python(path);
        var capture = CommandRunner.Capture("run", path);
        Assert.Equal(1, capture.ExitCode);
        Assert.Equal(python.Stderr, capture.Stderr);
        Assert.Contains($"File \"{path}\", line 2, in forward", capture.Stderr);
        Assert.EndsWith("AttributeError: 'NoneType' object has no attribute 'shape'\n", capture.Stderr);
    }

    [Fact]
    public void SyntaxErrorPointsAtTheLineWithoutADotNetTrace()
    {
        var path = Script("broken.py", "import torch\n\ndef f(x:\n    return x\n");
        var capture = CommandRunner.Capture("run", path);
        Assert.Equal(1, capture.ExitCode);
        Assert.Contains($"File \"{path}\", line 3", capture.Stderr);
        Assert.Contains("SyntaxError", capture.Stderr);
        Assert.False(CommandRunner.HasDotNetTrace(capture.Stderr), capture.Stderr);
        Assert.Equal(CommandRunner.Python(path).Stderr, capture.Stderr);
    }

    [Fact]
    public void MissingFileIsAClearMessageWithoutADotNetTrace()
    {
        var missing = Path.Combine(_dir, "does_not_exist.py");
        var capture = CommandRunner.Capture("run", missing);
        Assert.Equal(2, capture.ExitCode);
        Assert.Equal($"capture: can't open file '{missing}': [Errno 2] No such file or directory\n", capture.Stderr);
        Assert.Equal("", capture.Stdout);
    }

    [Fact]
    public void SystemExitWithMessagePrintsItAndExitsOne()
    {
        var path = Script("bye.py", "raise SystemExit('stopping: bad config')\n");
        var capture = CommandRunner.Capture("run", path);
        Assert.Equal((1, "", "stopping: bad config\n"), (capture.ExitCode, capture.Stdout, capture.Stderr));
    }

    [Fact]
    public void AtexitHandlersRunAndOutputIsFlushed()
    {
        var path = Script("atexit_probe.py", "import atexit\natexit.register(lambda: print('bye from atexit'))\nprint('partial line', end='')\n");
        var capture = CommandRunner.Capture("run", path);
        Assert.Equal((0, "partial linebye from atexit\n"), (capture.ExitCode, capture.Stdout));
    }

    [Fact]
    public void CaptureIsImportableInsideRunAndFromPlainPython()
    {
        var path = Script("imports.py", "import capture\nprint(capture.__version__)\n");
        var capture = CommandRunner.Capture("run", path);
        Assert.Equal(0, capture.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+\n$", capture.Stdout);
        // plain python with the package on its path loads the runtime into itself (PythonHostTests has more)
        var plain = CommandRunner.Run("/usr/bin/env", ["PYTHONPATH=" + Path.Combine(CommandRunner.Root, "runtime", "python"), "/usr/bin/python3.11", path]);
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.Equal(capture.Stdout, plain.Stdout);
    }

    [Theory]
    [InlineData(new string[0], "capture: no command given")]
    [InlineData(new[] { "run" }, "capture run: missing the script to run")]
    [InlineData(new[] { "frobnicate" }, "capture: unknown command 'frobnicate'")]
    public void UsageErrorsExitTwoWithUsage(string[] args, string message)
    {
        var capture = CommandRunner.Capture(args);
        Assert.Equal(2, capture.ExitCode);
        Assert.StartsWith(message, capture.Stderr);
        Assert.Contains("usage: capture <command>", capture.Stderr);
    }
}
