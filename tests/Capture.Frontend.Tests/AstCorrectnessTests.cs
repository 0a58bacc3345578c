using Capture.Python;

namespace Capture.Frontend.Tests;

// On every backend, functions captured by the AST path give eager PyTorch's results (outputs and
// inputs changed in place), including both branches of a tensor cond and data-dependent loops.
[Collection("Python")]
public sealed class AstCorrectnessTests
{
    private const string Suite = """
        import functools
        import math
        import os
        import sys
        import tempfile
        from typing import Dict, List, Optional
        import torch
        import torch.nn.functional as F

        SCALE = 0.5

        def helper(a, k=2.0):
            return a * k + 1

        def arithmetic(x, y):
            z = (x + y) * 2 - y / 3 + x ** 2 - (-x) * SCALE
            z -= 1
            a, (b, c) = z, (x, y)
            return helper(a) + b @ c.t() @ c, math.sqrt(4.0) * z.abs()

        def shapes_and_constants(x, n=3, mode="mul"):
            if x.shape[0] > 2 and x.dim() == 2:
                x = x.sum(0) if mode == "mul" else x.mean(0)
            for i in range(n):
                x = x * 2 if i % 2 == 0 else x + i
            return x, x.shape, len(x.shape)

        def tensor_if(x, w):
            h = x @ w
            if h.mean() > 0:
                y = h.relu()
                tag = 1
            else:
                y = torch.sigmoid(h) * 2
                tag = 1
            return y + tag

        def early_return(x):
            if x.sum() > 0:
                return x * 2, x.max(dim=0)
            y = x - 1
            return y, y.max(dim=0)

        def early_return_assigns(x, w):
            h = x @ w
            if h.sum() > 0:
                h = h * 2
                return h.relu()
            h = h - 1
            return h

        def nested(x):
            if x.sum() > 0:
                if x.max() > 2:
                    x = x * 3
                else:
                    x = x * 4
            else:
                x = x.t().contiguous().t() + 1
            return x

        def while_tensor(x, limit):
            steps = torch.zeros((), dtype=torch.int64)
            while x.abs().sum() < limit:
                x = x * 2 + 0.5
                steps = steps + 1
            return x, steps

        def range_tensor(x, n):
            for i in range(n):
                x = x * 2 + i
            return x

        def ternaries(x, y):
            a = x if x.sum() > y.sum() else y
            b = x.relu().sum() if x.mean() > 0 else -x.sum()
            return a, b

        def boolean_tests(x):
            if x.sum() > 0 and x.max() < 10 or not x.min() > -5:
                return x + 1
            return x - 1

        def lists_and_tuples(x):
            parts = []
            for row in x:
                parts.append(row * 2)
            first, *rest = parts
            return torch.stack(parts), first, len(rest), x.sum()

        def inplace(x, y):
            x += y
            x.mul_(2)
            x[0] = 1.5
            return x * 1

        def grad_modes(x, w):
            h = x @ w
            with torch.no_grad():
                frozen = h * 2
                with torch.enable_grad():
                    tracked = h * 3
            return frozen, tracked, frozen.requires_grad, torch.is_grad_enabled()

        def comprehensions(xs, x):
            scaled = [t * 2 for t in xs if t.dim() == 1]
            flags = all(t.dim() == 1 for t in xs), any(t.requires_grad for t in xs)
            label = f"{len(xs)} tensors of {x.dtype!r}, {x.shape[0]:03d} rows"
            return torch.stack(scaled), flags, label, sum(t.sum() for t in xs)

        def closure_maker():
            k = torch.tensor(3.0)
            def inner(x):
                return x * k + SCALE
            return inner
        closure = closure_maker()

        class Block(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = torch.nn.ModuleList([torch.nn.Linear(6, 6) for _ in range(3)])
                self.norm = torch.nn.LayerNorm(6)
                self.scale = 2

            def forward(self, x):
                for layer in self.layers:
                    x = F.gelu(layer(x)) + x
                if x.sum() > 0:
                    x = self.norm(x)
                return x * self.scale

        torch.manual_seed(0)
        block = Block()
        # torch's own module code: many Python checks, f-strings and asserts, F.multi_head_attention_forward from source
        encoder = torch.nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True).eval()
        def transformer_layer(x):
            return encoder(x)
        def module_call(x):
            return block(x)

        # decorators: functools.wraps wrappers run their own body (not only the function they wrap),
        # torch's grad-mode decorators run the function in their mode, **kwargs passes names on
        def doubled(fn):
            @functools.wraps(fn)
            def inner(*args, **kwargs):
                return fn(*args, **kwargs) * 2
            return inner

        @doubled
        def wrapped(x, k=1.0, *, shift=0.0):
            return x * k + shift

        def calls_wrapped(x):
            return wrapped(x, 3.0, shift=1.0) - wrapped(x)

        class Frozen(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(3, 3)

            @torch.no_grad()
            def forward(self, x):
                return self.fc(x).relu()

        frozen_fc = Frozen()
        def no_grad_method(x):
            y = frozen_fc(x)
            return y, y.requires_grad, torch.is_grad_enabled()

        @torch.enable_grad()
        def tracked_mm(x, w):
            return x @ w

        @torch.set_grad_enabled(False)
        def untracked_mm(x, w):
            return x @ w
        torch.set_grad_enabled(True)  # torch 1.13's set_grad_enabled switches grad mode when constructed, decorator or not

        def grad_decorators(x, w):
            with torch.no_grad():
                a = tracked_mm(x, w)
            b = untracked_mm(x, w)
            return a, b, a.requires_grad, b.requires_grad

        # typed containers and refinement, as TorchScript code writes them
        def dict_argument(d: Dict[str, torch.Tensor], scale: float = 1.0):
            total = d["a"] * scale
            for k in d:
                if k != "a":
                    total = total + d[k]
            for k, v in d.items():
                total = total - v.sum() if k == "b" else total
            extra = d.get("missing", None)
            return total, len(d), "b" in d, extra is None, len(d.values())

        def forwards_dict(x, options: Dict[str, float], d: Dict[str, torch.Tensor]):
            return wrapped(x, **options) + dict_argument(d)[0]

        def optional_refined(x, bias: Optional[torch.Tensor] = None, mode: str = "sum"):
            if bias is not None:
                x = x + bias
            if isinstance(mode, str) and mode.startswith("su"):
                return x.sum(0)
            assert mode == "mean", "mode is sum or mean"
            return x.mean(0)

        def sometimes_raises(x, n: int):
            if n < 0:
                raise ValueError("n must be >= 0")
            return x * n

        def loss_if(x, w):
            h = x @ w
            if h.mean() > 0:
                y = h.relu() * 2
            else:
                y = torch.sigmoid(h) * 3
            return (y + 1).sum()

        def loss_while(x, w):
            h = x @ w
            while h.abs().sum() < 100.0:
                h = h * 2 + 0.5
            return h.sum()

        def same_gradients(fn, sign):
            # outputs and gradients of x and w against eager, through the compiled branches' backward
            torch.manual_seed(0)
            x, w = torch.randn(3, 4, requires_grad=True), (torch.rand(4, 2) * sign).requires_grad_()
            x2, w2 = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
            out = capture.compile(fn, mode="ast", backend=BACKEND)(x, w)
            out.backward()
            ref = fn(x2, w2)
            ref.backward()
            return same(out, ref) and same(x.grad, x2.grad) and same(w.grad, w2.grad)

        def same_for_every_dict(fn, dicts):
            # one compiled function over dicts with other keys: each call equals eager (guards on the keys)
            compiled = capture.compile(fn, mode="ast", backend=BACKEND)
            return all(same(compiled(d), fn(d)) for d in dicts)

        # chains as long as CPython compiles (about a thousand levels): the AST path reads them whole
        _deep_dir = tempfile.mkdtemp()
        with open(os.path.join(_deep_dir, "capture_deep_cases.py"), "w") as _f:
            _f.write("def chain(x):\n    return x" + ".relu()" * 500 + " * 2\n\n"
                     + "def sums(x):\n    return x" + " + x" * 500 + "\n")
        sys.path.insert(0, _deep_dir)
        import capture_deep_cases
        deep_chain, deep_sum = capture_deep_cases.chain, capture_deep_cases.sums
        """;

    public static TheoryData<string, string> Cases => new()
    {
        { "arithmetic", "torch.randn(3, 4), torch.randn(3, 4)" },
        { "shapes_and_constants", "torch.randn(3, 2)" },
        { "shapes_and_constants", "torch.randn(2, 2), 2, 'mean'" },
        { "tensor_if", "torch.randn(3, 4), torch.ones(4, 2)" },
        { "tensor_if", "torch.randn(3, 4), -torch.ones(4, 2)" },
        { "early_return", "torch.ones(3, 2)" },
        { "early_return", "-torch.ones(3, 2)" },
        { "early_return_assigns", "torch.ones(3, 2), torch.ones(2, 2)" },
        { "early_return_assigns", "torch.ones(3, 2), -torch.ones(2, 2)" },
        { "nested", "torch.full((2, 3), 5.0)" },
        { "nested", "torch.full((2, 3), 0.1)" },
        { "nested", "-torch.ones(2, 3)" },
        { "while_tensor", "torch.rand(4) + 0.1, 100.0" },
        { "while_tensor", "torch.full((4,), 50.0), 100.0" },
        { "range_tensor", "torch.randn(3), torch.tensor(4)" },
        { "range_tensor", "torch.randn(3), torch.tensor(0)" },
        { "ternaries", "torch.ones(3), torch.zeros(3)" },
        { "ternaries", "-torch.ones(3), torch.zeros(3)" },
        { "boolean_tests", "torch.ones(3)" },
        { "boolean_tests", "torch.full((3,), -20.0)" },
        { "boolean_tests", "torch.full((3,), -1.0)" },
        { "lists_and_tuples", "torch.randn(3, 2)" },
        { "inplace", "torch.randn(3), torch.randn(3)" },
        { "closure", "torch.randn(3)" },
        { "grad_modes", "torch.randn(2, 3, requires_grad=True), torch.randn(3, 4)" },
        { "comprehensions", "[torch.randn(3), torch.randn(3)], torch.randn(5, 2)" },
        { "transformer_layer", "torch.randn(2, 5, 16)" },
        { "module_call", "torch.randn(4, 6)" },
        { "module_call", "-torch.ones(4, 6) * 10" },
        { "wrapped", "torch.randn(3)" },
        { "wrapped", "torch.randn(3), 2.0, shift=0.5" },
        { "calls_wrapped", "torch.randn(3)" },
        { "no_grad_method", "torch.randn(2, 3, requires_grad=True)" },
        { "grad_decorators", "torch.randn(2, 3, requires_grad=True), torch.randn(3, 4, requires_grad=True)" },
        { "deep_chain", "torch.randn(5)" },
        { "dict_argument", "{'a': torch.randn(3), 'b': torch.randn(3), 'c': torch.randn(3)}" },
        { "dict_argument", "{'a': torch.randn(3)}, 2.0" },
        { "forwards_dict", "torch.randn(3), {'k': 2.0, 'shift': 0.5}, {'a': torch.randn(3), 'b': torch.randn(3)}" },
        { "optional_refined", "torch.randn(3, 2)" },
        { "optional_refined", "torch.randn(3, 2), torch.randn(2), 'mean'" },
        { "sometimes_raises", "torch.randn(3), 2" },
        { "deep_sum", "torch.randn(5)" },
    };

    public static IEnumerable<object[]> CasesPerBackend => FrontendFixture.PerBackend(Cases);

    [Theory]
    [MemberData(nameof(CasesPerBackend))]
    public void MatchesEager(string function, string arguments, string backend)
    {
        var (ns, _) = FrontendFixture.Load(Suite, backend);
        using (ns)
        using (Interpreter.Gil())
        using (var result = Py.Eval($"run_both({function}, {arguments})", ns))
            Assert.True(result.ToBoolean(), $"{function}({arguments}) differs from eager");
    }

    [Theory]
    [MemberData(nameof(FrontendFixture.PerBackend), MemberType = typeof(FrontendFixture))]
    public void DictArgumentsRecompileWhenTheirKeysChange(string backend)
    {
        var (ns, _) = FrontendFixture.Load(Suite, backend);
        using (ns)
        using (Interpreter.Gil())
        using (var result = Py.Eval("same_for_every_dict(dict_argument, [{'a': torch.ones(2), 'b': torch.ones(2)}, {'a': torch.ones(2), 'c': torch.ones(2) * 3},"
                   + " {'a': torch.ones(2)}, {'b': torch.ones(2), 'a': torch.ones(2)}])", ns))
            Assert.True(result.ToBoolean(), "a call with other keys gave another answer than eager");
    }

    [Theory]
    [InlineData("tensor_if", "torch.randn(3, 4), torch.ones(4, 2)", "cond", 1)]
    [InlineData("early_return", "torch.ones(3, 2)", "cond", 1)]
    [InlineData("nested", "torch.ones(2, 3)", "cond", 2)]
    [InlineData("while_tensor", "torch.rand(4), 100.0", "while_loop", 1)]
    [InlineData("range_tensor", "torch.randn(3), torch.tensor(4)", "while_loop", 1)]
    [InlineData("ternaries", "torch.ones(3), torch.zeros(3)", "cond", 1)]
    [InlineData("module_call", "torch.randn(4, 6)", "cond", 1)]
    public void TensorControlFlowStaysInOneGraph(string function, string arguments, string kind, int count)
    {
        var (ns, _) = FrontendFixture.Load(Suite);
        using (ns)
        using (Interpreter.Gil())
        using (var report = Py.Eval($"capture.explain({function}, {arguments}, mode='ast', backend='eager')", ns))
        {
            using var graphs = report.GetAttr("graph_count");
            using var flow = report.GetAttr("control_flow");
            var kinds = flow.GetItem(0).ToItems().Select(cf => { using (cf) using (var k = cf.GetItem("kind")) return k.AsString(); }).ToList();
            Assert.True(graphs.ToInt64() == 1 && kinds.Count(k => k == kind) == count, report.ToString());
        }
    }

    // on the kernel backends a cond's branches and a while_loop's condition and body are compiled graphs
    // of their own (no torch fallback), outputs equal to eager's (MatchesEager runs the same cases)
    [Theory]
    [InlineData("roslyn", "tensor_if", "torch.randn(3, 4), torch.ones(4, 2)", "cond true codegen")]
    [InlineData("llvm", "tensor_if", "torch.randn(3, 4), torch.ones(4, 2)", "cond true codegen")]
    [InlineData("roslyn", "while_tensor", "torch.rand(4) + 0.1, 100.0", "while_loop body codegen")]
    [InlineData("llvm", "while_tensor", "torch.rand(4) + 0.1, 100.0", "while_loop body codegen")]
    public void ControlFlowSubgraphsCompileOnTheKernelBackends(string backend, string function, string arguments, string phase)
    {
        var (ns, _) = FrontendFixture.Load(Suite, backend);
        using (ns)
        using (Interpreter.Gil())
        using (var report = Py.Eval($"capture.explain({function}, {arguments}, mode='ast', backend='{backend}', verbose=True)", ns))
        {
            var text = report.ToString();
            Assert.Contains(phase, text);
            Assert.DoesNotContain("runs through torch, subgraphs included", text);
            using var same = Py.Eval($"run_both({function}, {arguments})", ns);
            Assert.True(same.ToBoolean());
        }
    }

    // where the results need gradients, the graph is cut at its control flow: each piece of ops, branch and
    // loop body compiles with its own forward/backward split, nothing runs node by node through torch;
    // gradients equal eager's on both branches
    [Theory]
    [InlineData("roslyn", "loss_if", "cond true backward codegen")]
    [InlineData("llvm", "loss_if", "cond false backward codegen")]
    [InlineData("roslyn", "loss_while", "while_loop body backward codegen")]
    [InlineData("llvm", "loss_while", "while_loop body backward codegen")]
    public void GradientsFlowThroughCompiledBranchesAndLoopBodies(string backend, string function, string phase)
    {
        var (ns, _) = FrontendFixture.Load(Suite, backend);
        using (ns)
        using (Interpreter.Gil())
        {
            foreach (var sign in new[] { "1.0", "-1.0" })
                using (var same = Py.Eval($"same_gradients({function}, {sign})", ns))
                    Assert.True(same.ToBoolean(), $"{function} with sign {sign}: outputs or gradients differ from eager");
            using var report = Py.Eval($"capture.explain({function}, torch.randn(3, 4, requires_grad=True), torch.rand(4, 2, requires_grad=True), mode='ast', backend='{backend}', verbose=True)", ns);
            var text = report.ToString();
            Assert.Contains(phase, text);
            Assert.Contains("Autograd: cut at its control flow into 3 pieces", text);
            Assert.DoesNotContain("no kernels:", text);
        }
    }

    [Fact]
    public void CheapPureTernaryBecomesWhereAndTheOtherACond()
    {
        var (ns, _) = FrontendFixture.Load(Suite);
        using (ns)
        using (Interpreter.Gil())
        using (var report = Py.Eval("capture.explain(ternaries, torch.ones(3), torch.zeros(3), mode='ast', backend='eager')", ns))
        {
            using var details = report.CallMethod("details");
            var text = details.AsString();
            Assert.Contains("torch.where(", text);
            Assert.Single(text.Split('\n'), l => l.Contains("= capture.cond("));
        }
    }
}
