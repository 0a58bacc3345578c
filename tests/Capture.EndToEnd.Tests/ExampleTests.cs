namespace Capture.EndToEnd.Tests;

// Every pyexamples/*.py runs under `capture run`; each has a test here naming it, and a test
// checks that no example lacks one.
public sealed class ExampleTests
{
    private static string Example(string name) => Path.Combine(CommandRunner.Root, "pyexamples", name);

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void MlpPrintsTheSameOutputAsEagerPython(string backend)
    {
        var capture = CommandRunner.CaptureOn(backend, "run", Example("mlp.py"));
        Assert.True(capture.ExitCode == 0, capture.Stderr);
        var eager = CommandRunner.Python(Example("mlp.py"));
        Assert.Equal(0, eager.ExitCode);
        Assert.Equal(eager.Stdout, capture.Stdout);
        Assert.Contains("mlp(x) -> (8, 4)", capture.Stdout);
        Assert.Contains("tensor([[", capture.Stdout);
    }

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void BreaksExampleMatchesEagerAndGivesEveryReasonWithItsLine(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "run", Example("breaks.py"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = run.Stdout.Split('\n').Where(l => l.Contains(": matches eager: ")).ToList();
        Assert.Equal(7, lines.Count);
        Assert.All(lines, l => Assert.Contains("matches eager: True", l));
        Assert.Contains("call to print() has effects outside the graph at line 13", run.Stdout);
        Assert.Contains("Tensor.item() needs the tensor's values (data-dependent) at line 18", run.Stdout);
        Assert.Contains("data-dependent branch on a tensor's value at line 23", run.Stdout);
        Assert.Contains("call to numpy.sqrt is not supported at line 30", run.Stdout);
        Assert.Contains("builtin dir() with these arguments is not supported at line 35", run.Stdout);
        Assert.Contains("break_inside_no_grad: matches eager: True; 0 graphs, 1 breaks: call to print() has effects outside the graph at line 43", run.Stdout);
        Assert.Contains("in break_in_a_helper (" , run.Stdout);
        Assert.Contains("breaks.py:53) -> _normalize (", run.Stdout);
    }

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void GuardsExampleRecompilesForEachChangeAndStaysCorrect(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "run", Example("guards.py"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("all calls match eager: True", run.Stdout);
        Assert.Contains("scaled: tensor 'L['x']' size mismatch at index 0: expected 3, actual 5", run.Stdout);
        Assert.Contains("scaled: tensor 'L['x']' dtype mismatch: expected float32, actual float64", run.Stdout);
        Assert.Contains("scaled: G['SCALE'] changed: expected 2.0, actual 3.0", run.Stdout);
        Assert.Contains("by_shape: tensor 'L['x']' size mismatch at index 0: expected 3, actual 2", run.Stdout);
        Assert.Contains("forward: L['self'].training changed: expected True, actual False", run.Stdout);
    }

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void ModulesExampleCapturesEachModuleAsOneGraph(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "run", Example("modules.py"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        foreach (var name in new[] { "mlp", "conv_block", "attention", "encoder_layer" })
            Assert.Contains($"{name}: matches eager: True; 1 graph(s), 0 breaks", run.Stdout);
    }

    // nanoGPT's architecture: forward with and without targets, generate() under @torch.no_grad(), AdamW
    // steps; each compiled result equals eager's, and each is one graph
    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void GptExampleMatchesEagerInEveryUse(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "run", Example("gpt.py"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("logits (4, 1, 128): matches eager: True", run.Stdout);
        Assert.Contains(": matches eager: True", run.Stdout.Split('\n').Single(l => l.StartsWith("loss ")));
        Assert.Contains("generated 8 tokens: matches eager: True", run.Stdout);
        Assert.Contains(": match eager: True", run.Stdout.Split('\n').Single(l => l.StartsWith("AdamW losses: ")));
        Assert.Contains("forward: 1 graph(s), 0 break(s)", run.Stdout);
        Assert.Contains("forward with targets: 1 graph(s), 0 break(s)", run.Stdout);
        Assert.Contains("generate: 1 graph(s), 0 break(s)", run.Stdout);
        var eager = CommandRunner.Python(Example("gpt.py"));
        Assert.True(eager.ExitCode == 0, eager.Stderr);
        Assert.StartsWith(eager.Stdout.TrimEnd(), run.Stdout);
    }

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void OptimizeExampleMatchesEager(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "run", Example("optimize.py"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        foreach (var name in new[] { "repeated", "scaled_positions", "view_chains" })
            Assert.Contains($"{name}: matches eager: True", run.Stdout);
    }

    [Fact]
    public void OptimizeExamplesOptimizedGraphLosesTheRepeatedWork()
    {
        var captured = CommandRunner.Capture("graph", Example("optimize.py") + "::repeated");
        var optimized = CommandRunner.Capture("graph", Example("optimize.py") + "::repeated", "--stage", "optimized");
        int Count(string text, string what) => text.Split(what).Length - 1;
        Assert.Equal(2, Count(captured.Stdout, "torch.nn.functional.gelu("));
        // the roslyn backend computes gelu in its parts: the two gelus became one erf
        Assert.Equal(1, Count(optimized.Stdout, "torch.erf("));
        Assert.Contains("torch.exp(", captured.Stdout);
        Assert.DoesNotContain("torch.exp(", optimized.Stdout);
        Assert.DoesNotContain("torch.pow(", optimized.Stdout);
        var passes = CommandRunner.Capture("graph", Example("optimize.py") + "::repeated", "--passes");
        Assert.Contains("# graph 1: eliminate common subexpressions    -6", passes.Stdout); // the two decomposed gelus, one of them
        Assert.Contains("# graph 1: eliminate dead code", passes.Stdout);
        var views = CommandRunner.Capture("graph", Example("optimize.py") + "::view_chains", "--stage", "optimized");
        Assert.DoesNotContain(".t()", views.Stdout);
        Assert.DoesNotContain("squeeze", views.Stdout);
        var constants = CommandRunner.Capture("graph", Example("optimize.py") + "::scaled_positions", "--stage", "optimized");
        Assert.Contains("torch.arange(", CommandRunner.Capture("graph", Example("optimize.py") + "::scaled_positions").Stdout);
        foreach (var gone in new[] { "torch.arange(", "torch.exp(", "torch.neg(", "torch.div(" }) Assert.DoesNotContain(gone, constants.Stdout);
        Assert.Contains("add: \"f32[8]\" = capture.constant([3.0, 2.7649937,", constants.Stdout);
        Assert.Equal(1, Count(constants.Stdout, "torch.mul("));
    }

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void FusionExampleMatchesEager(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "run", Example("fusion.py"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        foreach (var name in new[] { "pointwise_chain", "mlp_block", "softmax_rows", "layer_norm_rows", "deep_mlp" })
            Assert.Contains($"{name}: matches eager: True", run.Stdout);
    }

    [Fact]
    public void GraphCommandPrintsTheGeneratedCSharp()
    {
        var run = CommandRunner.Capture("graph", Example("fusion.py") + "::pointwise_chain", "--format", "csharp");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("// pointwise_chain: graph 1 of 1\n// Generated by Capture.", run.Stdout);
        Assert.Contains("public static unsafe class CaptureKernels", run.Stdout);
        Assert.Contains("// kernel for fusion group g1: mul, add, relu, sub, sigmoid, tanh, mul_1", run.Stdout);
        Assert.Contains("MathF.Tanh(", run.Stdout);
        var gemm = CommandRunner.Capture("graph", Example("fusion.py") + "::mlp_block", "--format", "csharp");
        // the gemm runs through torch; its bias and gelu are one kernel over its output, erf included
        Assert.Contains("// kernel for fusion group g1: add, mul, erf, mul_1, add_1, mul_2", gemm.Stdout);
        Assert.Contains("= Erf(", gemm.Stdout);
        var softmax = CommandRunner.Capture("graph", Example("fusion.py") + "::softmax_rows", "--format", "csharp");
        Assert.Contains("// kernel for fusion group g1: mul, amax, sub, exp, sum, div", softmax.Stdout);
        Assert.Contains("2 reduction passes then a store pass", softmax.Stdout);
    }

    // A second process with the cache warm loads the compiled kernels instead of running Roslyn or
    // LLVM; a corrupt entry is ignored, rebuilt, and the results stay right.
    [Theory]
    [InlineData("roslyn", "C#", "pointwise_chain")]
    [InlineData("llvm", "LLVM IR", "softmax_rows")]
    public void KernelCacheServesASecondProcessAndSurvivesCorruption(string backend, string language, string function)
    {
        var cache = Directory.CreateTempSubdirectory("capture-kernel-cache-").FullName;
        try
        {
            var environment = new Dictionary<string, string> { ["CAPTURE_CACHE_DIR"] = cache, ["CAPTURE_BACKEND"] = backend };
            CommandResult Explain() => CommandRunner.Run(CommandRunner.CliPath, ["explain", Example("fusion.py") + "::" + function, "--verbose"], environment: environment);
            var first = Explain();
            Assert.True(first.ExitCode == 0, first.Stderr);
            Assert.Matches($@"optimize [0-9.]+ ms, codegen [0-9.]+ ms \(1 kernel, [0-9]+ chars of {language}\), {backend} [0-9.]+ ms; generated {language} [0-9]+ lines, 1 kernels\)", first.Stdout);
            var entries = Directory.GetFiles(Path.Combine(cache, backend), "*.bin");
            Assert.Single(entries);
            var second = Explain();
            Assert.Contains("(loaded from the kernel cache)", second.Stdout);
            var bytes = File.ReadAllBytes(entries[0]);
            bytes[^100] ^= 0xFF; // one flipped byte in the image
            File.WriteAllBytes(entries[0], bytes);
            var third = Explain();
            Assert.True(third.ExitCode == 0, third.Stderr);
            Assert.DoesNotContain("loaded from the kernel cache", third.Stdout);
            var run = CommandRunner.Run(CommandRunner.CliPath, ["run", Example("fusion.py")], environment: environment);
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Contains($"{function}: matches eager: True", run.Stdout);
            Assert.Contains("loaded from the kernel cache", Explain().Stdout);
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [Fact]
    public void FusionExampleShowsTheKernelsItsBackendRuns()
    {
        string Optimized(string name, params string[] more) =>
            CommandRunner.Capture(["graph", Example("fusion.py") + "::" + name, "--stage", "optimized", .. more]).Stdout;
        // what the roslyn backend runs: gelu, softmax and layer_norm in the parts its kernels compute, one kernel each
        Assert.Contains("#   g1 extern [64, 256]: matmul, add, mul, erf, mul_1, add_1, mul_2\n", Optimized("mlp_block"));
        Assert.Contains("# fusion: 1 groups, 1 compiled kernels, 0 through BLAS\n#   g1 reduction [32, 512] -> [32, 1]: mul, amax, sub, exp, sum, div\n", Optimized("softmax_rows"));
        Assert.Contains("#   g1 reduction [32, 512] -> [32, 1]: add, mean, sub, mul, mean_1, add_1, rsqrt, mul_1, mul_2, add_2\n", Optimized("layer_norm_rows"));
        // the eager backend optimizes nothing: it says so instead of showing a graph it never runs
        Assert.Contains("# not optimized: the eager backend runs graphs as captured", Optimized("softmax_rows", "--backend", "eager"));
        var deep = Optimized("deep_mlp");
        Assert.Contains("# deep_mlp: graph 1 of 1 (forward)\n", deep);
        Assert.Contains("# deep_mlp: graph 1 of 1 (backward)\n", deep);
        var json = System.Text.Json.Nodes.JsonNode.Parse(Optimized("deep_mlp", "--format", "json"))!.AsArray()[0]!;
        Assert.Equal(10, json["fusion"]!.AsArray().Count);
        var dot = Optimized("mlp_block", "--format", "dot");
        Assert.Contains("xlabel=\"g1\"", dot);
    }

    [Fact]
    public void ExplainCommandReportsEachExample()
    {
        var run = CommandRunner.Capture("explain", Example("breaks.py"), "--verbose");
        Assert.True(run.ExitCode == 0, run.Stderr);
        foreach (var name in new[] { "print_in_the_middle", "item_to_python", "data_dependent_branch", "numpy_call", "unsupported_builtin" })
            Assert.Contains($"== {name} ==", run.Stdout);
        Assert.Contains("data-dependent branch on a tensor's value at line 23", run.Stdout);
        Assert.Contains("    L['x']\n      L['x']: tensor f32[4], strides (1), requires_grad=False  [tensor match]\n", run.Stdout);
        // by default the summary: breaks by reason with how to avoid each, guards by kind, compile time by phase
        var summary = CommandRunner.Capture("explain", Example("breaks.py"));
        Assert.True(summary.ExitCode == 0, summary.Stderr);
        Assert.Contains("Graph breaks, by reason:\n  1x data-dependent branch on a tensor's value at line 23  (breaks.py:23)\n     to avoid it: ", summary.Stdout);
        Assert.Contains("Guards by kind: ", summary.Stdout);
        Assert.Contains("Compile time by phase: capture ", summary.Stdout);
        Assert.DoesNotContain("[tensor match]", summary.Stdout);
        Assert.True(summary.Stdout.Length < run.Stdout.Length / 2, $"summary {summary.Stdout.Length} chars, details {run.Stdout.Length}");
        var one = CommandRunner.Capture("explain", Example("modules.py") + "::mlp");
        Assert.Contains("Graph count: 1\nGraph break count: 0", one.Stdout);
        Assert.DoesNotContain("== attention ==", one.Stdout);
    }

    [Theory]
    [InlineData("code", "def forward(self, x: \"f32[4, 16]\", self_fc1_weight: \"f32[32, 16] grad\"")]
    [InlineData("tabular", "call_function  gelu")]
    [InlineData("json", "\"target\": \"torch.nn.functional.linear\"")]
    [InlineData("dot", "digraph \"mlp_graph1\" {")]
    public void GraphCommandPrintsEachFormat(string format, string expected)
    {
        var run = CommandRunner.Capture("graph", Example("modules.py") + "::mlp", "--format", format);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains(expected, run.Stdout);
    }

    [Theory]
    [InlineData(new[] { "graph", "pyexamples/modules.py" }, 2, "capture graph: name one function: FILE.py::FUNC")]
    [InlineData(new[] { "graph", "pyexamples/modules.py::mlp", "--format", "svg" }, 2, "capture graph: unknown format 'svg'")]
    [InlineData(new[] { "graph", "pyexamples/modules.py::nope" }, 1, "capture: no example 'nope' in")]
    [InlineData(new[] { "explain", "pyexamples/missing.py" }, 1, "capture: no such example file:")]
    public void BadExampleArgumentsAreClearErrors(string[] args, int exitCode, string message)
    {
        var run = CommandRunner.Capture(args);
        Assert.Equal(exitCode, run.ExitCode);
        Assert.StartsWith(message, run.Stderr);
        Assert.False(CommandRunner.HasDotNetTrace(run.Stderr), run.Stderr);
    }

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void ControlFlowExampleShowsWhereEachPathWins(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "run", Example("control_flow.py"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = run.Stdout.Split('\n');
        string Line(string name, string path) =>
            lines.SkipWhile(l => l != $"{name}:").First(l => l.TrimStart().StartsWith(path + ":", StringComparison.Ordinal)).Trim();
        // tensor control flow: one graph for AST, a break for bytecode, both right
        Assert.Equal("ast:      1 graph(s), control flow kept: cond (line 14), breaks: none, matches eager: True", Line("clip_by_norm", "ast"));
        Assert.Equal("bytecode: 2 graph(s), control flow kept: none, breaks: line 14, matches eager: True", Line("clip_by_norm", "bytecode"));
        Assert.Equal("ast:      1 graph(s), control flow kept: while_loop (line 21), breaks: none, matches eager: True", Line("grow_until", "ast"));
        Assert.StartsWith("bytecode: 2 graph(s), control flow kept: none, breaks: line 21", Line("grow_until", "bytecode"));
        // Python decides: both specialize
        foreach (var name in new[] { "by_shape", "unrolled" })
        {
            Assert.Equal("ast:      1 graph(s), control flow kept: none, breaks: none, matches eager: True", Line(name, "ast"));
            Assert.Equal("bytecode: 1 graph(s), control flow kept: none, breaks: none, matches eager: True", Line(name, "bytecode"));
        }
        // Python side effects and values: bytecode runs them, AST refuses with the line
        Assert.Equal("ast:      refused: print at line 43", Line("progress", "ast"));
        Assert.Equal("bytecode: 2 graph(s), control flow kept: none, breaks: line 43, matches eager: True", Line("progress", "bytecode"));
        Assert.Equal("ast:      refused: data-dependent at line 49", Line("first_positive_row", "ast"));
        Assert.EndsWith("breaks: line 49, matches eager: True", Line("first_positive_row", "bytecode"));
    }

    [Fact]
    public void CompareShowsOneGraphWithACondForAstAndTwoGraphsWithABreakForBytecode()
    {
        var run = CommandRunner.Capture("compare", Example("control_flow.py") + "::clip_by_norm");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var rows = run.Stdout.Split('\n').Select(l => l.Trim()).ToList();
        string Row(string label) => System.Text.RegularExpressions.Regex.Replace(rows.First(r => r.StartsWith(label + " ", StringComparison.Ordinal)), " {2,}", " | ");
        // the third column: what torch.jit.script does with the same function
        Assert.Equal("graphs | 1 | 2 | 1 (scripted)", Row("graphs"));
        Assert.Equal("control flow kept | cond (line 14) | -, broken at line 14 | if 1", Row("control flow kept"));
        Assert.Equal("graph breaks | - (never: one graph) | line 14: data-dependent branch on a tensor's value at line 14 | - (never: one graph)", Row("graph breaks"));
        Assert.Equal("matches eager | yes | yes | yes", Row("matches eager"));
        Assert.Contains("AST graph 1 of 1:", run.Stdout);
        Assert.Contains("= capture.cond(gt, cond_true, cond_false, (sqrt, x))", run.Stdout);
        Assert.Contains("bytecode graph 2 of 2:", run.Stdout);

        var json = CommandRunner.Capture("compare", Example("control_flow.py") + "::progress", "--json", "--backend", "eager");
        Assert.True(json.ExitCode == 0, json.Stderr);
        // the JSON alone on stdout; the script's own prints on stderr
        using var document = System.Text.Json.JsonDocument.Parse(json.Stdout);
        Assert.Contains("(progress: halfway)", json.Stderr);
        var entry = document.RootElement[0];
        Assert.Equal("print", entry.GetProperty("ast").GetProperty("diagnostics")[0].GetProperty("construct").GetString());
        Assert.Equal(43, entry.GetProperty("ast").GetProperty("diagnostics")[0].GetProperty("lineno").GetInt32());
        Assert.True(entry.GetProperty("bytecode").GetProperty("matches_eager").GetBoolean());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, entry.GetProperty("ast").GetProperty("matches_eager").ValueKind);
        Assert.True(entry.GetProperty("torchscript").GetProperty("captured").GetBoolean()); // TorchScript prints at run time

        // TorchScript's refusal, in its words: an unannotated argument is taken for a tensor
        var refused = CommandRunner.Capture("compare", Example("control_flow.py") + "::grow_until", "--json", "--backend", "eager");
        Assert.True(refused.ExitCode == 0, refused.Stderr);
        using var refusal = System.Text.Json.JsonDocument.Parse(refused.Stdout);
        var script = refusal.RootElement[0].GetProperty("torchscript");
        Assert.False(script.GetProperty("captured").GetBoolean());
        Assert.Contains("Expected a value of type 'Tensor (inferred)' for argument 'limit'", script.GetProperty("error").GetString());
        Assert.True(refusal.RootElement[0].GetProperty("ast").GetProperty("matches_eager").GetBoolean());
    }

    // a graph with control flow compiles its branches too: the generated code of each, under its role
    [Fact]
    public void GraphPrintsTheGeneratedCodeOfEachBranchOfAControlFlowGraph()
    {
        var run = CommandRunner.Capture("graph", Example("control_flow.py") + "::clip_by_norm", "--mode", "ast", "--format", "csharp");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var text = run.Stdout;
        Assert.Contains("// graph\n// Generated by Capture.", text);
        Assert.Contains("// cond true\n// Generated by Capture.", text);
        Assert.Contains("// cond false\n// no kernels: the graph computes nothing (it returns its inputs)", text);
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
