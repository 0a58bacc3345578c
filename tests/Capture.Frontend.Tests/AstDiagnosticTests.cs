using Capture.Python;

namespace Capture.Frontend.Tests;

// What the AST path cannot express is refused with the user's file:line:col, the construct, the
// source line with a caret, and a suggestion; the process keeps working afterwards.
[Collection("Python")]
public sealed class AstDiagnosticTests
{
    private const string Suite = """
        import numpy
        import torch

        def with_try(x):
            y = x + 1
            try:
                y = y.relu()
            except RuntimeError:
                pass
            return y

        def generator(x):
            for row in x:
                yield row * 2

        COUNT = 0
        def global_write(x):
            global COUNT
            COUNT = COUNT + 1
            return x * 2

        def outer(x):
            total = x
            def bump(y):
                nonlocal total
                total = total + y
            bump(x)
            return total

        class Config:
            def __init__(self):
                self.scale = 2.0

        def python_object(x, config):
            return x * config.scale

        def prints(x):
            y = x * 2
            print("value", y)
            return y

        def unknown_call(x):
            y = torch.relu(x)
            return y + numpy.tanh(x)

        def dynamic_attribute(x, name):
            return getattr(x, name)()

        def shape_mismatch(x, y):
            z = x * 2
            return z + y

        def branch_types(x):
            if x.sum() > 0:
                y = x
            else:
                y = x.sum()
            return y

        def other_context(x):
            with torch.autograd.profiler.record_function("block"):
                return x * 2

        def fine(x):
            return x * 3
        """;

    // function, arguments, the text the diagnostic points at (its first occurrence after `def function`), expected wording
    public static TheoryData<string, string, string, string> Refusals => new()
    {
        { "with_try", "torch.randn(3)", "try:", "try/except cannot be captured: a graph has no exceptions" },
        { "generator", "torch.randn(3)", "yield row * 2", "a generator (yield) cannot be captured" },
        { "global_write", "torch.randn(3)", "global COUNT", "'global COUNT' lets the function assign a variable outside it" },
        { "outer", "torch.randn(3)", "nonlocal total", "'nonlocal total' lets the function assign a variable outside it" },
        { "python_object", "torch.randn(3), Config()", "config.scale", "reading '.scale' of argument 'config' (a Config): the AST path handles tensors, numbers, strings, tuples, lists, torch functions and nn.Modules, not arbitrary Python objects" },
        { "prints", "torch.randn(3)", "print(\"value\", y)", "print() of a tensor needs the tensor's value while the graph runs" },
        { "unknown_call", "torch.randn(3)", "numpy.tanh(x)", "call to 'numpy.tanh' (numpy.tanh), which the AST path does not know" },
        { "dynamic_attribute", "torch.randn(3), 'relu'", "getattr(x, name)", "getattr() with an attribute name that comes from argument 'name'" },
        { "other_context", "torch.randn(3)", "with torch.autograd", "with blocks other than `with torch.no_grad():`, `with torch.enable_grad():` and `with torch.set_grad_enabled(b):` cannot be captured by the AST path" },
        { "branch_types", "torch.randn(3)", "if x.sum() > 0:", "the branches of this if give variables assigned in the branches as tensors of different types: f32[3] in the true branch, f32[] in the false branch" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void PointsAtTheUsersLineAndColumnWithASuggestion(string function, string arguments, string marker, string wording)
    {
        var (ns, file) = FrontendFixture.Load(Suite);
        var lines = Suite.Split('\n');
        var start = Array.FindIndex(lines, l => l.StartsWith($"def {function}(", StringComparison.Ordinal));
        var line = Array.FindIndex(lines, start, l => l.Contains(marker));
        var column = lines[line].IndexOf(marker, StringComparison.Ordinal) + 1;
        using (ns)
        using (Interpreter.Gil())
        {
            using var text = Py.Eval($"refusal({function}, {arguments})", ns);
            var message = text.AsString();
            Assert.StartsWith("the AST path cannot capture this function:\n", message);
            Assert.Contains($"{file}:{line + 1}:{column}: {wording}", message);
            // the source line, a caret under the column, and what to do
            Assert.Contains($"\n    {lines[line].TrimEnd()}\n    {new string(' ', column - 1)}^\n  suggestion: ", message);
            using var after = Py.Eval("run_both(fine, torch.randn(3))", ns);
            Assert.True(after.ToBoolean(), "the next compiled function still works");
        }
    }

    [Theory]
    [InlineData("shape_mismatch", "torch.randn(3), torch.randn(4)")]
    [InlineData("index_out_of_range", "torch.randn(3)")]
    [InlineData("beyond_int64", "torch.randn(3)")]
    [InlineData("raises_for_negatives", "torch.randn(3), -1")]
    public void CodeThatFailsForItsInputsRaisesWhatEagerRaises(string function, string arguments)
    {
        var source = Suite + """

            def index_out_of_range(x):
                return (x, x)[2]

            def beyond_int64(x):
                return x + 2**70

            def raises_for_negatives(x, n: int):
                if n < 0:
                    raise ValueError("n must be >= 0")
                return x * n

            def raised(fn, *args):
                try:
                    fn(*args)
                except Exception as e:
                    return type(e).__name__
                return "nothing"
            """;
        var (ns, _) = FrontendFixture.Load(source);
        using (ns)
        using (Interpreter.Gil())
        {
            using var expected = Py.Eval($"raised({function}, {arguments})", ns);
            using var actual = Py.Eval($"raised(capture.compile({function}, mode='ast'), {arguments})", ns);
            Assert.NotEqual("nothing", expected.AsString());
            Assert.Equal(expected.AsString(), actual.AsString()); // RuntimeError, IndexError: not NotSupported
        }
    }

    // TorchScript runs a @torch.jit.ignore function as Python; the AST path says why it cannot, at the
    // call, with the body's own refusal after it
    [Fact]
    public void AnIgnoredFunctionWhoseBodyCannotBeCapturedIsExplainedAtItsCall()
    {
        var source = """
            import torch

            @torch.jit.ignore
            def debug_stats(x: torch.Tensor) -> torch.Tensor:
                print("mean", float(x.mean()))
                return x.std()

            def uses_ignored(x: torch.Tensor) -> torch.Tensor:
                return x * 2 + debug_stats(x)
            """;
        var (ns, file) = FrontendFixture.Load(source);
        using (ns)
        using (Interpreter.Gil())
        using (var text = Py.Eval("refusal(uses_ignored, torch.randn(3))", ns))
        {
            var message = text.AsString();
            Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(file)}:9:20: \S*debug_stats is @torch.jit.ignore: TorchScript runs it as Python", message);
            Assert.Contains($"{file}:5:", message); // the body's own refusal follows
            Assert.Contains("use mode='bytecode' (which breaks the graph at the call and runs it as Python)", message);
        }
    }

    // five hundred functions calling each other: the AST path inlines every call, and past its depth it
    // says so at the call's line (not an internal error), and the process keeps working
    [Fact]
    public void CallsNestedDeeperThanTheAstPathInlinesAreRefusedAtTheirLine()
    {
        var source = "import torch\n\n" + string.Concat(Enumerable.Range(0, 500).Select(i =>
            $"def h{i}(x):\n    return {(i < 499 ? $"h{i + 1}(x)" : "x * 2")}\n\n"));
        var (ns, file) = FrontendFixture.Load(source);
        using (ns)
        using (Interpreter.Gil())
        {
            using var text = Py.Eval("refusal(h0, torch.randn(2))", ns);
            var message = text.AsString();
            Assert.StartsWith("the AST path cannot capture this function:\n", message);
            // h32's call of h33 is the 33rd level: h_i is defined on line 3 + 3i, its return on the next
            Assert.True(message.Contains($"{file}:{3 + 32 * 3 + 1}:12: calls nest deeper than 32 levels"), message);
            using var after = Py.Eval("run_both(h498, torch.randn(3))", ns);
            Assert.True(after.ToBoolean(), "a shallower call of the same functions still works");
        }
    }

    [Fact]
    public void SyntaxLevelRefusalsAreReportedTogether()
    {
        var source = """
            import torch

            def many(x):
                global A
                try:
                    x = x + 1
                finally:
                    pass
                yield x
            """;
        var (ns, file) = FrontendFixture.Load(source);
        using (ns)
        using (Interpreter.Gil())
        using (var text = Py.Eval("refusal(many, torch.randn(2))", ns))
        {
            var message = text.AsString();
            Assert.Contains($"{file}:4:5: 'global A'", message);
            Assert.Contains($"{file}:5:5: try/except", message);
            Assert.Contains($"{file}:9:5: a generator (yield)", message);
        }
    }

    [Fact]
    public void ExplainShowsTheDiagnosticsInsteadOfRaising()
    {
        var (ns, file) = FrontendFixture.Load(Suite);
        using (ns)
        using (Interpreter.Gil())
        using (var report = Py.Eval("capture.explain(prints, torch.randn(3), mode='ast', backend='eager')", ns))
        using (var diagnostics = report.GetAttr("diagnostics"))
        {
            var only = Assert.Single(diagnostics.ToItems());
            using var construct = only.GetAttr("construct");
            using var line = only.GetAttr("lineno");
            Assert.Equal("print", construct.AsString());
            Assert.Equal(Array.FindIndex(Suite.Split('\n'), l => l.Contains("print(\"value\"")) + 1, line.ToInt64());
            using var details = report.CallMethod("details");
            Assert.Contains($"{file}:", details.AsString());
        }
    }
}
