using System.Text.Json.Nodes;

namespace Capture.EndToEnd.Tests;

// Issue 31: the AST path captures at least what torch.jit.script scripts. tests/ast_cases/cases.py holds
// TorchScript-style functions and modules (annotations, Optional refinement, typed containers, raise,
// assert, tensor if/while, modules) and Python beyond TorchScript's language (closures, decorators,
// **kwargs, generators); harness.py runs each through torch.jit.script and Capture's AST path.
public sealed class AstCasesTests
{
    [Fact]
    public void AstPathCapturesEveryCaseTorchScriptScriptsAndMoreWithEagersResults()
    {
        var run = CommandRunner.CaptureOn("roslyn", "run", Path.Combine(CommandRunner.Root, "tests", "ast_cases", "harness.py"), "--backend", "roslyn");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var result = JsonNode.Parse(run.Stdout)!;
        var totals = result["totals"]!;
        var cases = result["cases"]!.AsArray().Select(c => c!).ToList();
        Assert.True(cases.Count >= 30, $"{cases.Count} cases");
        Assert.Empty(totals["torchscript_only"]!.AsArray()); // nothing TorchScript scripts is refused here
        Assert.Empty(totals["capture_differs_from_eager"]!.AsArray());
        // every TorchScript-style case scripts (the suite is fair to TorchScript) and captures
        foreach (var c in cases.Where(c => !c["beyond_torchscript_language"]!.GetValue<bool>()))
        {
            Assert.True(c["torchscript"]!["captured"]!.GetValue<bool>(), $"{c["case"]}: torch.jit.script fails: {c["torchscript"]!["error"]}");
            Assert.True(c["capture_ast"]!["captured"]!.GetValue<bool>() && c["capture_ast"]!["equal"]!.GetValue<bool>(), c.ToJsonString());
        }
        // and Python that TorchScript's language does not cover
        var beyond = totals["capture_only"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Contains("beyond_closure", beyond);
        Assert.Contains("beyond_decorated", beyond);
        Assert.Contains("beyond_kwargs", beyond);
        Assert.Contains("beyond_generators", beyond);
        Assert.True(totals["capture_ast"]!.GetValue<int>() > totals["torchscript"]!.GetValue<int>(), totals.ToJsonString());
        // the control-flow cases (tensor if/while, and Python control flow TorchScript cannot express)
        // run as compiled code for inference, subgraphs included
        Assert.Contains("beyond_control_closure_threshold", beyond);
        Assert.Contains("beyond_control_early_exit", beyond);
        Assert.Empty(totals["control_flow_not_compiled"]!.AsArray());
        Assert.True(cases.Count(c => c["control_flow"]!.GetValue<bool>() && c["capture_ast"]!["compiled"]!.GetValue<bool>()) >= 6, result.ToJsonString());
        // and with gradients: the pieces around the control flow and every branch and loop body compiled
        // with its own forward/backward split, gradients equal to eager's
        Assert.Empty(totals["control_flow_gradients_differ"]!.AsArray());
        Assert.Empty(totals["control_flow_not_compiled_with_gradients"]!.AsArray());
        Assert.True(cases.Count(c => c["control_flow"]!.GetValue<bool>() && c["capture_ast"]!["compiled_with_gradients"]?.GetValue<bool>() == true) >= 6, result.ToJsonString());
    }
}
