using Capture.Python;

namespace Capture.Runtime.Tests;

[Collection("Python")]
public sealed class ExampleFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("capture-examples-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Example(string name) => Path.Combine(CapturePaths.Root, "pyexamples", name);

    [Fact]
    public void MlpEntriesCallWithTheirArguments()
    {
        var entries = ExampleFile.Load(Example("mlp.py"));
        try
        {
            Assert.Equal(["mlp", "model"], entries.Select(e => e.Name));
            using var gil = Interpreter.Gil();
            foreach (var entry in entries)
            {
                using var result = entry.Target.Call(entry.Args.ToItems().ToArray());
                using var shape = result.GetAttr("shape");
                Assert.Equal("torch.Size([8, 4])", shape.ToString());
            }
            Assert.Equal(5, entries[0].Args.Length);
            Assert.Equal("MLP", entries[1].Target.TypeName.Split('.')[^1]);
        }
        finally
        {
            foreach (var e in entries) e.Dispose();
        }
    }

    [Fact]
    public void OneEntryBySpec()
    {
        var entries = ExampleFile.Load(Example("mlp.py") + "::model");
        Assert.Equal("model", Assert.Single(entries).Name);
        entries[0].Dispose();
    }

    [Fact]
    public void MainBlockDoesNotRun()
    {
        var marker = Path.Combine(_dir, "ran.txt");
        var file = Path.Combine(_dir, "guarded.py");
        File.WriteAllText(file, $"def f(x):\n    return x\nEXAMPLES = {{'f': lambda: (1,)}}\nif __name__ == '__main__':\n    open({Quote(marker)}, 'w').write('ran')\n");
        foreach (var e in ExampleFile.Load(file)) e.Dispose();
        Assert.False(File.Exists(marker));
    }

    [Theory]
    [InlineData("x = 1\n", "has no EXAMPLES dict")]
    [InlineData("EXAMPLES = [1]\n", "EXAMPLES must be a dict, not list")]
    [InlineData("EXAMPLES = {'g': lambda: ()}\n", "EXAMPLES names 'g', but the file defines no 'g'")]
    [InlineData("def f(x):\n    return x\nEXAMPLES = {'f': lambda: 3}\n", "EXAMPLES['f'] must return a tuple of arguments, not int")]
    public void MalformedExamplesAreClearErrors(string source, string message)
    {
        var file = Path.Combine(_dir, $"bad_{Math.Abs(source.GetHashCode())}.py");
        File.WriteAllText(file, source);
        var e = Assert.Throws<ExampleFileException>(() => ExampleFile.Load(file));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void UnknownEntryListsTheKnownOnes()
    {
        var e = Assert.Throws<ExampleFileException>(() => ExampleFile.Load(Example("mlp.py") + "::nope"));
        Assert.EndsWith("(it has: mlp, model)", e.Message);
    }

    private static string Quote(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";
}
