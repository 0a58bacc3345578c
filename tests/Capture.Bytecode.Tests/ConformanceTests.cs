using Capture.Graphs;
using Capture.Python;

namespace Capture.Bytecode.Tests;

// The conformance suite (tests/conformance/*.py): cases of the kinds Dynamo's own test suite holds
// (functions, containers, user objects, modules, torch ops, breaks, repros), each compared with
// eager PyTorch on every backend (outputs, arguments after the call, printed text, gradients, a
// second call) and its graph-break count checked. harness.py runs them; not_yet.txt lists the cases
// that still break more than they should (it may only shrink); known limits are marked in the cases
// and listed in the README.
[Collection("Python")]
public sealed class ConformanceTests
{
    public static TheoryData<string> Categories => new() { "functions", "containers", "objects", "modules", "torch_ops", "breaks", "repros" };

    private static string Folder => Path.Combine(Root(), "tests", "conformance");

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Capture.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("no Capture.sln above the test binaries");
    }

    [Theory]
    [MemberData(nameof(Categories))]
    public void EveryCaseMatchesEagerOnEveryBackendAndBreaksAsExpected(string category)
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec($$"""
            import sys
            if {{PythonText.Quoted(Folder)}} not in sys.path:
                sys.path.insert(0, {{PythonText.Quoted(Folder)}})
            import harness
            failures, cases, expected, limits, waiting = harness.run({{PythonText.Quoted(Path.Combine(Folder, category + ".py"))}})
            limit_names = [l.split(":")[0] for l in limits]
            """);
        var failures = Strings(ns, "failures");
        Assert.True(failures.Count == 0, $"{failures.Count} of {ns.GetItem("cases").ToInt64()} cases in {category}.py:\n" + string.Join("\n", failures));
        // a known limit is documented where users look
        var readme = File.ReadAllText(Path.Combine(Root(), "README.md"));
        foreach (var name in Strings(ns, "limit_names"))
            Assert.True(readme.Contains($"`{category}.{name}`", StringComparison.Ordinal), $"README.md does not list the known limit {category}.{name}");
    }

    private static List<string> Strings(PyObject ns, string name)
    {
        using var list = ns.GetItem(name);
        return list.ToItems().Select(item => { using (item) return item.AsString(); }).ToList();
    }
}
