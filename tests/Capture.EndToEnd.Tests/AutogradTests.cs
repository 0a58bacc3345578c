using System.Globalization;
using System.Text.RegularExpressions;

namespace Capture.EndToEnd.Tests;

// AOT autograd end to end: losses of an MLP, a conv block, an attention block, layer_norm and
// softmax + cross-entropy computed by compiled functions, backward through the compiled backward
// graph, every gradient compared with eager PyTorch; a training run whose losses equal eager's
// step by step; the forward/backward/joint graphs on the command line.
public sealed partial class AutogradTests
{
    private static string Example(string name) => Path.Combine(CommandRunner.Root, "pyexamples", name);

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void GradientsThroughCompiledBackwardGraphsMatchEager(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "run", Example("gradients.py"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        foreach (var name in new[] { "mlp_loss", "conv_loss", "attention_loss", "layer_norm_loss", "cross_entropy" })
        {
            var line = run.Stdout.Split('\n').Single(l => l.StartsWith(name + ":", StringComparison.Ordinal));
            Assert.Contains("loss matches eager: True", line);
            Assert.Matches(@"\d+ gradients match eager: True", line);
            Assert.Contains("compiled backward: True", line);
        }
        Assert.Equal(5, Regex.Matches(run.Stdout, @"autograd: forward/backward split \(min-cut rematerialization: \d+ saved tensors").Count);
    }

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void TrainingLossesEqualEagerStepByStep(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "run", Example("train_mlp.py"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        var eager = CommandRunner.Python(Example("train_mlp.py"));
        Assert.True(eager.ExitCode == 0, eager.Stderr);
        var ours = Losses(run.Stdout);
        var theirs = Losses(eager.Stdout);
        Assert.Equal(10, ours.Count);
        Assert.Equal(theirs.Count, ours.Count);
        for (var i = 0; i < ours.Count; i++)
            Assert.True(Math.Abs(ours[i] - theirs[i]) <= 1e-4 * Math.Abs(theirs[i]) + 1e-5, $"step {i}: {ours[i]} vs eager {theirs[i]}");
        Assert.True(ours[^1] < ours[0], "the loss went down");
        Assert.Contains("losses match eager step by step: True", run.Stdout);
        Assert.Contains("trained parameters match eager: True", run.Stdout);
    }

    private static List<double> Losses(string stdout) =>
        LossLine().Matches(stdout).Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();

    [GeneratedRegex(@"step \d+: loss ([0-9.]+)")]
    private static partial Regex LossLine();

    [Fact]
    public void GraphCommandPrintsForwardBackwardAndJointWithSavedValues()
    {
        var forward = CommandRunner.Capture("graph", Example("gradients.py") + "::mlp_loss", "--stage", "forward");
        Assert.True(forward.ExitCode == 0, forward.Stderr);
        Assert.Contains("(forward)", forward.Stdout);
        Assert.Matches(@"# min-cut rematerialization: \d+ saved tensors, [0-9.]+ [KM]?i?B; save everything needed: \d+ saved tensors", forward.Stdout);
        Assert.Contains("# saved: ", forward.Stdout);
        Assert.Contains("torch.nn.functional.linear", forward.Stdout);
        var backward = CommandRunner.Capture("graph", Example("gradients.py") + "::mlp_loss", "--stage", "backward");
        Assert.True(backward.ExitCode == 0, backward.Stderr);
        Assert.Contains("tangents_1", backward.Stdout);
        Assert.Contains("torch.mm", backward.Stdout);
        var joint = CommandRunner.Capture("graph", Example("gradients.py") + "::mlp_loss", "--stage", "joint", "--format", "tabular");
        Assert.True(joint.ExitCode == 0, joint.Stderr);
        Assert.Contains("tangents_1", joint.Stdout);
        var none = CommandRunner.Capture("graph", Example("mlp.py") + "::mlp", "--stage", "backward");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("no input that requires grad", none.Stderr);
    }

    [Fact]
    public void ExplainShowsTheSplitAndTheSavedValues()
    {
        var run = CommandRunner.Capture("explain", Example("gradients.py") + "::attention_loss", "--verbose");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("Autograd: forward/backward split (min-cut rematerialization:", run.Stdout);
        Assert.Contains("saved for backward: ", run.Stdout);
        Assert.Contains("forward graph:", run.Stdout);
        Assert.Contains("backward graph:", run.Stdout);
        Assert.Contains("forward optimize", run.Stdout);
        Assert.Contains("backward optimize", run.Stdout);
    }

    [Fact]
    public void MinCutSavesNoMoreBytesThanFunctorchsMinCut()
    {
        var script = Path.Combine(CommandRunner.Root, "tests", "Capture.EndToEnd.Tests", "scripts", "partition_vs_functorch.py");
        var run = CommandRunner.Capture("run", script);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var rows = ComparisonRow().Matches(run.Stdout).ToList();
        Assert.Equal(["mlp", "softmax", "layer_norm", "chain", "attention", "cross_entropy"], rows.Select(r => r.Groups["name"].Value));
        foreach (var row in rows)
        {
            long ours = long.Parse(row.Groups["ours"].Value), all = long.Parse(row.Groups["all"].Value), functorch = long.Parse(row.Groups["functorch"].Value);
            Assert.True(ours <= functorch, $"{row.Groups["name"].Value}: Capture's min-cut saves {ours} B, functorch's {functorch} B");
            Assert.True(ours <= all, $"{row.Groups["name"].Value}: min-cut saves {ours} B, more than saving everything needed ({all} B)");
        }
        // the pointwise chain is where rematerialization pays: only its input is kept
        Assert.Contains("chain: capture min-cut 262144 B (1 tensors", run.Stdout);
    }

    [GeneratedRegex(@"(?<name>\w+): capture min-cut (?<ours>\d+) B .*; save-all (?<all>\d+) B; functorch min-cut (?<functorch>\d+) B")]
    private static partial Regex ComparisonRow();
}
