namespace Capture.EndToEnd.Tests;

// backend="llvm" from the command line: the generated IR and its assembly, and a machine without
// libLLVM-16 (the kernel cache across processes is ExampleTests', per backend).
public sealed class LlvmBackendTests
{
    private static string Example(string name) => Path.Combine(CommandRunner.Root, "pyexamples", name);

    [Fact]
    public void GraphShowsTheGeneratedIrAndTheHostAssembly()
    {
        var ir = CommandRunner.Capture("graph", Example("fusion.py") + "::softmax_rows", "--format", "llvm");
        Assert.True(ir.ExitCode == 0, ir.Stderr);
        Assert.Contains("; softmax_rows: graph 1 of 1", ir.Stdout);
        Assert.Contains("; kernel for fusion group g1: mul, amax, sub, exp, sum, div (1/x), div", ir.Stdout);
        Assert.Contains("2 reduction passes then a store pass", ir.Stdout);
        Assert.Contains("call nnan nsz float @llvm.maxnum.f32", ir.Stdout); // the max pass, NaN tracked beside it
        Assert.Contains("fadd reassoc float", ir.Stdout);                   // the sum pass
        Assert.Contains("define internal float @capture_exp_f32(float %x)", ir.Stdout);
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            // the table exp: its scalar helper names the 8-lane variant the vectorizer calls instead
            Assert.Contains("\"vector-function-abi-variant\"=\"_ZGV_LLVM_N8v_capture_exp_f32(capture_exp_f32_v8)\"", ir.Stdout);
            var softmax = CommandRunner.Capture("graph", Example("fusion.py") + "::softmax_rows", "--format", "asm");
            Assert.Contains("vpermps", softmax.Stdout); // the variant, inlined into the vector loop
            Assert.DoesNotContain(softmax.Stdout.Split('\n'), l => l.Contains("call") && l.Contains("capture_exp")); // inlined after O3
        }
        // loops are not unrolled (compile time), cheap ones interleaved four vectors at a time, the
        // strided copies left scalar
        Assert.Contains("!{!\"llvm.loop.unroll.disable\"}", ir.Stdout);
        Assert.Contains("!{!\"llvm.loop.interleave.count\", i32 4}", ir.Stdout);
        Assert.Contains("!{!\"llvm.loop.vectorize.width\", i32 1}", ir.Stdout);
        var asm = CommandRunner.Capture("graph", Example("fusion.py") + "::pointwise_chain", "--format", "asm");
        Assert.True(asm.ExitCode == 0, asm.Stderr);
        Assert.Contains("# pointwise_chain: graph 1 of 1", asm.Stdout);
        Assert.Matches(@"capture_[0-9a-f]{16}_g1:", asm.Stdout);
        Assert.Contains("vmulps", asm.Stdout); // packed: vectorized
        // a module whose parameters require grad: its forward and backward, each assembled on its own
        var pair = CommandRunner.Capture("graph", Example("fusion.py") + "::deep_mlp", "--format", "asm");
        Assert.True(pair.ExitCode == 0, pair.Stderr);
        Assert.Contains("\n# forward\n", pair.Stdout);
        Assert.Contains("\n# backward\n", pair.Stdout);
        var usage = CommandRunner.Capture("graph", Example("fusion.py") + "::softmax_rows", "--format", "ptx");
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("unknown format 'ptx' (tabular, code, json, dot, csharp, llvm or asm)", usage.Stderr);
    }

    // Without libLLVM-16, backend="llvm" says which Debian package to install; the process goes on
    // and the other backends work.
    [Fact]
    public void AMissingLibLlvmNamesTheDebianPackageAndTheOtherBackendsKeepWorking()
    {
        var script = Path.Combine(Path.GetTempPath(), $"capture-no-llvm-{Guid.NewGuid():N}.py");
        File.WriteAllText(script, """
            import torch, capture

            def f(x):
                return torch.relu(x) * 2

            x = torch.randn(4, 8)
            try:
                capture.compile(f, backend="llvm")(x)
                print("llvm ran")
            except capture.NotSupported as e:
                print("NotSupported:", e)
            print("roslyn matches:", torch.equal(capture.compile(f, backend="roslyn")(x), f(x)))
            print("eager matches:", torch.equal(capture.compile(f, backend="eager")(x), f(x)))
            """);
        try
        {
            var run = CommandRunner.Run(CommandRunner.CliPath, ["run", script],
                environment: new Dictionary<string, string> { ["CAPTURE_LLVM_LIBRARY"] = "/nonexistent/libLLVM-16.so.1" });
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Contains("NotSupported: backend='llvm' needs LLVM 16's shared library (/nonexistent/libLLVM-16.so.1 did not load): install Debian's package libllvm16", run.Stdout);
            Assert.Contains("roslyn matches: True", run.Stdout);
            Assert.Contains("eager matches: True", run.Stdout);
            Assert.DoesNotContain("llvm ran", run.Stdout);
        }
        finally
        {
            File.Delete(script);
        }
    }
}
