using Capture.Python;

namespace Capture.Bytecode.Tests;

// Dynamic shapes: automatic dynamic (a size that changes recompiles once, symbolic), dynamic=True /
// False, mark_dynamic / mark_static, branches and slices on symbolic sizes staying right for every
// size, and a GPT fed changing batch sizes and lengths. Every result against eager.
[Collection("Python")]
public sealed class DynamicShapeTests
{
    private const string Source = """
        import sys
        import torch
        import capture

        def mlp(x, w):
            return torch.relu(x @ w).sum(-1) * x.shape[0]

        def branchy(x):
            if x.shape[0] > 8:
                return x * 2
            return x - 1

        mask = torch.tril(torch.ones(64, 64))

        def masked(x):
            t = x.shape[-1]
            return x.masked_fill(mask[:t, :t] == 0, 0.0).view(t * t).sum() + x.size(0) // 2

        def clamped(x):
            return x[:, :20].sum(-1) + x[:, -3:].sum(-1)

        def reshaping(x):
            b, t, c = x.size()
            y = x.view(b, t, 2, c // 2).transpose(1, 2).contiguous().view(b * 2, t, c // 2)
            return y[:, -1, :] + torch.arange(c // 2).float()

        lin = torch.nn.Linear(4, 4)

        def with_item(x):
            loss = lin(x).pow(2).mean()
            s = loss.item()
            return torch.tanh(lin(x) * s).sum() + s

        def branch_on_item(x):
            s = x.sum().item()
            if s > 0:
                return x * s
            return x - s

        def branch_on_item_swapped(x):
            s = x.mean().item()
            if 0.5 >= s:
                return x * 2
            return x / s

        def helper(x):
            y = torch.relu(x) * 2
            print(end="")
            return y.sum(0) + x.shape[0]

        def calls_helper(x):
            return helper(x) + 1

        def same_shape(x, y):
            if x.size() == y.size():
                return x + y
            return x * 2 + y.sum()

        def squeezing(x, w):
            return (x @ w).squeeze(0) * 2

        def broadcasting(x, y):
            return torch.sigmoid(x * y + 1)

        def same_result(got, want):
            return got.shape == want.shape and torch.allclose(got, want, atol=1e-5)

        def compiles(fn, inputs, **options):
            capture.reset()
            compiled = capture.compile(fn, backend=BACKEND, **options)
            same = [same_result(compiled(*args), fn(*args)) for args in inputs]
            return all(same), len(capture._native.recompile_reasons()) + 1
        """;

    public static IEnumerable<object[]> Backends => CaptureFixture.PerBackend();

    /// <summary>Every item of the list <paramref name="name"/> in <paramref name="ns"/> is true (each call matched eager).</summary>
    private static void AssertAllTrue(PyObject ns, string name)
    {
        using var items = ns.GetItem(name);
        Assert.All(items.ToItems(), s => { using (s) Assert.True(s.IsTrue()); });
    }

    private static (bool Same, long Compiles) Compiles(PyObject ns, string call)
    {
        using var result = Py.Eval(call, ns);
        using var same = result.TupleItem(0);
        using var count = result.TupleItem(1);
        return (same.IsTrue(), count.ToInt64());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void AChangingSizeRecompilesOnceAndTheSymbolicGraphServesEverySize(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        var (same, compiles) = Compiles(ns, "compiles(mlp, [(torch.randn(n, 8), torch.randn(8, 4)) for n in (3, 5, 7, 9, 16, 2)])");
        Assert.True(same);
        Assert.Equal(2, compiles);
        // the recompile names the size that changed
        using var reasons = Py.Eval("capture._native.recompile_reasons()", ns);
        Assert.Contains("size mismatch at index 0: expected 3, actual 5", Assert.Single(reasons.ToItems().Select(r => { using (r) return r.AsString(); })));
    }

    // A symbol stands for any size of at least 1: the symbolic graph serves a batch of 1 where the
    // capture did not rely on the size being more (no squeeze, no broadcast of it), and a dim known to
    // vary is captured symbolic even when it is 1 in that call.
    [Theory]
    [MemberData(nameof(Backends))]
    public void ASizeOfOneIsServedByTheSymbolicGraph(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        // 1 after the symbolic capture, and 1 as the size of the symbolic capture itself
        Assert.Equal((true, 2L), Compiles(ns, "compiles(mlp, [(torch.randn(n, 8), torch.randn(8, 4)) for n in (3, 5, 1, 7, 1)])"));
        Assert.Equal((true, 2L), Compiles(ns, "compiles(mlp, [(torch.randn(n, 8), torch.randn(8, 4)) for n in (3, 1, 5, 7, 1)])"));
        Assert.Equal((true, 1L), Compiles(ns, "compiles(mlp, [(torch.randn(n, 8), torch.randn(8, 4)) for n in (3, 1, 5, 1)], dynamic=True)"));
    }

    // torch.Size == torch.Size with symbolic sizes (what F.mse_loss checks first): compared item by
    // item, each decided and guarded, no graph break; each side of the branch reused for new sizes
    // (equal sizes share one symbol; unequal ones get two, guarded s0 != s1).
    [Theory]
    [MemberData(nameof(Backends))]
    public void ShapesComparedWithSymbolicSizesNeedNoBreak(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        Assert.Equal((true, 2L), Compiles(ns, "compiles(same_shape, [(torch.randn(n, 16), torch.randn(m, 16)) for n, m in ((2, 2), (4, 4), (5, 5), (3, 6), (7, 2), (6, 6))], dynamic=True)"));
        using var breaks = Py.Eval("capture.explain(same_shape, torch.randn(4, 3), torch.randn(4, 3)).graph_break_count", ns);
        Assert.Equal(0, breaks.ToInt64());
    }

    // Where the capture relies on a size not being 1 (squeeze(0) keeps a dim of 5, drops one of 1;
    // x * y broadcasts y's 1), the symbolic graph is guarded `!= 1` and a 1 gets a graph of its own:
    // never a wrong shape.
    [Theory]
    [MemberData(nameof(Backends))]
    public void ASizeOfOneTheCaptureReliesOnIsSpecialized(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        var (same, compiles) = Compiles(ns, "compiles(squeezing, [(torch.randn(n, 1, 8), torch.randn(8, 4)) for n in (3, 1, 5, 1, 7, 2)])");
        Assert.True(same);
        Assert.Equal(3, compiles);
        (same, compiles) = Compiles(ns, "compiles(squeezing, [(torch.randn(n, 1, 8), torch.randn(8, 4)) for n in (3, 5, 1, 7, 1)])");
        Assert.True(same);
        Assert.Equal(3, compiles);
        (same, compiles) = Compiles(ns, "compiles(broadcasting, [(torch.randn(n, 4), torch.randn(m, 4)) for n, m in ((3, 3), (5, 1), (5, 5), (2, 1), (1, 6), (4, 4))])");
        Assert.True(same);
        Assert.InRange(compiles, 2, 4);
    }

    // A function the caller's broken region calls (helper's print breaks its inlining, so the call
    // runs for real and helper is captured as its own frame) follows the caller's dynamic= option.
    [Theory]
    [MemberData(nameof(Backends))]
    public void AFunctionCalledFromABrokenRegionFollowsTheCallersDynamicOption(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        long HelperRecompiles(string dynamic)
        {
            var (same, _) = Compiles(ns, $"compiles(calls_helper, [(torch.randn(n, 4),) for n in (3, 5, 7, 9)], dynamic={dynamic})");
            Assert.True(same);
            using var count = Py.Eval("len([r for r in capture._native.recompile_reasons() if r.startswith('helper:')])", ns);
            return count.ToInt64();
        }
        // helper has two entries (before and after its break): each recompiles per size, or once
        Assert.Equal(6, HelperRecompiles("False"));
        Assert.Equal(2, HelperRecompiles("None"));
        Assert.Equal(0, HelperRecompiles("True"));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void DynamicTrueCompilesOnceAndDynamicFalseOncePerSize(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        var inputs = "[(torch.randn(n, 8), torch.randn(8, 4)) for n in (3, 5, 7, 9)]";
        Assert.Equal((true, 1L), Compiles(ns, $"compiles(mlp, {inputs}, dynamic=True)"));
        Assert.Equal((true, 4L), Compiles(ns, $"compiles(mlp, {inputs}, dynamic=False)"));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ABranchOnASymbolicSizeIsGuardedAndRightForEverySize(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        // one graph per side of `x.shape[0] > 8`, each reused on its side
        Assert.Equal((true, 2L), Compiles(ns, "compiles(branchy, [(torch.randn(n, 3),) for n in (4, 12, 5, 9, 8, 2, 30)], dynamic=True)"));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void SlicesViewsAndArithmeticOnSymbolicSizes(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        // mask[:t, :t] relies on t <= 64 (guarded); x[:, :20] on which side of 20 the size is: one graph per side
        Assert.Equal((true, 1L), Compiles(ns, "compiles(masked, [(torch.randn(t, t),) for t in (5, 9, 33, 64)], dynamic=True)"));
        Assert.Equal((true, 2L), Compiles(ns, "compiles(clamped, [(torch.randn(3, n),) for n in (5, 9, 30, 20, 40, 4)], dynamic=True)"));
        Assert.Equal((true, 1L), Compiles(ns, "compiles(reshaping, [(torch.randn(b, t, 6),) for b, t in ((2, 3), (5, 7), (3, 9))], dynamic=True)"));
    }

    // A float .item() computed at a graph break changes every call: the graph after the break takes it
    // as an input (guarded by type), not as a constant (which recompiled per value); gradients flow
    // through the ops that read it. A branch on it still reads its value: specialized, right for every value.
    [Theory]
    [MemberData(nameof(Backends))]
    public void AnItemLeftOnTheStackByABreakIsAGraphInputNotAConstant(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        using var result = Py.Exec("""
            capture.reset()
            compiled = capture.compile(with_item, backend=BACKEND)
            same = []
            for i in range(10):
                x = torch.randn(3, 4)
                lin.zero_grad()
                y = compiled(x)
                y.backward()
                grad = lin.weight.grad.clone()
                lin.zero_grad()
                expected = with_item(x)
                expected.backward()
                same.append(torch.allclose(y, expected, atol=1e-5) and torch.allclose(grad, lin.weight.grad, atol=1e-5))
            recompiles = len(capture._native.recompile_reasons())
            """, ns);
        AssertAllTrue(result, "same");
        using var recompiles = result.GetItem("recompiles");
        Assert.Equal(0, recompiles.ToInt64());
        var (branchSame, branchCompiles) = Compiles(ns, "compiles(branch_on_item, [(torch.randn(5) + k,) for k in (3, 2, -4, 5, -3, 1)])");
        Assert.True(branchSame);
        // a branch on the float guards the comparison's outcome, not the value: one resumed graph per side
        Assert.Equal(2, branchCompiles);
        using var reasons = Py.Eval("capture._native.recompile_reasons()", ns);
        Assert.Contains("resumed_stack[0] > 0 no longer holds", Assert.Single(reasons.ToItems().Select(r => { using (r) return r.AsString(); })));
        // the constant on the left, and values on the boundary (0.5 >= 0.5)
        Assert.Equal((true, 2L), Compiles(ns, "compiles(branch_on_item_swapped, [(torch.full((4,), v),) for v in (0.2, 0.9, 0.5, 0.7, -1.0, 0.50001)])"));
    }

    // Gradients over dynamic sizes: the symbolic graph gets a compiled forward/backward split (its
    // derivative rules build their ops with size arguments, reasoning with what the guards ensure:
    // x's last dim is the weight's 8), and every gradient equals eager's at each size.
    [Theory]
    [MemberData(nameof(Backends))]
    public void GradientsOverDynamicSizesGetACompiledBackward(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        using var result = Py.Exec("""
            capture.reset()
            net = torch.nn.Linear(8, 4)
            def loss_of(x):
                return torch.tanh(net(x)).sum(-1).mean() + x.view(-1).sum() / x.shape[0]
            compiled = capture.compile(loss_of, backend=BACKEND, dynamic=True)
            same = []
            for n in (5, 3, 9, 2):
                x = torch.randn(n, 8, requires_grad=True)
                net.zero_grad()
                compiled(x).backward()
                got = (x.grad.clone(), net.weight.grad.clone(), net.bias.grad.clone())
                x2 = x.detach().clone().requires_grad_()
                net.zero_grad()
                loss_of(x2).backward()
                same.append(all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, (x2.grad, net.weight.grad, net.bias.grad))))
            compiles = len(capture._native.recompile_reasons()) + 1
            html = capture.report().html
            split = "no compiled backward" not in html
            """, ns);
        AssertAllTrue(result, "same");
        using var compiles = result.GetItem("compiles");
        Assert.Equal(1, compiles.ToInt64());
        using var split = result.GetItem("split");
        Assert.True(split.IsTrue(), "the symbolic graph ran without a compiled backward");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void MarkDynamicAndMarkStaticChooseDims(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        using var result = Py.Exec("""
            capture.reset()
            compiled = capture.compile(mlp, backend=BACKEND)
            w = torch.randn(8, 4)
            same = []
            for n in (3, 5, 7):
                x = torch.randn(n, 8)
                capture.mark_dynamic(x, 0)
                same.append(torch.allclose(compiled(x, w), mlp(x, w), atol=1e-5))
            marked = len(capture._native.recompile_reasons()) + 1
            capture.reset()
            compiled = capture.compile(mlp, backend=BACKEND)
            for n in (3, 5, 7):
                x = torch.randn(n, 8)
                capture.mark_static(x, 0)
                same.append(torch.allclose(compiled(x, w), mlp(x, w), atol=1e-5))
            static = len(capture._native.recompile_reasons()) + 1
            try:
                capture.mark_dynamic(torch.ones(2), 3)
                error = None
            except IndexError as e:
                error = str(e)
            """, ns);
        AssertAllTrue(result, "same");
        using var marked = result.GetItem("marked");
        using var @static = result.GetItem("static");
        using var error = result.GetItem("error");
        Assert.Equal(1, marked.ToInt64());
        Assert.Equal(3, @static.ToInt64());
        Assert.Contains("out of range", error.AsString());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void AGptFedChangingBatchesAndLengthsCompilesTwice(string backend)
    {
        using var ns = CaptureFixture.Load(Source, backend);
        using var gil = Interpreter.Gil();
        using (var examples = Py.Str(Path.Combine(Capture.Runtime.CapturePaths.Root, "pyexamples"))) ns.SetItem("EXAMPLES_DIR", examples);
        using var result = Py.Exec("""
            import random
            sys.path.insert(0, EXAMPLES_DIR)
            from gpt import GPT
            torch.manual_seed(0)
            random.seed(1)
            model = GPT.small().eval()
            capture.reset()
            compiled = capture.compile(model, backend=BACKEND)
            same = []
            with torch.no_grad():
                # batches of 1 too, and 1 right after the first size (the symbolic capture's own size)
                for b in [5, 1] + [random.randint(1, 16) for _ in range(10)] + [1]:
                    idx = torch.randint(0, 128, (b, random.randint(8, 64)))
                    same.append(torch.allclose(compiled(idx)[0], model(idx)[0], atol=1e-4, rtol=1e-4))
            compiles = len(capture._native.recompile_reasons()) + 1
            """, ns);
        AssertAllTrue(result, "same");
        using var compiles = result.GetItem("compiles");
        Assert.Equal(2, compiles.ToInt64());
    }
}
