namespace Capture.Python.Tests;

[Collection("Python")]
public sealed class ScriptRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("capture-script-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Script(string name, string source)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, source);
        return path;
    }

    [Theory]
    [InlineData("x = 1\n", 0)]
    [InlineData("import sys\nsys.exit(3)\n", 3)]
    [InlineData("import sys\nsys.exit()\n", 0)]
    [InlineData("import sys\nsys.exit(None)\n", 0)]
    [InlineData("import sys\nsys.exit('a message')\n", 1)]
    [InlineData("raise SystemExit(42)\n", 42)]
    [InlineData("def f():\n    raise ValueError('user bug')\nf()\n", 1)]
    [InlineData("def broken(:\n", 1)]
    public void ExitCodeFollowsPython(string source, int expected)
    {
        Assert.Equal(expected, ScriptRunner.Run(Script("exit.py", source), []));
    }

    [Fact]
    public void MissingFileIsReportedWithoutRunningAnything()
    {
        var error = new StringWriter();
        var missing = Path.Combine(_dir, "absent.py");
        Assert.Equal(ScriptRunner.CannotOpen, ScriptRunner.Run(missing, [], error));
        Assert.Equal($"capture: can't open file '{missing}': [Errno 2] No such file or directory\n", error.ToString());
    }

    [Fact]
    public void ScriptSeesArgvPathMainAndFile()
    {
        var output = Path.Combine(_dir, "seen.txt");
        var path = Script("probe.py", $"""
            import sys
            with open({Quote(output)}, "w") as f:
                f.write(repr((sys.argv, sys.path[0], __name__, __file__)))
            """);
        Assert.Equal(0, ScriptRunner.Run(path, ["--lr", "0.1", "x y"]));
        Assert.Equal($"([{Quote(path)}, '--lr', '0.1', 'x y'], {Quote(_dir)}, '__main__', {Quote(path)})", File.ReadAllText(output));
    }

    [Fact]
    public void ScriptCanImportItsNeighbours()
    {
        Script("helper_mod_for_test.py", "VALUE = 17\n");
        var path = Script("main.py", "import helper_mod_for_test, sys\nsys.exit(helper_mod_for_test.VALUE)\n");
        Assert.Equal(17, ScriptRunner.Run(path, []));
    }

    private static string Quote(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";
}
