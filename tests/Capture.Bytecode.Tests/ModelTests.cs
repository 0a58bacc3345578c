using Capture.Python;

namespace Capture.Bytecode.Tests;

// Whole models from torchvision and torch.nn, captured through nn.Module inlining.
[Collection("Python")]
public sealed class ModelTests
{
    public static IEnumerable<object[]> Backends => CaptureFixture.PerBackend();

    [Theory]
    [MemberData(nameof(Backends))]
    public void Resnet18InEvalModeIsOneGraphWithoutBreaksAndMatchesEager(string backend)
    {
        using var ns = CaptureFixture.Load("""
            import torchvision
            torch.manual_seed(0)
            model = torchvision.models.resnet18().eval()
            x = torch.randn(1, 3, 64, 64)
            report = capture.explain(model, x)
            with torch.no_grad():
                close = torch.allclose(capture.compile(model, backend=BACKEND)(x), model(x), rtol=1e-4, atol=1e-5)
            # explain's default text is a summary a screen holds; details() has every guard
            summary_lines, detail_lines = len(str(report).splitlines()), len(report.details().splitlines())
            """, backend);
        using var gil = Interpreter.Gil();
        using var report = ns.GetItem("report");
        using var graphs = report.GetAttr("graph_count");
        using var breaks = report.GetAttr("graph_break_count");
        using var close = ns.GetItem("close");
        Assert.True(graphs.ToInt64() == 1 && breaks.ToInt64() == 0, report.ToString());
        Assert.True(close.ToBoolean());
        using var ops = report.GetAttr("ops_per_graph");
        Assert.Contains("torch.nn.functional.conv2d", ops.ToString());
        using var summaryLines = ns.GetItem("summary_lines");
        using var detailLines = ns.GetItem("detail_lines");
        Assert.True(summaryLines.ToInt64() <= 60 && detailLines.ToInt64() > 500, $"summary {summaryLines.ToInt64()} lines, details {detailLines.ToInt64()}");
    }

    // Grad on: the Python path through MultiheadAttention and F.multi_head_attention_forward (its
    // has_torch_function checks, generator expressions and asserts). Grad off with batch_first:
    // torch's fused fast path, one extern op.
    public static IEnumerable<object[]> LayerCases => CaptureFixture.PerBackend([[true, true], [false, true], [true, false], [false, false]]);

    [Theory]
    [MemberData(nameof(LayerCases))]
    public void TransformerEncoderLayerInEvalModeIsOneGraphWithoutBreaksAndMatchesEager(bool batchFirst, bool grad, string backend)
    {
        using var ns = CaptureFixture.Load($$"""
            torch.manual_seed(0)
            layer = torch.nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first={{(batchFirst ? "True" : "False")}}).eval()
            x = torch.randn(2, 5, 16)
            with torch.set_grad_enabled({{(grad ? "True" : "False")}}):
                capture.reset()
                report = capture.explain(layer, x)
                expected = layer(x)
                actual = capture.compile(layer, backend=BACKEND)(x)
            close = torch.allclose(actual, expected, rtol=1e-4, atol=1e-6) and actual.requires_grad == expected.requires_grad
            """, backend);
        using var gil = Interpreter.Gil();
        using var report = ns.GetItem("report");
        using var graphs = report.GetAttr("graph_count");
        using var breaks = report.GetAttr("graph_break_count");
        using var eager = report.GetAttr("eager_frames");
        using var close = ns.GetItem("close");
        Assert.True(graphs.ToInt64() == 1 && breaks.ToInt64() == 0 && eager.Length == 0, report.ToString());
        Assert.True(close.ToBoolean());
    }
}

// torchvision's CNNs in inference: Conv2dNormActivation (a Sequential subclass) iterated as the
// container it is, ReLU6(inplace=True) and ReLU(inplace=True) on intermediates made functional, so the
// whole model is one graph whose pointwise work runs in kernels.
[Collection("Python")]
public sealed class InferenceModelTests
{
    public static IEnumerable<object[]> Backends => CaptureFixture.PerBackend();

    [Theory]
    [MemberData(nameof(Backends))]
    public void MobileNetV2InEvalModeIsOneGraphWithKernelsAndMatchesEager(string backend)
    {
        using var ns = CaptureFixture.Load("""
            import torchvision
            torch.manual_seed(0)
            model = torchvision.models.mobilenet_v2().eval()
            x = torch.randn(1, 3, 64, 64)
            with torch.no_grad():
                capture.reset()
                report = capture.explain(model, x, backend=BACKEND)
                expected = model(x)
                actual = capture.compile(model, backend=BACKEND)(x)
            close = torch.allclose(actual, expected, rtol=1e-4, atol=1e-5)
            phases = [name for name, _, note in report.compile_phases[0] if name == "codegen" and not note.startswith("0 kernels")]
            kernels = BACKEND == "eager" or len(phases) == 1
            """, backend);
        using var gil = Interpreter.Gil();
        using var report = ns.GetItem("report");
        using var graphs = report.GetAttr("graph_count");
        using var breaks = report.GetAttr("graph_break_count");
        Assert.True(graphs.ToInt64() == 1 && breaks.ToInt64() == 0, report.ToString());
        using var close = ns.GetItem("close");
        Assert.True(close.ToBoolean());
        using var kernels = ns.GetItem("kernels");
        Assert.True(kernels.ToBoolean(), report.ToString());
    }

    // A Sequential subclass iterates its children only while it keeps Sequential's __iter__: one that
    // defines its own is not unrolled as children, and a class that gains one after the capture recompiles.
    [Theory]
    [MemberData(nameof(Backends))]
    public void SequentialSubclassesIterateAsTheirOwnIterSays(string backend)
    {
        using var ns = CaptureFixture.Load("""
            class Block(torch.nn.Sequential):
                pass

            class Reversed(torch.nn.Sequential):
                def __iter__(self):
                    return iter(list(self._modules.values())[::-1])

            def net(kind):
                return kind(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3) if kind is Block else torch.nn.Linear(4, 4))

            def run(m, x):
                for layer in m:
                    x = layer(x)
                return x

            torch.manual_seed(0)
            x = torch.randn(2, 4)
            results = []
            with torch.no_grad():
                for kind in (Block, Reversed):
                    m = net(kind)
                    capture.reset()
                    compiled = capture.compile(run, backend=BACKEND)
                    report = capture.explain(run, m, x)
                    # a user __iter__ is run as Python runs it (inlining it is the whole-graphs issue's)
                    breaks = report.graph_break_count if kind is Block else None
                    results.append((kind.__name__, breaks, torch.allclose(compiled(m, x), run(m, x))))
                m = net(Block)
                compiled = capture.compile(run, backend=BACKEND)
                first = torch.allclose(compiled(m, x), run(m, x))
                Block.__iter__ = lambda self: iter(list(self._modules.values())[:2])
                results.append(("changed", first, torch.allclose(compiled(m, x), run(m, x))))
                del Block.__iter__
            """, backend);
        using var gil = Interpreter.Gil();
        using var results = ns.GetItem("results");
        Assert.Equal("[('Block', 0, True), ('Reversed', None, True), ('changed', True, True)]", results.Repr());
    }

    // In-place ops on values the graph computed fuse like their functional forms; a write into an
    // input stays a write the caller sees.
    [Theory]
    [MemberData(nameof(Backends))]
    public void InPlaceOpsOnIntermediatesFuseAndWritesIntoInputsStay(string backend)
    {
        using var ns = CaptureFixture.Load("""
            import torch.nn.functional as F

            def intermediates(x, y):
                h = (x * 2).relu_()
                h += y
                F.hardtanh(h, -1.0, 1.0, inplace=True)
                return h.mul_(3)

            def into_input(x, y):
                x.relu_()
                return x + y

            torch.manual_seed(0)
            x, y = torch.randn(16, 8), torch.randn(16, 8)
            with torch.no_grad():
                capture.reset()
                report = capture.explain(intermediates, x, y, backend=BACKEND)
                same = torch.equal(capture.compile(intermediates, backend=BACKEND)(x, y), intermediates(x, y))
                phases = [note for name, _, note in report.compile_phases[0] if name == "codegen"]
                fused = BACKEND == "eager" or (len(phases) == 1 and not phases[0].startswith("0 kernels"))
                a, b = x.clone(), x.clone()
                out = capture.compile(into_input, backend=BACKEND)(a, y)
                written = torch.equal(out, into_input(b, y)) and torch.equal(a, b)
            """, backend);
        using var gil = Interpreter.Gil();
        using var same = ns.GetItem("same");
        using var fused = ns.GetItem("fused");
        using var written = ns.GetItem("written");
        using var report = ns.GetItem("report");
        Assert.True(same.ToBoolean());
        Assert.True(fused.ToBoolean(), report.ToString());
        Assert.True(written.ToBoolean());
    }

    // @torch.no_grad() on a method (nanoGPT's generate), compiled as a bound method or reached from
    // another function; a functools.wraps wrapper binds its own parameters (*args, **kwargs), not the
    // signature inspect reports for it (the wrapped function's)
    [Theory]
    [MemberData(nameof(Backends))]
    public void NoGradMethodsAndWrappedFunctionsCaptureWhole(string backend)
    {
        using var ns = CaptureFixture.Load("""
            import functools

            def logged(func):
                @functools.wraps(func)
                def wrapper(*args, **kwargs):
                    with torch.no_grad():
                        return func(*args, **kwargs)
                return wrapper

            @logged
            def scaled(x, k=2):
                return x * k

            class Sampler(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.proj = torch.nn.Linear(4, 4)

                @torch.no_grad()
                def generate(self, x, steps, temperature=1.0):
                    for _ in range(steps):
                        x = torch.tanh(self.proj(x) / temperature)
                    return x

            torch.manual_seed(0)
            m = Sampler()
            x = torch.randn(2, 4, requires_grad=True)
            results = []
            for fn, args in ((scaled, (x,)), (m.generate, (x, 3)), (lambda x: m.generate(x, 2, temperature=0.5), (x,))):
                capture.reset()
                report = capture.explain(fn, *args)
                got, expected = capture.compile(fn, backend=BACKEND)(*args), fn(*args)
                results.append((report.graph_count, report.graph_break_count, torch.allclose(got, expected), got.requires_grad == expected.requires_grad))
            """, backend);
        using var gil = Interpreter.Gil();
        using var results = ns.GetItem("results");
        Assert.Equal("[(1, 0, True, True), (1, 0, True, True), (1, 0, True, True)]", results.Repr());
    }

    // ModuleDict items()/keys()/values() iterate the submodules under a guard on the keys in order:
    // a dict reordered after the capture recompiles and still matches eager
    [Theory]
    [MemberData(nameof(Backends))]
    public void ModuleDictViewsIterateTheSubmodulesInOrder(string backend)
    {
        using var ns = CaptureFixture.Load("""
            class Block(torch.nn.ModuleDict):
                def forward(self, x):
                    for name, layer in self.items():
                        x = layer(x) + len(name)
                    return x + sum(1 for _ in self.keys()) + len(list(self.values()))

            torch.manual_seed(0)
            block = Block({"a": torch.nn.Linear(4, 4), "bb": torch.nn.Tanh(), "ccc": torch.nn.Linear(4, 4)})
            x = torch.randn(2, 4)
            results = []
            with torch.no_grad():
                compiled = capture.compile(block, backend=BACKEND)
                report = capture.explain(block, x)
                results.append((report.graph_count, report.graph_break_count, torch.allclose(compiled(x), block(x))))
                block._modules.move_to_end("a")
                results.append(torch.allclose(compiled(x), block(x)))
            """, backend);
        using var gil = Interpreter.Gil();
        using var results = ns.GetItem("results");
        Assert.Equal("[(1, 0, True), True]", results.Repr());
    }

    // An inlined function of another module reading a builtin (torchvision's _log_api_usage_once reads
    // isinstance) is guarded on that module's globals not defining it, not by reading it from them:
    // calls after the first hit the cache (efficientnet recompiled on every call)
    [Theory]
    [MemberData(nameof(Backends))]
    public void BuiltinsReadByInlinedFunctionsOfOtherModulesDoNotRecompile(string backend)
    {
        using var ns = CaptureFixture.Load("""
            import torchvision

            def f(x):
                return torchvision.ops.stochastic_depth(x, 0.5, "row", training=False) * 2

            x = torch.randn(4, 3)
            capture.reset()
            compiled = capture.compile(f, backend=BACKEND)
            same = all(torch.equal(compiled(x), f(x)) for _ in range(3))
            reasons = capture._native.recompile_reasons()
            """, backend);
        using var gil = Interpreter.Gil();
        using var same = ns.GetItem("same");
        using var reasons = ns.GetItem("reasons");
        Assert.True(same.ToBoolean());
        Assert.True(reasons.Length == 0, reasons.Repr());
    }

    // torch._assert on a condition known at capture (torchvision's shape checks) adds nothing to the
    // graph when it holds, and raises the user's AssertionError, as eager does, when it does not
    [Theory]
    [MemberData(nameof(Backends))]
    public void TorchAssertOnKnownConditionsIsCheckedAtCapture(string backend)
    {
        using var ns = CaptureFixture.Load("""
            def checked(x, size=4):
                n, d = x.shape
                torch._assert(d == size, f"expected {size} features, got {d}")
                return x * 2

            compiled = capture.compile(checked, backend=BACKEND)
            report = capture.explain(checked, torch.ones(3, 4))
            ok = torch.equal(compiled(torch.ones(3, 4)), torch.full((3, 4), 2.0))
            try:
                compiled(torch.ones(3, 5))
                message = None
            except AssertionError as e:
                message = str(e)
            """, backend);
        using var gil = Interpreter.Gil();
        using var report = ns.GetItem("report");
        using var breaks = report.GetAttr("graph_break_count");
        using var ok = ns.GetItem("ok");
        using var message = ns.GetItem("message");
        Assert.Equal(0, breaks.ToInt64());
        Assert.True(ok.ToBoolean());
        Assert.Equal("expected 4 features, got 5", message.AsString());
    }

    private static readonly string[] TorchvisionFamilies =
        ["resnet18", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny",
         "regnet_y_400mf", "densenet121", "squeezenet1_0", "shufflenet_v2_x0_5", "googlenet", "inception_v3", "mnasnet0_5", "vgg11", "alexnet",
         "vit_b_16", "swin_t"];

    // one line of Python: `model` (the family's smallest form that takes small images) and the image `side` it takes
    private static string TorchvisionModel(string name) =>
        $"name = \"{name}\"; kwargs = {{\"aux_logits\": False, \"init_weights\": False}} if name in (\"googlenet\", \"inception_v3\") else {{\"image_size\": 32}} if name == \"vit_b_16\" else {{}}; "
        + "model = getattr(torchvision.models, name)(**kwargs); "
        + "side = 75 if name == \"inception_v3\" else 64 if name in (\"alexnet\", \"vgg11\", \"squeezenet1_0\") else 32";

    // torchvision 0.14's classification models, one per family, in eval mode, small inputs: all capture whole
    public static IEnumerable<object[]> TorchvisionModels => CaptureFixture.PerBackend(TorchvisionFamilies.Select(m => new object[] { m }));

    // In train mode (two training steps each): the suite runs every family once, on the backends in
    // turn (about 90 s); `./capture test --filter Category=LongModels` runs the other two backends of each.
    public static IEnumerable<object[]> TorchvisionTrainModels =>
        TorchvisionFamilies.Select((m, i) => new object[] { m, CaptureFixture.Backends[i % CaptureFixture.Backends.Length] });

    public static IEnumerable<object[]> TorchvisionTrainModelsOtherBackends =>
        TorchvisionFamilies.SelectMany((m, i) => CaptureFixture.Backends.Where((_, b) => b != i % CaptureFixture.Backends.Length).Select(b => new object[] { m, b }));

    [Theory]
    [MemberData(nameof(TorchvisionTrainModels))]
    public void TorchvisionClassifierInTrainModeIsOneGraphWithEagersGradientsAndStatistics(string model, string backend) =>
        TrainModeMatchesEager(model, backend);

    [Theory]
    [Trait("Category", "LongModels")]
    [MemberData(nameof(TorchvisionTrainModelsOtherBackends))]
    public void TorchvisionClassifierInTrainModeOnTheOtherBackends(string model, string backend) => TrainModeMatchesEager(model, backend);

    // train mode with dropout (and stochastic depth) off: batch norm uses batch statistics and writes
    // its running ones; outputs, every parameter's gradient and every buffer equal eager's over two steps
    private static void TrainModeMatchesEager(string model, string backend)
    {
        using var ns = CaptureFixture.Load($$"""
            import copy
            import torchvision
            torch.manual_seed(0)
            {{TorchvisionModel(model)}}
            model = model.train()
            for m in model.modules():
                if isinstance(m, torch.nn.Dropout) or type(m).__name__ == "StochasticDepth":
                    m.p = 0.0
            ours = copy.deepcopy(model)
            x = torch.randn(2, 3, side, side)
            capture.reset()
            report = capture.explain(copy.deepcopy(model), x, backend=BACKEND)
            compiled = capture.compile(ours, backend=BACKEND)
            differences = []
            for step in range(2):
                expected, actual = model(x), compiled(x)
                if not torch.allclose(actual, expected, rtol=1e-3, atol=1e-4):
                    differences.append(f"step {step}: output")
                expected.sum().backward()
                actual.sum().backward()
                for (n, p), q in zip(model.named_parameters(), ours.parameters()):
                    if (p.grad is None) != (q.grad is None) or p.grad is not None and not torch.allclose(p.grad, q.grad, rtol=1e-3, atol=1e-4):
                        differences.append(f"step {step}: gradient of {n}")
                for (n, b), c in zip(model.named_buffers(), ours.buffers()):
                    if not torch.allclose(b.double(), c.double(), rtol=1e-4, atol=1e-5):
                        differences.append(f"step {step}: buffer {n}")
                model.zero_grad()
                ours.zero_grad()
            """, backend);
        using var gil = Interpreter.Gil();
        using var report = ns.GetItem("report");
        using var graphs = report.GetAttr("graph_count");
        using var breaks = report.GetAttr("graph_break_count");
        Assert.True(graphs.ToInt64() == 1 && breaks.ToInt64() == 0, report.ToString()[..Math.Min(4000, report.ToString().Length)]);
        using var differences = ns.GetItem("differences");
        Assert.True(differences.Length == 0, $"{model} on {backend} differs from eager: {differences.Repr()}");
    }

    [Theory]
    [MemberData(nameof(TorchvisionModels))]
    public void TorchvisionClassifierInEvalModeIsOneGraphAndMatchesEager(string model, string backend)
    {
        using var ns = CaptureFixture.Load($$"""
            import torchvision
            torch.manual_seed(0)
            {{TorchvisionModel(model)}}
            model = model.eval()
            x = torch.randn(1, 3, side, side)
            with torch.no_grad():
                capture.reset()
                report = capture.explain(model, x, backend=BACKEND)
                expected = model(x)
                actual = capture.compile(model, backend=BACKEND)(x)
            close = torch.allclose(actual, expected, rtol=1e-3, atol=1e-4)
            """, backend);
        using var gil = Interpreter.Gil();
        using var report = ns.GetItem("report");
        using var graphs = report.GetAttr("graph_count");
        using var breaks = report.GetAttr("graph_break_count");
        Assert.True(graphs.ToInt64() == 1 && breaks.ToInt64() == 0, report.ToString()[..Math.Min(4000, report.ToString().Length)]);
        using var close = ns.GetItem("close");
        Assert.True(close.ToBoolean(), $"{model} differs from eager");
    }

    // Frozen parameters (inference graphs on kernel backends take them as constants) must never give a
    // stale result: every way a user changes a module's weights recompiles, or runs what eager runs.
    [Theory]
    [MemberData(nameof(Backends))]
    public void FrozenParametersFollowEveryChangeToTheModule(string backend) => FrozenParametersFollowEveryChange(backend, """
        torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 4)
        """, blocked: false);

    // the same with eight convolutions: on the kernel backends the network runs in oneDNN's blocked layout,
    // each weight reordered for oneDNN once (capture/_onednn.py): a change still recompiles, never a stale packing
    [Theory]
    [MemberData(nameof(Backends))]
    public void FrozenParametersInOneDnnLayoutFollowEveryChangeToTheModule(string backend) => FrozenParametersFollowEveryChange(backend, """
        *[layer for _ in range(7) for layer in (torch.nn.Conv2d(8, 8, 1), torch.nn.ReLU())],
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4)
        """, blocked: backend != "eager");

    private static void FrozenParametersFollowEveryChange(string backend, string rest, bool blocked)
    {
        using var ns = CaptureFixture.Load("""
            torch.manual_seed(0)
            def make():
                m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                        {REST})
                with torch.no_grad():
                    m[1].running_mean.uniform_(-1, 1); m[1].running_var.uniform_(0.5, 2)
                    m[1].weight.uniform_(0.5, 1.5); m[1].bias.uniform_(-1, 1)
                return m.eval()
            m, other = make(), make()
            x = torch.randn(2, 3, 6, 6)
            capture.reset()
            f = capture.compile(m, backend=BACKEND)
            results = []
            def check(label):
                with torch.no_grad():
                    actual, expected = f(x), m(x)
                results.append((label, torch.allclose(actual, expected, rtol=1e-4, atol=1e-5)))
            check("first call")
            m.train()
            with torch.no_grad():
                m(x)  # recalibration: batch norm writes its running statistics inside its kernel (no version bump)
            m.eval()
            check("running statistics recalibrated")
            with torch.no_grad():
                report = capture.explain(m, x, backend=BACKEND)
            with torch.no_grad():
                m[0].weight.add_(0.5)
            check("weight written in place")
            m[-1].weight.data.mul_(2)
            check("weight written through .data")
            m[0].bias.data = torch.randn(8)
            check(".data swapped")
            m[1].running_var.data.fill_(3.0)
            check("buffer written through .data")
            m.load_state_dict(other.state_dict())
            check("load_state_dict")
            m.train()
            loss = m(x).sum()
            loss.backward()
            torch.optim.SGD(m.parameters(), lr=0.1).step()
            m.eval()
            check("optimizer step")
            m.train()
            check("train mode")
            m.eval()
            check("eval mode again")
            m[-1].weight.requires_grad_(False)
            check("requires_grad_(False)")
            m[0].weight = torch.nn.Parameter(torch.randn(8, 3, 3, 3))
            check("parameter replaced")
            m[1].running_mean = torch.zeros(8)
            check("buffer replaced")
            stale = [label for label, ok in results if not ok]
            frozen = "frozen tensor" in report.details()
            blocked = "in oneDNN's blocked layout" in report.details()
            """.Replace("{REST}", rest.Trim()), backend);
        using var gil = Interpreter.Gil();
        using var stale = ns.GetItem("stale");
        Assert.True(stale.Length == 0, $"stale results after: {stale.Repr()}");
        using var frozen = ns.GetItem("frozen");
        // the kernel backends freeze; the eager backend runs the graph as captured
        Assert.Equal(backend != "eager", frozen.ToBoolean());
        using var inBlocked = ns.GetItem("blocked");
        Assert.Equal(blocked, inBlocked.ToBoolean());
    }

    // Dropout in training mode is in the graph: the same draws as eager (the generator seeded alike),
    // a compiled backward that reuses the mask, one compile for the whole training loop, both paths.
    [Theory]
    [MemberData(nameof(Backends))]
    public void TrainingWithDropoutMatchesEagerDrawForDrawAndCompilesOnce(string backend)
    {
        using var ns = CaptureFixture.Load("""
            def make():
                torch.manual_seed(1)
                return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                           torch.nn.Linear(32, 4), torch.nn.Dropout(0.5))
            outcomes = []
            for mode in ("bytecode", "ast"):
                capture.reset()
                compiled_model, eager_model = make(), make()
                compiled = capture.compile(compiled_model, backend=BACKEND, mode=mode)
                optimizers = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (compiled_model, eager_model)]
                same = True
                for step in range(4):
                    x = torch.randn(16, 8)
                    grads = []
                    for model, optimizer in zip((compiled, eager_model), optimizers):
                        torch.manual_seed(100 + step)
                        loss = model(x).pow(2).mean()
                        optimizer.zero_grad()
                        loss.backward()
                        grads.append([loss.detach().clone()] + [p.grad.clone() for p in optimizer.param_groups[0]["params"]])
                        optimizer.step()
                    same = same and all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(*grads))
                report = capture.explain(compiled_model, x, backend=BACKEND, mode=mode)
                outcomes.append((mode, same, len(capture._native.recompile_reasons()), report.graph_break_count,
                                 report.autograd[0]["status"].startswith("forward/backward split")))
            """, backend);
        using var gil = Interpreter.Gil();
        using var outcomes = ns.GetItem("outcomes");
        Assert.Equal("[('bytecode', True, 0, 0, True), ('ast', True, 0, 0, True)]", outcomes.Repr());
    }

    // A graph break inside `for module in self` leaves the loop's iterator on the stack: a new object on
    // every call. It is guarded by type and by the modules it has left, so the resumed captures serve
    // every later call (it was guarded by identity: a recompile on every call, up to the limit).
    [Theory]
    [MemberData(nameof(Backends))]
    public void ABreakInsideALoopOverModulesDoesNotRecompileOnLaterCalls(string backend)
    {
        using var ns = CaptureFixture.Load("""
            @capture.disable
            def host(t):
                return t * 1
            class Host(torch.nn.Module):
                def forward(self, x):
                    return host(x) + 1
            m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), Host(), torch.nn.Linear(4, 2), Host(), torch.nn.Tanh())
            capture.reset()
            compiled = capture.compile(m, backend=BACKEND)
            same, recompiles = [], []
            for call in range(5):
                x = torch.randn(3, 4)
                same.append(torch.allclose(compiled(x), m(x), atol=1e-6))
                recompiles.append(len(capture._native.recompile_reasons()))
            # the loop's own iterator held in a local stays guarded by identity: still right
            def held(x):
                it = iter([1.0, 2.0, 3.0])
                for v in it:
                    x = host(x * v)
                return x
            held_same = all(torch.allclose(capture.compile(held, backend=BACKEND)(t), held(t)) for t in [torch.ones(2)] * 3)
            """, backend);
        using var gil = Interpreter.Gil();
        using var same = ns.GetItem("same");
        Assert.Equal("[True, True, True, True, True]", same.Repr());
        using var recompiles = ns.GetItem("recompiles");
        var counts = recompiles.ToItems().Select(c => { using (c) return c.ToInt64(); }).ToList();
        Assert.True(counts.Skip(1).All(c => c == counts[0]), $"recompiles after each call: {recompiles.Repr()}");
        using var held = ns.GetItem("held_same");
        Assert.True(held.ToBoolean());
    }

    // A channels-last input: the pointwise kernel loops in its output's memory order (N, H, W, C),
    // broadcasting a per-channel scale along C; values and strides are eager's.
    [Theory]
    [MemberData(nameof(Backends))]
    public void PointwiseKernelsOnChannelsLastTensorsMatchEagerValuesAndStrides(string backend)
    {
        using var ns = CaptureFixture.Load("""
            def f(x, scale):
                return torch.relu(x * scale + 1.0) - x.sigmoid()
            x = torch.randn(2, 8, 6, 5).contiguous(memory_format=torch.channels_last)
            scale = torch.randn(8, 1, 1)
            capture.reset()
            actual = capture.compile(f, backend=BACKEND)(x, scale)
            expected = f(x, scale)
            same = torch.allclose(actual, expected, rtol=1e-6, atol=1e-6) and actual.stride() == expected.stride()
            detail = (actual.stride(), expected.stride(), (actual - expected).abs().max().item())
            """, backend);
        using var gil = Interpreter.Gil();
        using var same = ns.GetItem("same");
        using var detail = ns.GetItem("detail");
        Assert.True(same.ToBoolean(), detail.Repr());
    }

    // A view of frozen weights (the transpose a product reads) is made once, like the frozen weight
    // itself, not per call: a later call runs no view op through torch, only the allocations of
    // kernel and product outputs. Values equal eager's, and a change to a weight still recompiles.
    [Theory]
    [InlineData("roslyn")]
    [InlineData("llvm")]
    public void ViewsOfFrozenWeightsAreMadeOnce(string backend)
    {
        using var ns = CaptureFixture.Load("""
            torch.manual_seed(0)
            m = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 8)).eval()
            x = torch.randn(4, 16)
            capture.reset()
            f = capture.compile(m, backend=BACKEND)
            with torch.no_grad():
                f(x)
                with torch.autograd.profiler.profile() as prof:
                    y = f(x)
                ops = sorted({e.name for e in prof.function_events})
                same = torch.allclose(y, m(x), atol=1e-5)
                m[0].weight.mul_(2)
                changed = torch.allclose(f(x), m(x), atol=1e-5)
            """, backend);
        using var gil = Interpreter.Gil();
        using var ops = ns.GetItem("ops");
        Assert.Equal("['aten::empty_strided']", ops.Repr());
        using var same = ns.GetItem("same");
        Assert.True(same.ToBoolean());
        using var changed = ns.GetItem("changed");
        Assert.True(changed.ToBoolean(), "a stale view of a changed weight");
    }

    // Attention's split / view / transpose chains between products are places in the memory of the
    // product before them: a later call runs them by address and strides (no torch view), the rank-4
    // products through BLAS; a view torch reads (the contiguous() copy, a returned view, a reshape that
    // copies) is made for it from the same place, and every value equals eager's.
    [Theory]
    [MemberData(nameof(Backends))]
    public void AttentionViewsAndProductsRunWithoutTorch(string backend)
    {
        using var ns = CaptureFixture.Load("""
            torch.manual_seed(0)
            qkv = torch.nn.Linear(16, 48)
            proj = torch.nn.Linear(16, 16)
            def attention(x):
                b, t, c = x.shape
                q, k, v = qkv(x).split(16, dim=2)
                q = q.view(b, t, 4, 4).transpose(1, 2)
                k = k.view(b, t, 4, 4).transpose(1, 2)
                v = v.view(b, t, 4, 4).transpose(1, 2)
                att = (q @ k.transpose(-2, -1)) * 0.5
                att = att.softmax(dim=-1)
                y = (att @ v).transpose(1, 2)
                flat = y.reshape(b, t, c)           # a copy: y is not contiguous
                return proj(flat), k, y.contiguous().sum()
            x = torch.randn(2, 8, 16)
            capture.reset()
            f = capture.compile(attention, backend=BACKEND)
            with torch.no_grad():
                f(x)
                f(x)
                with torch.autograd.profiler.profile() as prof:
                    actual = f(x)
                ops = sorted({e.name for e in prof.function_events})
                expected = attention(x)
                same = all(torch.allclose(a, e, atol=1e-5) and a.shape == e.shape and a.stride() == e.stride() for a, e in zip(actual, expected))
            """, backend);
        using var gil = Interpreter.Gil();
        using var same = ns.GetItem("same");
        Assert.True(same.ToBoolean(), "differs from eager");
        if (backend == "eager") return;
        using var ops = ns.GetItem("ops");
        var names = ops.ToItems().Select(o => { using (o) return o.AsString(); }).ToList();
        foreach (var op in new[] { "aten::split", "aten::view", "aten::transpose", "aten::matmul", "aten::bmm" })
            Assert.DoesNotContain(op, names);
    }

    // What only kernels and BLAS read (a LayerNorm's output into a product, a product into its GELU
    // epilogue...) keeps its memory across calls: a later call allocates only what it returns. Results
    // of earlier calls stay as they were, and calls from several threads at once (the runner releases
    // the GIL in kernels) each get eager's values.
    [Theory]
    [MemberData(nameof(Backends))]
    public void IntermediatesOnlyKernelsReadKeepTheirMemoryAcrossCalls(string backend)
    {
        using var ns = CaptureFixture.Load("""
            import threading
            torch.manual_seed(0)
            mlp = torch.nn.Sequential(torch.nn.LayerNorm(32), torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 32)).eval()
            def f(x):
                h = mlp(x)
                return h.softmax(-1), h.sum()
            g = capture.compile(f, backend=BACKEND)
            xs = [torch.randn(8, 32) for _ in range(4)]
            with torch.no_grad():
                first = [g(x) for x in xs]
                later = [g(x) for x in xs]
                with torch.autograd.profiler.profile() as prof:
                    g(xs[0])
                allocations = sum(1 for e in prof.function_events if e.name == "aten::empty_strided")
                ok = all(same(a, f(x)) for a, x in zip(first + later, xs + xs))
            results = []
            def worker(i):
                with torch.no_grad():
                    results.append(all(same(g(xs[i % 4]), f(xs[i % 4])) for _ in range(25)))
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
            for t in threads: t.start()
            for t in threads: t.join()
            """, backend);
        using var gil = Interpreter.Gil();
        using var ok = ns.GetItem("ok");
        Assert.True(ok.ToBoolean(), "differs from eager");
        using var results = ns.GetItem("results");
        Assert.Equal("[True, True, True, True]", results.Repr());
        if (backend == "eager") return;
        using var allocations = ns.GetItem("allocations");
        Assert.Equal(2, allocations.ToInt64()); // the two outputs
    }

    // A parameter the graph returns, or a view of it, is the parameter's own (eager's aliasing): it is
    // not frozen into a constant, so writing into the result writes the parameter as in eager.
    [Theory]
    [MemberData(nameof(Backends))]
    public void AReturnedParameterViewStillAliasesTheParameter(string backend)
    {
        using var ns = CaptureFixture.Load("""
            torch.manual_seed(0)
            lin = torch.nn.Linear(3, 3)
            def f(x):
                return lin.weight.t(), lin.bias, lin(x) * 2
            x = torch.randn(2, 3)
            capture.reset()
            g = capture.compile(f, backend=BACKEND)
            with torch.no_grad():
                g(x)
                w_t, b, y = g(x)
                aliases = w_t._base is lin.weight and b is lin.bias
                w_t.mul_(0)
                after = g(x)[2]
            ok = aliases and torch.allclose(after, f(x)[2].detach()) and torch.allclose(after, (lin.bias * 2).expand(2, 3))
            """, backend);
        using var gil = Interpreter.Gil();
        using var ok = ns.GetItem("ok");
        Assert.True(ok.ToBoolean());
    }
}
