namespace Capture.EndToEnd.Tests;

// Every pyexamples/*.py runs under `capture run`; each has a test here naming it, and a test
// checks that no example lacks one.
public sealed class ExampleTests
{
    private static string Example(string name) => Path.Combine(CommandRunner.Root, "pyexamples", name);

    [Fact]
    public void MlpPrintsTheSameOutputAsEagerPython()
    {
        var capture = CommandRunner.Capture("run", Example("mlp.py"));
        Assert.True(capture.ExitCode == 0, capture.Stderr);
        var eager = CommandRunner.Python(Example("mlp.py"));
        Assert.Equal(0, eager.ExitCode);
        Assert.Equal(eager.Stdout, capture.Stdout);
        Assert.Contains("mlp(x) -> (8, 4)", capture.Stdout);
        Assert.Contains("tensor([[", capture.Stdout);
    }

    [Fact]
    public void EveryExampleHasATestNamingIt()
    {
        var testSources = Directory.EnumerateFiles(Path.Combine(CommandRunner.Root, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Select(File.ReadAllText)
            .ToArray();
        var examples = Directory.EnumerateFiles(Path.Combine(CommandRunner.Root, "pyexamples"), "*.py").Select(Path.GetFileName).ToArray();
        Assert.NotEmpty(examples);
        var untested = examples.Where(e => !testSources.Any(s => s.Contains($"Example(\"{e}\")"))).ToArray();
        Assert.True(untested.Length == 0, "examples without an end-to-end test: " + string.Join(", ", untested));
    }
}
