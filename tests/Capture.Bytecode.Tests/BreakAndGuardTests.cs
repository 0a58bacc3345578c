using Capture.Python;

namespace Capture.Bytecode.Tests;

[Collection("Python")]
public sealed class BreakAndGuardTests
{
    private const string Source = """
        import numpy as np
        import torch

        def with_print(x):
            y = x * 2
            print("checkpoint")
            return y + 1

        def with_item(x):
            s = x.sum().item()
            return x * s

        def data_dependent(x):
            if x.sum() > 0:
                return x + 1
            return x - 1

        def with_numpy(x):
            y = x.relu()
            z = np.cos(0.5)
            return y * z

        def unsupported_builtin(x):
            return x * id(x) % 2 if False else x + len(dir(x)) * 0

        def loop_with_break(x, n):
            for _ in range(n):
                x = x * 2
                print("tick")
                x = x + 1
            return x

        def break_in_no_grad(x):
            with torch.no_grad():
                y = x * 2
                print("inside")
            return y + x

        def break_in_generator(x):
            positive = all(v.item() > -10 for v in x)
            return x * 2 if positive else x

        def with_logging(x):
            import logging
            logging.getLogger("capture.tests").info("step")
            return x * 2
        """;

    private static PyObject Explain(PyObject ns, string call) => Py.Eval($"capture.explain({call})", ns);

    // each with the hint on how to avoid it
    public static IEnumerable<object[]> BreakCases => CaptureFixture.PerBackend([
        ["with_print", "call to print() has effects outside the graph", 6, "move them out of the compiled function"],
        ["with_item", "Tensor.item() needs the tensor's values (data-dependent)", 10, "keep the value a tensor"],
        ["data_dependent", "data-dependent branch on a tensor's value", 14, "use torch.where"],
        ["with_numpy", "call to numpy.cos", 20, "use the matching torch op"],
        ["unsupported_builtin", "builtin dir() with these arguments is not supported", 24, "capture.allow_in_graph(fn)"],
        ["break_in_no_grad", "call to print() has effects outside the graph", 36, "move them out of the compiled function"],
        ["break_in_generator", "Tensor.item() needs the tensor's values (data-dependent)", 40, "keep the value a tensor"],
        ["with_logging", "call to getLogger: Python's standard library (logging) is not traced", 45, "call it outside the compiled function"],
    ]);

    public static IEnumerable<object[]> Backends => CaptureFixture.PerBackend();

    [Theory]
    [MemberData(nameof(BreakCases))]
    public void EachBreakHasItsReasonAndLineAndTheRestStillMatchesEager(string function, string reason, int line, string hint, string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        using var same = Py.Eval($"run_both({function}, torch.randn(4))", ns);
        Assert.True(same.ToBoolean());
        using var report = Explain(ns, $"{function}, torch.randn(4)");
        using var reasons = report.GetAttr("break_reasons");
        var first = reasons.ToItems()[0];
        using var text = first.GetAttr("reason");
        using var lineno = first.GetAttr("lineno");
        using var filename = first.GetAttr("filename");
        Assert.StartsWith(reason, text.AsString());
        Assert.Equal(line, lineno.ToInt64());
        Assert.Equal("user_model.py", filename.AsString());
        using var hintText = first.GetAttr("hint");
        Assert.Contains(hint, hintText.AsString());
        Assert.Contains("to avoid it: " + hintText.AsString(), report.ToString());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ABreakInsideAWithBlockRunsTheFrameEagerlyAndRestoresGradMode(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        using var report = Explain(ns, "break_in_no_grad, torch.randn(4, requires_grad=True)");
        using var eager = report.GetAttr("eager_frames");
        using var graphs = report.GetAttr("graph_count");
        using var enabled = Py.Eval("torch.is_grad_enabled()", ns);
        Assert.Contains("has try/with blocks", eager.Repr());
        Assert.Equal(0, graphs.ToInt64());
        Assert.True(enabled.ToBoolean());
        using var result = Py.Eval("capture.compile(break_in_no_grad, backend=BACKEND)(torch.ones(2, requires_grad=True)).requires_grad", ns);
        Assert.True(result.ToBoolean());
    }

    [Fact]
    public void CodeAfterABreakIsCaptured()
    {
        using var ns = CaptureFixture.Load(Source);
        using var gil = Interpreter.Gil();
        using var report = Explain(ns, "with_print, torch.randn(4)");
        using var ops = report.GetAttr("ops_per_graph");
        Assert.Equal("[['torch.mul'], ['torch.add']]", ops.Repr());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void LoopWithABreakReusesItsEntries(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        using var same = Py.Eval("run_both(loop_with_break, torch.randn(3), 6)", ns);
        Assert.True(same.ToBoolean());
        // One capture per distinct entry, however many iterations run: the start ([mul], up to the
        // print), after the print ([add], up to FOR_ITER on the real range iterator), after FOR_ITER
        // ([mul], up to the print again) and the loop exit (no ops, so not a graph).
        foreach (var n in new[] { 3, 6, 12 })
        {
            using var report = Explain(ns, $"loop_with_break, torch.randn(3), {n}");
            using var graphs = report.GetAttr("graph_count");
            using var recompiles = report.GetAttr("recompile_reasons");
            Assert.Equal(3, graphs.ToInt64());
            Assert.Equal(0, recompiles.Length);
        }
    }

    private const string Guarded = """
        import torch

        SCALE = 2.0

        def uses_global(x):
            return x * SCALE

        def make_adder():
            k = 1.0
            def add(x):
                return x + k
            def set_k(v):
                nonlocal k
                k = v
            return add, set_k
        add, set_k = make_adder()

        def shape_dependent(x):
            return x.sum(0) if x.shape[0] > 2 else x.sum(1)

        def list_length(xs):
            total = xs[0]
            for t in xs[1:]:
                total = total + t
            return total

        def plain(x):
            return x * 2

        def uses_config(x, cfg):
            return x * cfg["scale"] + len(cfg)

        def int_keyed(x, table):
            return x * table[1] + len(table)

        def first_value(x, d):
            return x * list(d.values())[0]

        def moved(first, second):
            import collections
            d = collections.OrderedDict([(first, 1.0), (second, 2.0)])
            d.move_to_end(first)  # iteration order now differs from the hash table's
            return d

        class Net(torch.nn.Module):
            def forward(self, x):
                return x * 0.5 if self.training else x + 1

        net = Net()
        def module_mode(x):
            return net(x)

        def scenario(name, change, first, second, **options):
            capture.reset()
            fn = globals()[name]
            compiled = capture.compile(fn, backend=BACKEND, **options)
            ok = same(compiled(*first), fn(*first))
            exec(change, globals())
            ok = ok and same(compiled(*second), fn(*second))
            return ok, capture._native.recompile_reasons()
        """;

    public static TheoryData<string, string, string, string, string> GuardCases => new()
    {
        { "uses_global", "SCALE = 3.0", "(torch.ones(3),)", "(torch.ones(3),)", "G['SCALE'] changed: expected 2.0, actual 3.0" },
        { "add", "set_k(5.0)", "(torch.ones(3),)", "(torch.ones(3),)", "L['k'] changed: expected 1.0, actual 5.0" },
        { "shape_dependent", "pass", "(torch.ones(3, 2),)", "(torch.ones(2, 3),)", "tensor 'L['x']' size mismatch at index 0: expected 3, actual 2" },
        { "plain", "pass", "(torch.ones(3),)", "(torch.ones(3, dtype=torch.float64),)", "tensor 'L['x']' dtype mismatch: expected float32, actual float64" },
        { "plain", "pass", "(torch.ones(3),)", "(torch.ones(3, requires_grad=True),)", "tensor 'L['x']' requires_grad mismatch: expected False, actual True" },
        { "plain", "torch.set_grad_enabled(False)", "(torch.ones(3),)", "(torch.ones(3),)", "grad mode changed: expected torch.is_grad_enabled() == True, actual False" },
        { "module_mode", "net.eval()", "(torch.ones(3),)", "(torch.ones(3),)", "training changed: expected True, actual False" },
        { "uses_config", "pass", "(torch.ones(3), {'scale': 2.0})", "(torch.ones(3), {'scale': 3.0})", "L['cfg']['scale'] changed: expected 2.0, actual 3.0" },
        { "uses_config", "pass", "(torch.ones(3), {'scale': 2.0})", "(torch.ones(3), {'scale': 2.0, 'bias': 1})", "keys of L['cfg'] changed: expected ['scale'], actual ['scale', 'bias']" },
        { "first_value", "pass", "(torch.ones(3), moved('a', 'b'))", "(torch.ones(3), moved('b', 'a'))", "keys of L['d'] changed: expected ['b', 'a'], actual ['a', 'b']" },
        { "int_keyed", "pass", "(torch.ones(3), {1: 2.0})", "(torch.ones(3), {1: 3.0})", "L['table'][1] changed: expected 2.0, actual 3.0" },
        // True == 1 as a key, but the capture used the key itself: another type is another capture
        { "int_keyed", "pass", "(torch.ones(3), {1: 2.0, 2: 1.0})", "(torch.ones(3), {True: 2.0, 2: 1.0})", "keys of L['table'] changed: expected [1, 2], actual [True, 2]" },
        { "int_keyed", "pass", "(torch.ones(3), {1: 2.0, (2, 3): 1.0})", "(torch.ones(3), {1: 2.0, (2, 4): 1.0})", "keys of L['table'] changed: expected [1, (2, 3)], actual [1, (2, 4)]" },
        { "list_length", "pass", "([torch.ones(2), torch.ones(2)],)", "([torch.ones(2), torch.ones(2), torch.ones(2)],)", "len(L['xs']) changed: expected 2, actual 3" },
    };

    public static IEnumerable<object[]> GuardCasesPerBackend => CaptureFixture.PerBackend(GuardCases);

    [Theory]
    [MemberData(nameof(GuardCasesPerBackend))]
    public void ChangedInputsRecompileAndNeverReuseAStaleEntry(string function, string change, string first, string second, string reason, string backend)
    {
        using var ns = CaptureFixture.Load(Guarded, backend);
        using var gil = Interpreter.Gil();
        try
        {
            using var result = Py.Eval($"scenario('{function}', {Quote(change)}, {first}, {second})", ns);
            using var ok = result.GetItem(0);
            using var reasons = result.GetItem(1);
            Assert.True(ok.ToBoolean(), $"{function} gave a stale result after: {change}");
            Assert.Contains(reason, reasons.ToString());
        }
        finally
        {
            using var restore = Py.Exec("torch.set_grad_enabled(True)\nnet.train()\n", ns);
        }
    }

    // The same changes with every input size symbolic (dynamic=True): each still recompiles and never
    // reuses a stale entry; a branch on x.shape[0] > 2 is a guarded size relation instead of a size.
    [Theory]
    [MemberData(nameof(GuardCasesPerBackend))]
    public void WithSymbolicSizesChangedInputsStillRecompile(string function, string change, string first, string second, string reason, string backend)
    {
        using var ns = CaptureFixture.Load(Guarded, backend);
        using var gil = Interpreter.Gil();
        try
        {
            using var result = Py.Eval($"scenario('{function}', {Quote(change)}, {first}, {second}, dynamic=True)", ns);
            using var ok = result.GetItem(0);
            using var reasons = result.GetItem(1);
            Assert.True(ok.ToBoolean(), $"{function} gave a stale result after: {change}");
            Assert.True(reasons.Length == 1, $"{function}: expected one recompile ({reason}), got {reasons}");
            if (function == "shape_dependent") Assert.Contains("size relation s0 > 2 does not hold", reasons.ToString());
        }
        finally
        {
            using var restore = Py.Exec("torch.set_grad_enabled(True)\nnet.train()\n", ns);
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void PastTheRecompileLimitTheFunctionRunsEagerlyAndStaysCorrect(string backend)
    {
        using var ns = CaptureFixture.Load(Guarded, backend);
        using var gil = Interpreter.Gil();
        using var ok = Py.Eval("all(scenario('plain', 'pass', (torch.ones(n),), (torch.ones(n + 1),))[0] for n in range(1, 12))", ns);
        Assert.True(ok.ToBoolean());
        using var report = Py.Exec("""
            capture.reset()
            c = capture.compile(plain, backend=BACKEND, dynamic=False)
            results = [same(c(torch.ones(n)), plain(torch.ones(n))) for n in range(1, 12)]
            reasons = capture._native.recompile_reasons()
            """, ns);
        using var results = report.GetItem("results");
        using var reasons = report.GetItem("reasons");
        Assert.Equal("[True, True, True, True, True, True, True, True, True, True, True]", results.Repr());
        Assert.Equal(7, reasons.Length); // 8 entries: the first capture and 7 recompiles
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void FullGraphRaisesAtTheFirstBreakWithItsReasonAndLine(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        using var result = Py.Exec("""
            try:
                capture.compile(with_print, backend=BACKEND, fullgraph=True)(torch.ones(2))
                message = None
            except capture.NotSupported as e:
                message = str(e)
            """, ns);
        using var message = result.GetItem("message");
        Assert.Equal("fullgraph=True but the graph breaks: call to print() has effects outside the graph at line 6 (user_model.py:6)", message.AsString());
    }

    [Fact]
    public void AGuardIsExplainedByTheLineWhoseBranchDependedOnItThroughDerivedValues()
    {
        // the branch reads neither x nor scale directly: n and m carry what they came from
        using var ns = CaptureFixture.Load("""
            import torch

            def derived_branch(x, scale, unused):
                n = x.shape[0]
                m = n * 2
                if m > 4 and scale > 1.0:
                    return x * scale
                return x + unused
            """);
        using var gil = Interpreter.Gil();
        using var report = Explain(ns, "derived_branch, torch.randn(3), 2.0, 1.0");
        using var explained = report.GetAttr("guard_explanations");
        var because = explained.ToItems().ToDictionary(g =>
        {
            using var guard = g.GetItem("guard");
            return guard.AsString();
        }, g =>
        {
            using (g)
            {
                using var uses = g.GetItem("because");
                return uses.ToItems().Select(u => { using (u) return u.AsString(); }).ToList();
            }
        });
        var tensor = because.Single(p => p.Key.StartsWith("L['x']: tensor", StringComparison.Ordinal)).Value;
        Assert.Equal(["line 4 reads L['x'] as a graph input (dtype, sizes and strides are specialized)", "line 4 reads L['x'].shape",
            "line 6 branches on `m > 4 and scale > 1.0`"], tensor);
        Assert.Equal(["line 6 branches on `m > 4 and scale > 1.0`"], because["L['scale'] == 2.0"]);
        // a value the capture never used is not guarded, so nothing explains it
        Assert.DoesNotContain(because.Keys, k => k.Contains("unused"));
        using var details = report.CallMethod("details");
        var text = details.AsString();
        Assert.Contains("  6 captured     if m > 4 and scale > 1.0:\n", text);
        Assert.Contains("· graph 1: decided at capture, guarded by L['scale'] (constant match)", text);
    }

    [Theory]
    [MemberData(nameof(CaptureFixture.PerBackend), MemberType = typeof(CaptureFixture))]
    public void ModuleMemberIteratorsFollowChangesToTheModule(string backend)
    {
        // parameters()/named_buffers()/children() are read at capture through the module's dicts: a
        // parameter added, replaced or removed, a buffer registered, must recompile, never reuse the old list
        using var ns = CaptureFixture.Load("""
            import torch.nn as nn

            def total(m, x):
                s = sum(p.sum() for p in m.parameters())
                names = [n for n, _ in m.named_buffers()]
                kinds = [type(c).__name__ for c in m.children()]
                return x * s + len(names) + len(kinds), names, kinds

            def check():
                torch.manual_seed(0)
                m = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
                x = torch.randn(3)
                compiled = capture.compile(total, backend=BACKEND)
                results = []
                def step():
                    results.append(same(compiled(m, x), total(m, x)))
                step()
                step()
                m[0].weight = nn.Parameter(torch.ones(3, 3))
                step()
                m.add_module("extra", nn.Linear(3, 3))
                step()
                m[0].register_buffer("stat", torch.zeros(1))
                step()
                m[0].bias = None
                step()
                del m.extra
                step()
                return results
            """, backend);
        using var gil = Interpreter.Gil();
        using var results = Py.Eval("check()", ns);
        Assert.Equal("[True, True, True, True, True, True, True]", results.Repr());
    }

    [Theory]
    [MemberData(nameof(CaptureFixture.PerBackend), MemberType = typeof(CaptureFixture))]
    public void ChangesToWhatAModuleReadsFromItsDictsAreSeen(string backend)
    {
        // a cache hit takes attribute chains read through dicts from the last call while the dicts and
        // classes on the way are unchanged (ReadPlan): every change on the way must be read again
        using var ns = CaptureFixture.Load("""
            import torch.nn as nn

            OFFSET = 1.0

            class Scaled(nn.Module):
                scale = 2.0
                def __init__(self):
                    super().__init__()
                    self.factors = (3.0, 0.5)
                    self.table = {"k": 1.0}
                def forward(self, x):
                    return x * self.scale * self.factors[0] + self.factors[1] + self.table["k"]

            class Doubled(Scaled):
                def forward(self, x):
                    return 2 * x

            class Outer(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.block = Scaled()
                def forward(self, x):
                    return self.block(x) + OFFSET

            def check():
                global OFFSET
                torch.manual_seed(0)
                m = Outer()
                x = torch.randn(4)
                compiled = capture.compile(m, backend=BACKEND)
                results = []
                def step(label):
                    results.append((label, same(compiled(x), m(x))))
                step("first")
                step("again")
                Scaled.scale = 3.0
                step("class attribute")
                m.block.scale = 5.0
                step("instance attribute shadows it")
                m.block.factors = (2.0, 0.25)
                step("tuple attribute")
                m.block.table["k"] = 4.0
                step("dict item")
                m.block.__dict__ = {**m.block.__dict__, "factors": (1.5, 1.0)}
                step("__dict__ replaced")
                m.block = Scaled()
                step("submodule replaced")
                m.block.__class__ = Doubled
                step("__class__ assigned")
                m.block.__class__ = Scaled
                Scaled.factors = property(lambda self: (7.0, 1.0))
                step("property on the class")
                OFFSET = 2.0
                step("global")
                return [label for label, ok in results if not ok]
            """, backend);
        using var gil = Interpreter.Gil();
        using var stale = Py.Eval("check()", ns);
        Assert.Equal("[]", stale.Repr());
    }

    private static string Quote(string s) => "'" + s.Replace("'", "\\'") + "'";
}
