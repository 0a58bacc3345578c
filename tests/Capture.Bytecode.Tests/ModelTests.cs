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
