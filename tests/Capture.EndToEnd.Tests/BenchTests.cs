using System.Text.Json.Nodes;

namespace Capture.EndToEnd.Tests;

// `capture bench --quick` as a smoke test: every workload gets a row from every system, and every
// compiled result matched eager (timings are not checked here: they are the bench's job).
public sealed class BenchTests
{
    // the chart: a ratio axis with labelled ticks around 1x, one error bar (from the IQRs) per ratio bar,
    // and the first calls beside it, with the compilers' start-up as a row of its own
    [Fact]
    public void BenchChartHasRatioTicksErrorBarsAndFirstCallTimes()
    {
        var folder = Directory.CreateTempSubdirectory("capture-chart-").FullName;
        try
        {
            var png = Path.Combine(folder, "chart.png");
            var run = CommandRunner.Run("/usr/bin/python3.11", ["-c", $$"""
                import json, chart
                rows = {("a", "s1"): dict(median_ms=1.0, iqr_ms=0.2, first_call_ms=50), ("a", "s2"): dict(median_ms=2.0, iqr_ms=0.1, first_call_ms=900),
                        ("b", "s1"): dict(median_ms=0.5, iqr_ms=0.05, first_call_ms=20), ("b", "s2"): dict(median_ms=0.05, iqr_ms=0.01, first_call_ms=3)}
                print(json.dumps(chart.plot({{System.Text.Json.JsonSerializer.Serialize(png)}}, "t", ["a", "b"], ["s1", "s2"],
                                            lambda w, s: rows.get((w, s)), lambda w, s: (1.5, 0.3), {"s1": 2000.0})))
                """], workingDirectory: Path.Combine(CommandRunner.Root, "bench"));
            Assert.True(run.ExitCode == 0, run.Stderr);
            var drawn = JsonNode.Parse(run.Stdout)!;
            var ticks = drawn["ratio_ticks"]!.AsArray().Select(t => (string)t!).ToList();
            Assert.Equal(["0.2x", "0.5x", "1x", "2x", "5x", "10x", "20x", "50x"], ticks); // 0.75x .. 30x (the axis spans 0.5x-2x at least), a margin each end
            Assert.Equal(4, (int)drawn["ratio_bars"]!);
            Assert.Equal(4, (int)drawn["error_bars"]!);
            Assert.Equal(5, (int)drawn["first_call_bars"]!); // four first calls and s1's start-up
            Assert.Equal(["1 ms", "10 ms", "100 ms", "1 s", "10 s"], drawn["first_call_ticks"]!.AsArray().Select(t => (string)t!).ToList());
            Assert.True(new FileInfo(png).Length > 1000);

            // a ratio past the axis (15,000x: eager timed during a slow spell) is cut at the edge, not an error
            var far = CommandRunner.Run("/usr/bin/python3.11", ["-c", $$"""
                import json, chart
                row = dict(median_ms=0.0001, iqr_ms=0.0001, first_call_ms=5)
                print(json.dumps(chart.plot({{System.Text.Json.JsonSerializer.Serialize(png)}}, "t", ["a"], ["s1"], lambda w, s: row, lambda w, s: (1.5, 0.3))))
                """], workingDirectory: Path.Combine(CommandRunner.Root, "bench"));
            Assert.True(far.ExitCode == 0, far.Stderr);
            Assert.Equal("1000x", JsonNode.Parse(far.Stdout)!["ratio_ticks"]!.AsArray().Last()!.GetValue<string>());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void QuickBenchProducesEveryRowAndEveryResultMatchesEager()
    {
        var output = Directory.CreateTempSubdirectory("capture-bench-").FullName;
        try
        {
            var run = CommandRunner.Capture("bench", "--quick", "--out", output);
            Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!;
            var rows = json["results"]!.AsArray().Select(r => r!).ToList();
            var workloads = rows.Select(r => (string)r["workload"]!).Distinct().ToList();
            Assert.Equal(["pointwise chain (7 ops, sigmoid/tanh), 64K floats", "arithmetic chain (6 ops), 64K floats", "softmax over rows (64x256)",
                "layer_norm over rows (64x256)", "scale (x * 1.5, the memory bound of the two above) (64x256)", "GELU MLP forward (8x64 -> 256 -> 64)", "attention block forward (2x16x32)",
                "conv block forward (conv-bn-relu, 2x8x8x8)", "MLP training step, forward + backward (8x64 -> 256 -> 64)",
                "per-call overhead (x + 1 on 4 floats)"], workloads);
            foreach (var workload in workloads)
            {
                var systems = rows.Where(r => (string)r["workload"]! == workload).ToList();
                Assert.Equal(["eager", "torch.jit.script", "torch.jit.trace", "capture (roslyn)", "capture (llvm)"], systems.Select(r => (string)r["system"]!));
                foreach (var row in systems.Where(r => r["error"] is null))
                {
                    Assert.True((bool)row["matches_eager"]!, $"{workload} through {row["system"]} differs from eager");
                    Assert.True((double)row["median_ms"]! > 0);
                }
                Assert.Null(systems.Single(r => (string)r["system"]! == "capture (roslyn)")["error"]);
                Assert.Null(systems.Single(r => (string)r["system"]! == "capture (llvm)")["error"]);
            }
            // compile times: every workload but the overhead one, every compiler, Capture's by phase
            var compiles = json["compile"]!.AsArray().Select(r => r!).ToList();
            foreach (var workload in workloads.Where(w => !w.StartsWith("per-call")))
            {
                var systems = compiles.Where(r => (string)r["workload"]! == workload).ToList();
                Assert.Equal(["torch.jit.script", "torch.jit.trace", "functorch aot_function (nop)", "functorch aot_function (ts_compile)", "capture (roslyn)", "capture (llvm)"],
                    systems.Select(r => (string)r["system"]!));
                foreach (var backend in new[] { "roslyn", "llvm" })
                {
                    var phases = systems.Single(r => (string)r["system"]! == $"capture ({backend})")["phases"]!.AsObject();
                    Assert.True(phases.Any(p => p.Key.EndsWith(backend) && (double)p.Value! > 0), $"{workload}: no {backend} phase in {phases.ToJsonString()}");
                    Assert.True((double)phases["capture"]! > 0);
                    Assert.Contains(phases, p => p.Key.EndsWith("optimize"));
                }
            }
            var table = File.ReadAllText(Path.Combine(output, "results.md"));
            Assert.Contains("| workload | system | compile ms | capture | autograd | optimize | codegen | roslyn / llvm |", table);
            Assert.Contains("- roslyn start-up (first compile in the process): ", table);
            Assert.Contains("| workload | system | median ms | IQR ms | vs eager | first call ms | matches eager |", table);
            Assert.Contains("- torch threads: ", table);
            Assert.Contains("- torch BLAS: ", table);
            Assert.Contains("Per-call overhead (median time per call minus eager's, on the tiny workload): capture (roslyn) ", table);
            Assert.Contains(", capture (llvm) ", table);
            var png = File.ReadAllBytes(Path.Combine(output, "results.png"));
            Assert.True(png.Length > 1000 && png.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }), "results.png is not a PNG");
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    // `capture bench --models --quick` on the smallest model: a process per system, each row compared
    // with eager in its own process, the table and the chart written
    [Fact]
    public void QuickModelsBenchRunsEachSystemInItsOwnProcessAndMatchesEager()
    {
        var output = Directory.CreateTempSubdirectory("capture-models-").FullName;
        try
        {
            var run = CommandRunner.Capture("bench", "--models", "--quick", "--only", "GPT 2x32 (1x16", "--out", output);
            Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "models.json")))!;
            var rows = json["results"]!.AsArray().Select(r => r!).ToList();
            Assert.Equal(["capture (roslyn)", "capture (llvm)", "TorchScript frozen"], rows.Select(r => (string)r["system"]!));
            Assert.All(rows, r => Assert.Equal("GPT 2x32 (1x16 tokens)", (string)r["workload"]!));
            foreach (var row in rows.Take(2))
            {
                Assert.True(row["error"] is null, row.ToJsonString());
                Assert.True((bool)row["matches_eager"]!);
                Assert.True((double)row["median_ms"]! > 0 && (double)row["eager_median_ms"]! > 0);
                Assert.True((int)row["graphs"]! >= 1);
            }
            var table = File.ReadAllText(Path.Combine(output, "models.md"));
            Assert.Contains("| model | system | eager ms | system ms | vs eager | graphs / breaks | first call ms | matches eager |", table);
            Assert.Contains("Geometric mean of the ratios: capture (roslyn) ", table);
            var png = File.ReadAllBytes(Path.Combine(output, "models.png"));
            Assert.True(png.Length > 1000 && png[1] == (byte)'P', "models.png is not a PNG");
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
