using Capture.Python;

namespace Capture.Bytecode.Tests;

// On every backend, captured functions give eager PyTorch's results: a broad suite of functions,
// each compared (outputs and mutated inputs) with running it eagerly.
[Collection("Python")]
public sealed class CorrectnessTests
{
    private const string Suite = """
        import math
        import torch
        import torch.nn.functional as F

        SCALE = 0.5

        def arithmetic(x, y):
            return (x + y) * 2 - y / 3 + x ** 2 - (-x) @ y.t()[:, :4].t()[:4] if False else (x + y) * 2 - y / 3 + x ** 2 - (-x)

        def broadcasting(x, b):
            return x * b + b.unsqueeze(0) - 1.5 * SCALE

        def views(x):
            y = x.view(2, 3, 4).permute(2, 0, 1).reshape(4, -1)
            return y[1:, ::2], y.t().contiguous().flatten(), x[..., None, 0], x.transpose(0, 1)[2]

        def list_indexing(x, w=None, scale=2.0):
            # a list of ints picks positions (a copy, as torch makes): nanoGPT's x[:, [-1], :]; trailing defaults left out
            last = x[:, [-1], :] * scale
            return last, x[[0, 2]], x[1, [0, 1, 1]], x[..., [3, 0]], x[None, :, [1]], w

        def reductions(x):
            return x.sum(), x.mean(dim=1, keepdim=True), x.amax(0), x.var(1, unbiased=False), x.softmax(-1), torch.max(x, 1)

        def row_reductions(x, w, b, flags):
            # rows long enough to run vectorized and in parallel; a NaN and infinities in some rows
            n = x.shape[-1]
            sm = torch.softmax(x * 0.5, dim=-1)
            lsm = F.log_softmax(x, dim=1)
            ln = F.layer_norm(x + 1, (n,), w, b)
            stats = x.sum(-1), x.amax(dim=1, keepdim=True), (x * x).mean(-1, keepdim=True) + 1, x.amin(-1), x.sum()
            return sm, lsm, ln, stats, flags.sum(-1), (flags.long() * 3).sum(1)

        def strided_reductions(x):
            # rows along a transposed dim, every other column, and over the last two dims
            t = x.t()
            cube = x.view(4, 8, -1)
            return torch.softmax(t, -1), t.sum(-1), x[:, ::2].amax(-1), F.layer_norm(cube, cube.shape[-2:]), x.sum(0)

        def functional(x, w, b):
            h = F.gelu(F.linear(x, w, b), approximate="tanh")
            return F.layer_norm(h, (h.shape[-1],)), F.dropout(h, p=0.0), torch.cat([h, -h], dim=1).relu()

        def make_closure():
            k = torch.tensor(3.0)
            offset = 2
            def inner(x):
                return x * k + offset
            return inner
        closure = make_closure()

        def helper(a, b=2.0):
            return a * b + 1

        def inlined(x):
            return helper(helper(x), b=x) + helper(x, 3)

        def comprehension(xs):
            return [x * 2 for x in xs]

        def varargs(*xs, **options):
            total = xs[0]
            for x in xs[1:]:
                total = total + x
            return total * options.get("scale", 1.0) if options else total

        def defaults(x, n=3, mode="mul"):
            return x * n if mode == "mul" else x + n

        def returns(x):
            return {"sum": x.sum(), "parts": (x[0], x[1:])}, [x.shape[0], x.dtype]

        def inplace(x, y):
            x.add_(y)
            x.mul_(2)
            y += 1
            return x + y

        def constant_control(x, flag=True, n=3):
            for i in range(n):
                if flag and i % 2 == 0:
                    x = x + i
                else:
                    x = x * 2
            return x

        def shape_control(x):
            if x.shape[0] > 2 and x.dim() == 2:
                return x.sum(0)
            return x.sum(1)

        def no_grad_block(x):
            with torch.no_grad():
                y = x * 2
            return y + x

        def iterate_tensor(x):
            out = []
            for row in x:
                out.append(row.sum())
            a, b = x[:2]
            return torch.stack(out), a - b

        def builtins_on_constants(x, n):
            return x * max(n, 2) + len(x.shape) + abs(-n) + math.sqrt(4.0)

        class MLP(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = torch.nn.Linear(6, 8)
                self.fc2 = torch.nn.Linear(8, 3)
                self.act = torch.nn.ReLU()

            def forward(self, x):
                return self.fc2(self.act(self.fc1(x))) * self.fc1.bias.sum()

        def generator_builtins(xs):
            flags = all(x.dim() == 1 for x in xs), any(x.requires_grad for x in xs)
            return flags, sum(x.sum() for x in xs), tuple(x * 2 for x in xs), list(i for i in range(3))

        def nested_functions(x, k):
            scale = x.mean()
            def inner(y, n=2):
                return y * scale + k * n
            square = lambda t: t * t
            counter = 0
            def bump():
                nonlocal counter
                counter += 1
                return counter
            bump(); bump()
            return inner(x), square(inner(x, n=3)), counter, [inner(z) for z in x.unbind(0)]

        def grad_modes(x, w):
            h = x @ w
            with torch.no_grad():
                frozen = h * 2
                with torch.enable_grad():
                    tracked = h * 3
            return frozen, tracked, (frozen + tracked).requires_grad, torch.is_grad_enabled()

        def helper_with_print(x):
            x.add_(1)
            print("side effect")
            return x

        def inplace_then_break(x):
            return helper_with_print(x) * 2

        def outside_list(x, out):
            out.append(x * 2)
            out.extend([x + 1])
            return len(out), out[0].sum()

        def item_assignment(x, ys):
            x[0] = 1.5
            x[:, 1] = x[:, 2] * 2
            ys[0] = x.sum()
            out = [x, x]
            out[-1] = x + 1
            return out

        def config_dict(x, cfg):
            out = x
            for name, value in cfg.items():
                out = out * value if name.startswith("s") else out + value
            return out, cfg.get("missing", 7), list(cfg.keys()), {**cfg, "extra": x}

        class Counter:
            def __init__(self):
                self.calls = 0
                self.last = None

        def attribute_stores(x, state):
            state.calls = state.calls + 1
            state.last = x.sum()
            return x * state.calls

        torch.manual_seed(0)
        mlp = MLP()
        def module_call(x):
            return mlp(x)
        """;

    public static TheoryData<string, string> Cases => new()
    {
        { "arithmetic", "torch.randn(3, 4), torch.randn(3, 4)" },
        { "broadcasting", "torch.randn(2, 3), torch.randn(3)" },
        { "views", "torch.randn(6, 4)" },
        { "list_indexing", "torch.randn(3, 4, 5)" },
        { "reductions", "torch.randn(3, 5)" },
        { "functional", "torch.randn(2, 5), torch.randn(4, 5), torch.randn(4)" },
        { "row_reductions", "torch.randn(70, 1100).index_put_((torch.tensor([3, 5, 9]), torch.tensor([7, 8, 9])), torch.tensor([float('nan'), float('inf'), -float('inf')])), torch.randn(1100), torch.randn(1100), torch.rand(70, 1100) > 0.5" },
        { "strided_reductions", "torch.randn(32, 96)" },
        { "closure", "torch.randn(3)" },
        { "inlined", "torch.randn(3)" },
        { "comprehension", "[torch.randn(2), torch.randn(2)]" },
        { "varargs", "torch.randn(2), torch.randn(2), torch.randn(2)" },
        { "defaults", "torch.randn(2), 4" },
        { "returns", "torch.randn(3, 2)" },
        { "inplace", "torch.randn(2, 3), torch.randn(3)" },
        { "constant_control", "torch.randn(3)" },
        { "shape_control", "torch.randn(3, 2)" },
        { "no_grad_block", "torch.randn(3, requires_grad=True)" },
        { "iterate_tensor", "torch.randn(3, 4)" },
        { "builtins_on_constants", "torch.randn(3), 5" },
        { "module_call", "torch.randn(4, 6)" },
        { "generator_builtins", "[torch.randn(2, requires_grad=True), torch.randn(3)]" },
        { "nested_functions", "torch.randn(3, 2), 1.5" },
        { "grad_modes", "torch.randn(2, 3, requires_grad=True), torch.randn(3, 4)" },
        { "inplace_then_break", "torch.zeros(3)" },
        { "outside_list", "torch.randn(3), [torch.ones(1)]" },
        { "item_assignment", "torch.randn(3, 4), [torch.zeros(1), 2]" },
        { "config_dict", "torch.randn(3), {'scale': 2.0, 'bias': torch.ones(3)}" },
    };

    public static IEnumerable<object[]> CasesPerBackend => CaptureFixture.PerBackend(Cases);

    [Theory]
    [MemberData(nameof(CasesPerBackend))]
    public void MatchesEager(string function, string arguments, string backend)
    {
        using var ns = CaptureFixture.Load(Suite, backend);
        using var gil = Interpreter.Gil();
        using var result = Py.Eval($"run_both({function}, {arguments})", ns);
        Assert.True(result.ToBoolean(), $"{function} differs from eager");
    }

    public static IEnumerable<object[]> Backends => CaptureFixture.PerBackend();

    [Theory]
    [MemberData(nameof(Backends))]
    public void AttributeStoresOnOutsideObjectsAreReplayedAfterTheGraph(string backend)
    {
        using var ns = CaptureFixture.Load(Suite + """

            def check():
                x = torch.randn(3)
                expected, actual = Counter(), Counter()
                want = attribute_stores(x, expected)
                got = capture.compile(attribute_stores, backend=BACKEND)(x, actual)
                return same(got, want) and actual.calls == expected.calls == 1 and same(actual.last, expected.last)
            """, backend);
        using var gil = Interpreter.Gil();
        using var result = Py.Eval("check()", ns);
        Assert.True(result.ToBoolean());
    }

    [Theory]
    [InlineData("arithmetic", "torch.randn(3, 4), torch.randn(3, 4)")]
    [InlineData("views", "torch.randn(6, 4)")]
    [InlineData("list_indexing", "torch.randn(3, 4, 5)")]
    [InlineData("functional", "torch.randn(2, 5), torch.randn(4, 5), torch.randn(4)")]
    [InlineData("inlined", "torch.randn(3)")]
    [InlineData("closure", "torch.randn(3)")]
    [InlineData("constant_control", "torch.randn(3)")]
    [InlineData("module_call", "torch.randn(4, 6)")]
    [InlineData("iterate_tensor", "torch.randn(3, 4)")]
    [InlineData("generator_builtins", "[torch.randn(2, requires_grad=True), torch.randn(3)]")]
    [InlineData("nested_functions", "torch.randn(3, 2), 1.5")]
    [InlineData("grad_modes", "torch.randn(2, 3, requires_grad=True), torch.randn(3, 4)")]
    [InlineData("no_grad_block", "torch.randn(3, requires_grad=True)")]
    [InlineData("outside_list", "torch.randn(3), [torch.ones(1)]")]
    [InlineData("attribute_stores", "torch.randn(3), Counter()")]
    [InlineData("item_assignment", "torch.randn(3, 4), [torch.zeros(1), 2]")]
    [InlineData("config_dict", "torch.randn(3), {'scale': 2.0, 'bias': torch.ones(3)}")]
    public void StaticFunctionsCaptureAsOneGraph(string function, string arguments)
    {
        using var ns = CaptureFixture.Load(Suite);
        using var gil = Interpreter.Gil();
        using var report = Py.Eval($"capture.explain({function}, {arguments})", ns);
        using var graphs = report.GetAttr("graph_count");
        using var breaks = report.GetAttr("graph_break_count");
        Assert.True(graphs.ToInt64() == 1 && breaks.ToInt64() == 0, report.ToString());
    }
}
