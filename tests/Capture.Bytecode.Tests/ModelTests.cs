using Capture.Python;

namespace Capture.Bytecode.Tests;

// Whole models from torchvision and torch.nn, captured through nn.Module inlining.
[Collection("Python")]
public sealed class ModelTests
{
    [Fact]
    public void Resnet18InEvalModeIsOneGraphWithoutBreaksAndMatchesEager()
    {
        using var ns = CaptureFixture.Load("""
            import torchvision
            torch.manual_seed(0)
            model = torchvision.models.resnet18().eval()
            x = torch.randn(1, 3, 64, 64)
            report = capture.explain(model, x)
            with torch.no_grad():
                close = torch.allclose(capture.compile(model, backend="eager")(x), model(x), atol=1e-5)
            """);
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
}
