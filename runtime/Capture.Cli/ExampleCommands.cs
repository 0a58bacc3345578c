using System.Text.Json.Nodes;
using Capture.Codegen.Llvm;
using Capture.Graphs;
using Capture.Python;
using Capture.Runtime;
using Capture.Runtime.Backends;
using Capture.Runtime.Dispatch;
using Reports = Capture.Runtime.Reports;

namespace Capture.Cli;


/// <summary>
/// `capture explain FILE.py[::FUNC]` and `capture graph FILE.py::FUNC --format ...`: capture the
/// functions of a pyexamples-style file on the inputs its EXAMPLES dict makes, and print what happened.
/// </summary>
internal static class ExampleCommands
{
    /// <summary>
    /// capture explain FILE.py[::FUNC]: per example, capture.explain's report; in a terminal with
    /// colour and tables, as plain text when piped.
    /// </summary>
    public static int Explain(string spec)
    {
        CaptureRuntime.Start();
        var entries = ExampleFile.Load(spec);
        var colour = SpectreWriter.TerminalWantsColour ? new SpectreWriter(Spectre.Console.AnsiConsole.Console) : null;
        using (Interpreter.Gil())
        {
            using var capture = Py.Import("capture");
            using var explain = capture.GetAttr("explain");
            foreach (var entry in entries)
            {
                using (entry)
                {
                    var seen = Reports.SessionLog.Events.Count;
                    using var report = entry.ApplyTo(explain);
                    Console.WriteLine($"== {entry.Name} ==");
                    if (colour is null)
                    {
                        Console.WriteLine(report.ToString());
                        Console.WriteLine();
                        continue;
                    }
                    using var graphs = report.GetAttr("graph_count");
                    using var breaks = report.GetAttr("graph_break_count");
                    Console.WriteLine($"Graph count: {graphs.ToInt64()}\nGraph break count: {breaks.ToInt64()}");
                    Reports.TextReport.Render(Reports.FrameReport.Build(Reports.SessionLog.Events.Skip(seen)), colour);
                }
            }
        }
        return 0;
    }

    /// <summary>
    /// A compiled graph's generated code (or machine code, <paramref name="assembly"/>): a forward and
    /// backward pair's each under its own heading.
    /// </summary>
    private static string Generated(ICompiledGraph? compiled, bool assembly, string comment, string language) => compiled switch
    {
        AutogradCompiledGraph { Backward: { } backward } pair =>
            $"{comment} forward\n{Generated(pair.Forward, assembly, comment, language)}{comment} backward\n{Generated(backward, assembly, comment, language)}",
        AutogradCompiledGraph single => Generated(single.Forward, assembly, comment, language),
        KernelCompiledGraph { Eager: { } why } => $"{comment} no kernels: {why}\n",
        { Source: { Length: > 0 } source } => assembly ? LlvmKernelCompiler.Assembly(source) : source,
        _ => $"{comment} no kernels: no fusion group of this graph lowers to {language} yet (they run through torch)\n",
    };

    /// <summary>capture compare FILE.py[::FUNC] [--json] [--backend B]: the AST and bytecode paths side by side per example.</summary>
    public static int Compare(string spec, IReadOnlyList<string> options)
    {
        var (json, backend) = (false, (string?)null);
        for (var i = 0; i < options.Count; i++)
        {
            switch (options[i])
            {
                case "--json": json = true; break;
                case "--backend" when i + 1 < options.Count: backend = options[++i]; break;
                default: return Usage($"capture compare: unknown option '{options[i]}' (--json, --backend B)");
            }
        }
        CaptureRuntime.Start();
        var entries = ExampleFile.Load(spec);
        using (Interpreter.Gil())
        {
            using var capture = Py.Import("capture");
            using var compare = capture.GetAttr("compare");
            using var backendName = backend is null ? Py.None : Py.Str(backend);
            var results = new List<string>();
            foreach (var entry in entries)
            {
                using (entry)
                {
                    using var result = entry.ApplyTo(compare, [new("backend", backendName)]);
                    if (json)
                    {
                        using var text = result.CallMethod("to_json");
                        results.Add(text.AsString());
                        continue;
                    }
                    Console.WriteLine($"== {entry.Name} ==");
                    Console.WriteLine(result.ToString());
                    Console.WriteLine();
                }
            }
            if (json) Console.WriteLine("[\n" + string.Join(",\n", results) + "\n]");
        }
        return 0;
    }

    public static int Graph(string spec, IReadOnlyList<string> options)
    {
        if (!spec.Contains("::")) return Usage("capture graph: name one function: FILE.py::FUNC");
        var (format, stage, passes, decompose, mode) = ("code", "captured", false, false, CaptureMode.Bytecode);
        for (var i = 0; i < options.Count; i++)
        {
            switch (options[i])
            {
                case "--format" when i + 1 < options.Count: format = options[++i]; break;
                case "--stage" when i + 1 < options.Count: stage = options[++i]; break;
                case "--passes": passes = true; break;
                case "--decompose": decompose = true; break;
                case "--mode" when i + 1 < options.Count && options[i + 1] is "ast" or "bytecode":
                    mode = options[++i] == "ast" ? CaptureMode.Ast : CaptureMode.Bytecode;
                    break;
                default: return Usage($"capture graph: unknown option '{options[i]}' (--format F, --stage S, --mode ast|bytecode, --passes, --decompose)");
            }
        }
        if (format is not ("tabular" or "code" or "json" or "dot" or "csharp" or "llvm" or "asm"))
            return Usage($"capture graph: unknown format '{format}' (tabular, code, json, dot, csharp, llvm or asm)");
        var generated = format is "csharp" or "llvm" or "asm";
        if (stage is not ("captured" or "optimized" or "forward" or "backward" or "joint"))
            return Usage($"capture graph: unknown stage '{stage}' (captured, optimized, forward, backward or joint)");
        CaptureRuntime.Start();
        var entry = ExampleFile.Load(spec).Single();
        var graphs = new List<Graph>();
        var compiled = new List<ICompiledGraph?>();
        using (entry)
        using (Interpreter.Gil())
        {
            // generated code needs its backend (C#: roslyn; LLVM IR and its assembly: llvm); the graphs alone need only capture
            var runner = CaptureRuntime.NewRunner(format switch { "csharp" => "roslyn", "llvm" or "asm" => "llvm", _ => "eager" }, mode);
            runner.OnEvent = e =>
            {
                if (e is not CaptureEvent.Captured { Discarded: false } c) return;
                graphs.Add(c.Capture.Graph);
                compiled.Add(c.Compiled);
            };
            using var function = entry.Function();
            var items = entry.Args.ToItems().ToList();
            if (entry.IsModule) items.Insert(0, entry.Target.NewReference());
            using var args = Py.Tuple(items);
            using var kwargs = Py.Dict([]);
            foreach (var i in items) i.Dispose();
            runner.Call(function, args, kwargs).Dispose();
            runner.Reset();
        }
        if (generated)
        {
            var (comment, language) = format switch { "csharp" => ("//", "C#"), "llvm" => (";", "LLVM IR"), _ => ("#", "machine code") };
            for (var i = 0; i < compiled.Count; i++)
            {
                Console.WriteLine($"{comment} {entry.Name}: graph {i + 1} of {compiled.Count}");
                Console.Write(Generated(compiled[i], format == "asm", comment, language));
            }
            return 0;
        }
        var notes = graphs.Select(_ => "").ToList();
        if (stage is "forward" or "backward" or "joint")
        {
            for (var i = 0; i < graphs.Count; i++)
            {
                if (!graphs[i].Placeholders.Any(p => JointGraph.NeedsGrad(p.Meta)))
                    return Fail($"capture graph: graph {i + 1} of {entry.Name} has no input that requires grad: nothing to differentiate (make the example's inputs require grad)");
                try
                {
                    var (joint, partition, everything) = Partitioners.Differentiate(graphs[i]);
                    graphs[i] = stage switch { "joint" => joint.Graph, "forward" => partition.Forward, _ => partition.Backward };
                    notes[i] = $"# {partition}; {everything}\n# saved: {string.Join(", ", partition.Saved.Select(n => $"{n} {MetaText.Format(partition.Forward[n].Meta)}"))}\n";
                }
                catch (NotSupportedException e)
                {
                    return Fail($"capture graph: graph {i + 1} of {entry.Name} cannot be differentiated: {e.Message}");
                }
            }
        }
        var records = new List<(int Graph, PassRecord Record)>();
        var plans = new List<OptimizedGraph>();
        if (stage == "optimized" || passes || decompose)
        {
            foreach (var (g, i) in graphs.Select((g, i) => (g, i)))
            {
                var context = new PassContext { Constants = new TorchConstantEvaluator(CaptureRuntime.Torch), Decompose = decompose ? _ => true : null };
                plans.Add(OptimizerPipeline.Run(g, context));
                records.AddRange(context.Records.Select(r => (i + 1, r)));
            }
            if (stage == "optimized" || decompose) graphs = plans.Select(p => p.Graph).ToList();
            else plans.Clear();
        }
        if (passes)
        {
            foreach (var (graph, record) in records) Console.WriteLine($"# graph {graph}: {record}");
            if (stage == "captured" && format == "code" && !options.Contains("--format")) return 0;
        }
        OptimizedGraph? Plan(int i) => i < plans.Count ? plans[i] : null;
        Console.Write(format switch
        {
            "json" => new JsonArray(graphs.Select((g, i) => GraphJson(g, Plan(i))).ToArray()).ToJsonString(new() { WriteIndented = true }) + "\n",
            "dot" => string.Concat(graphs.Select((g, i) => DotPrinter.Print(g, $"{entry.Name}_graph{i + 1}", Plan(i)?.Fusion))),
            _ => string.Join("\n", graphs.Select((g, i) =>
                $"# {entry.Name}: graph {i + 1} of {graphs.Count}{(stage is "forward" or "backward" or "joint" ? $" ({stage})" : "")}\n" + notes[i] + (format == "code" ? CodePrinter.Print(g) : TabularPrinter.Print(g)) + PlanText(Plan(i)))),
        });
        return 0;
    }

    /// <summary>The kernels and the memory plan under an optimized graph, as comments (the graph text still parses).</summary>
    private static string PlanText(OptimizedGraph? plan)
    {
        if (plan is null) return "";
        var lines = new List<string> { $"fusion: {plan.Fusion.Groups.Count} kernels" };
        lines.AddRange(plan.Fusion.Groups.Select(g => "  " + g + (g.Recomputed.Count > 0 ? $" (recomputes {string.Join(", ", g.Recomputed)})" : "")));
        lines.AddRange(plan.Memory.ToString().TrimEnd('\n').Split('\n').Select((l, i) => i == 0 ? "memory: " + l : l));
        return string.Concat(lines.Select(l => "# " + l + "\n"));
    }

    private static JsonNode GraphJson(Graph graph, OptimizedGraph? plan)
    {
        var json = JsonNode.Parse(JsonFormat.Write(graph))!.AsObject();
        if (plan is null) return json;
        json["fusion"] = new JsonArray(plan.Fusion.Groups.Select(g => (JsonNode)new JsonObject
        {
            ["id"] = g.Id,
            ["kind"] = g.Kind.ToString().ToLowerInvariant(),
            ["nodes"] = new JsonArray(g.Nodes.Select(n => (JsonNode)n).ToArray()),
            ["outputs"] = new JsonArray(g.Outputs.Select(n => (JsonNode)n).ToArray()),
            ["recomputed"] = new JsonArray(g.Recomputed.Select(n => (JsonNode)n).ToArray()),
        }).ToArray());
        json["memory"] = new JsonObject
        {
            ["planned_bytes"] = plan.Memory.PlannedBytes,
            ["naive_bytes"] = plan.Memory.NaiveBytes,
            ["peak_live_bytes"] = plan.Memory.PeakLiveBytes,
            ["slots"] = new JsonArray(plan.Memory.Slots.Select(s => (JsonNode)s).ToArray()),
            ["buffers"] = new JsonArray(plan.Memory.Buffers.Select(b => (JsonNode)new JsonObject
            {
                ["value"] = b.Value, ["bytes"] = b.Bytes, ["slot"] = b.Slot, ["defined"] = b.Defined, ["last_use"] = b.LastUse, ["in_place_of"] = b.InPlaceOf,
            }).ToArray()),
        };
        return json;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 1;
    }

    internal static int Usage(string message)
    {
        Console.Error.WriteLine(message);
        return CommandLine.UsageError;
    }
}
