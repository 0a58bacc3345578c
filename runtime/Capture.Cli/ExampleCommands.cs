using System.Text.Json.Nodes;
using Capture.Codegen.Llvm;
using Capture.Graphs;
using Capture.Python;
using Capture.Runtime;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;
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
    public static int Explain(CaptureSession session, string spec, IReadOnlyList<string> arguments)
    {
        var (options, scriptArgs) = SplitScriptArguments(arguments);
        if (CommandOptions.Parse("explain", options, ["--verbose"], [], "--verbose, -- ARGS", out var error) is not { } parsed) return Usage(error!);
        var verbose = parsed.Has("--verbose");
        var colour = SpectreWriter.TerminalWantsColour ? new SpectreWriter(Spectre.Console.AnsiConsole.Console) : null;
        if (!spec.Contains("::") && File.Exists(spec) && !ExampleFile.HasExamples(spec))
        {
            // an ordinary script: run it, then explain every frame it compiled
            var code = ScriptRunner.Run(spec, scriptArgs);
            if (code != 0)
            {
                Console.Error.WriteLine($"capture explain: {spec} exited with status {code}");
                return code;
            }
            using var gil = Interpreter.Gil();
            var frames = Reports.FrameReport.Build(session.Log.Events);
            if (colour is not null && verbose) Reports.TextReport.Render(frames, colour);
            else if (colour is not null) Reports.TextReport.Summary(frames, colour);
            else Console.Write(Reports.TextReport.Plain(frames, verbose));
            return 0;
        }
        return ForEachEntry("explain", spec, scriptArgs, (entry, capture) =>
        {
            var seen = session.Log.Events.Count;
            using var explain = capture.GetAttr("explain");
            using var report = entry.ApplyTo(explain);
            Console.WriteLine($"== {entry.Name} ==");
            if (colour is null)
            {
                using var text = report.CallMethod(verbose ? "details" : "summary");
                Console.WriteLine(text.AsString());
                Console.WriteLine();
                return;
            }
            using var graphs = report.GetAttr("graph_count");
            using var breaks = report.GetAttr("graph_break_count");
            Console.WriteLine($"Graph count: {graphs.ToInt64()}\nGraph break count: {breaks.ToInt64()}");
            var frames = Reports.FrameReport.Build(session.Log.Events.Skip(seen));
            if (verbose) Reports.TextReport.Render(frames, colour);
            else Reports.TextReport.Summary(frames, colour);
        });
    }

    /// <summary>
    /// capture compare FILE.py[::FUNC] [--json] [--backend B] [-- ARGS]: the AST and bytecode paths side
    /// by side per example (a script without EXAMPLES: per compiled function its run called, on the
    /// arguments of its first call).
    /// </summary>
    public static int Compare(CaptureSession session, string spec, IReadOnlyList<string> arguments)
    {
        var (options, scriptArgs) = SplitScriptArguments(arguments);
        if (CommandOptions.Parse("compare", options, ["--json"], ["--backend"], "--json, --backend B", out var error) is not { } parsed) return Usage(error!);
        var json = parsed.Has("--json");
        var results = new List<string>();
        // machine-readable output goes alone on stdout: what the script prints goes to stderr
        using var quiet = json ? new PythonPrintsToStderr() : null;
        var code = ForEachEntry("compare", spec, scriptArgs, (entry, capture) =>
        {
            using var compare = capture.GetAttr("compare");
            var backend = BackendArgument(parsed.Value("--backend"));
            using var backendValue = backend.Value;
            using var result = entry.ApplyTo(compare, [backend]);
            if (json)
            {
                using var text = result.CallMethod("to_json");
                results.Add(text.AsString());
                return;
            }
            Console.WriteLine($"== {entry.Name} ==");
            Console.WriteLine(result.ToString());
            Console.WriteLine();
        });
        if (code != 0) return code;
        if (json) Console.WriteLine("[\n" + string.Join(",\n", results) + "\n]");
        return 0;
    }

    /// <summary>While it lives, Python's print (sys.stdout) writes to stderr: a script's own prints stay out of JSON on stdout.</summary>
    internal sealed class PythonPrintsToStderr : IDisposable
    {
        private readonly PyObject _saved;

        public PythonPrintsToStderr()
        {
            using var gil = Interpreter.Gil();
            using var sys = Py.Import("sys");
            _saved = sys.GetAttr("stdout");
            using var stderr = sys.GetAttr("stderr");
            sys.SetAttr("stdout", stderr);
        }

        public void Dispose()
        {
            using var gil = Interpreter.Gil();
            using var sys = Py.Import("sys");
            sys.SetAttr("stdout", _saved);
            _saved.Dispose();
        }
    }

    /// <summary>A command's own options, and what follows `--`: the arguments of the script it runs.</summary>
    internal static (IReadOnlyList<string> Options, IReadOnlyList<string> ScriptArgs) SplitScriptArguments(IReadOnlyList<string> arguments)
    {
        var at = arguments.ToList().IndexOf("--");
        return at < 0 ? (arguments, []) : (arguments.Take(at).ToList(), arguments.Skip(at + 1).ToList());
    }

    /// <summary>
    /// Runs <paramref name="each"/> on every entry of a pyexamples file, or of the compiled functions a
    /// script's run called (<see cref="ScriptEntries"/>), GIL held, with the capture package at hand.
    /// Returns the exit code: the script's when it failed.
    /// </summary>
    internal static int ForEachEntry(string command, string spec, IReadOnlyList<string> scriptArgs, Action<ExampleEntry, PyObject> each)
    {
        if (ScriptEntries.Load(command, spec, scriptArgs, out var code) is not { } entries) return code;
        using var gil = Interpreter.Gil();
        using var capture = Py.Import("capture");
        foreach (var entry in entries)
            using (entry)
                each(entry, capture);
        return 0;
    }

    /// <summary>backend=B for capture.explain and capture.compare (None: the default backend), as a new handle.</summary>
    internal static KeyValuePair<string, PyObject> BackendArgument(string? backend) => new("backend", backend is null ? Py.None : Py.Str(backend));

    /// <summary>
    /// capture graph FILE.py::FUNC [options] [-- ARGS]: the graphs captured from one function (a script
    /// without EXAMPLES is run with ARGS and FUNC captured on the arguments of its first call; without
    /// ::FUNC, every compiled function of the run).
    /// </summary>
    public static int Graph(CaptureSession session, string spec, IReadOnlyList<string> arguments)
    {
        var (options, scriptArgs) = SplitScriptArguments(arguments);
        var file = spec.Split("::")[0];
        if (!spec.Contains("::") && (!File.Exists(file) || ExampleFile.HasExamples(file))) return Usage("capture graph: name one function: FILE.py::FUNC");
        if (CommandOptions.Parse("graph", options, ["--passes"], ["--format", "--stage", "--backend", "--mode"],
                "--format F, --stage S, --backend B, --mode ast|bytecode, --passes", out var error) is not { } parsed) return Usage(error!);
        var (format, stage, passes, backend) = (parsed.Value("--format") ?? "code", parsed.Value("--stage") ?? "captured", parsed.Has("--passes"), parsed.Value("--backend"));
        if (parsed.Value("--mode") is not (null or "ast" or "bytecode")) return Usage($"capture graph: unknown mode '{parsed.Value("--mode")}' (ast or bytecode)");
        var mode = parsed.Value("--mode") == "ast" ? CaptureMode.Ast : CaptureMode.Bytecode;
        if (format is not ("tabular" or "code" or "json" or "dot" or "csharp" or "llvm" or "asm"))
            return Usage($"capture graph: unknown format '{format}' (tabular, code, json, dot, csharp, llvm or asm)");
        if (stage is not ("captured" or "optimized" or "forward" or "backward" or "joint"))
            return Usage($"capture graph: unknown stage '{stage}' (captured, optimized, forward, backward or joint)");
        // generated code comes from its backend (C#: roslyn; LLVM IR and its assembly: llvm); the optimizer's
        // graphs from the backend asked for, else the default one: each backend's pipeline is what it runs
        var generated = format is "csharp" or "llvm" or "asm";
        backend ??= format switch { "csharp" => "roslyn", "llvm" or "asm" => "llvm", _ => "roslyn" };
        if (!CaptureSession.BackendNames.Contains(backend)) return Usage($"capture graph: unknown backend '{backend}' ({string.Join(", ", CaptureSession.BackendNames)})");
        if (generated && backend != (format == "csharp" ? "roslyn" : "llvm"))
            return Usage($"capture graph: --format {format} is what the {(format == "csharp" ? "roslyn" : "llvm")} backend generates, not {backend}");
        using var quiet = format == "json" ? new PythonPrintsToStderr() : null;
        if (ScriptEntries.Load("graph", spec, scriptArgs, out var exit) is not { } entries) return exit;
        var request = new GraphRequest(format, stage, passes, backend, mode, parsed.Value("--format") is null);
        var json = new JsonArray();
        foreach (var entry in entries)
            using (entry)
                if (GraphOf(session, entry, request, json) is var code and not 0)
                    return code;
        if (format == "json") Console.Write(json.ToJsonString(new() { WriteIndented = true }) + "\n");
        return 0;
    }

    private sealed record GraphRequest(string Format, string Stage, bool Passes, string Backend, CaptureMode Mode, bool FormatDefaulted);

    /// <summary>Captures one entry for `capture graph` and prints its graphs (JSON ones are added to <paramref name="json"/>).</summary>
    private static int GraphOf(CaptureSession session, ExampleEntry entry, GraphRequest request, JsonArray json)
    {
        var (format, stage, passes, backend, mode) = (request.Format, request.Stage, request.Passes, request.Backend, request.Mode);
        var generated = format is "csharp" or "llvm" or "asm";
        var traces = new List<CompileTrace>();
        using (Interpreter.Gil())
        {
            var runner = session.NewRunner(backend, mode, new Traces(traces), purpose: "graph");
            using var target = entry.Function();
            // a bound method (model.generate) runs its function with the instance first
            var method = target.HasAttr("__func__") && target.HasAttr("__self__");
            using var function = method ? target.GetAttr("__func__") : target.NewReference();
            var items = entry.Args.ToItems().ToList();
            if (entry.IsModule) items.Insert(0, entry.Target.NewReference());
            if (method) items.Insert(0, target.GetAttr("__self__"));
            using var args = Py.Tuple(items);
            foreach (var i in items) i.Dispose();
            var named = entry.KwargItems();
            using var kwargs = Py.Dict(named);
            foreach (var n in named) n.Value.Dispose();
            runner.Call(function, args, kwargs).Dispose();
            runner.Reset();
        }
        if (generated)
        {
            var (comment, language) = format switch { "csharp" => ("//", "C#"), "llvm" => (";", "LLVM IR"), _ => ("#", "machine code") };
            var llvm = format == "asm" ? (LlvmKernelCompiler)session.KernelCompiler("llvm") : null;
            for (var i = 0; i < traces.Count; i++)
            {
                Console.WriteLine($"{comment} {entry.Name}: graph {i + 1} of {traces.Count}");
                foreach (var part in traces[i].AllParts) // the subgraphs of control flow too
                {
                    if (traces[i].AllParts.Count > 1) Console.WriteLine($"{comment} {part.Role}");
                    Console.Write(Generated(part, llvm, comment, language));
                }
            }
            return 0;
        }
        var graphs = new List<(Graph Graph, string Title, string Note, CompiledPart? Part)>();
        foreach (var (trace, i) in traces.Select((t, i) => (t, i)))
        {
            if (stage is "forward" or "backward" or "joint")
            {
                // a graph cut at its control flow: each piece of ops has its own split
                var splits = trace.Main.Pieces.Count > 0
                    ? trace.Main.Pieces.Select((p, k) => (p.Split, Label: $", {p.Main.Role.Split(' ')[0]} {k + 1} of {trace.Main.Pieces.Count}")).Where(p => p.Split is not null).ToList()
                    : [(trace.Split, Label: "")];
                if (splits.All(s => s.Split is null))
                    return Fail(trace.NoSplitReason is { } why
                        ? $"capture graph: graph {i + 1} of {entry.Name} cannot be differentiated: {why}"
                        : $"capture graph: graph {i + 1} of {entry.Name} has no input that requires grad: nothing to differentiate (make the example's inputs require grad)");
                foreach (var (split, label) in splits)
                {
                    var note = $"# {split!.Partition}; {split.Alternative}\n# saved: {string.Join(", ", split.Partition.Saved.Select(n => $"{n} {MetaText.Format(split.Partition.Forward[n].Meta)}"))}\n";
                    graphs.Add((stage switch { "joint" => split.Joint.Graph, "forward" => split.Partition.Forward, _ => split.Partition.Backward },
                        $"graph {i + 1} of {traces.Count} ({stage}{label})", note, null));
                }
            }
            else if (stage == "optimized")
            {
                foreach (var part in trace.Parts)
                {
                    var title = $"graph {i + 1} of {traces.Count}" + (trace.Parts.Count > 1 ? $" ({part.Role})" : "");
                    graphs.Add(part.Optimized is { } optimized
                        ? (optimized.Graph, title, "", part)
                        : (part.Graph, title, $"# not optimized: {part.NodeByNode ?? $"the {backend} backend runs graphs as captured, node by node through torch"}\n", null));
                }
            }
            else graphs.Add((trace.Captured, $"graph {i + 1} of {traces.Count}", "", null));
        }
        if (passes)
        {
            foreach (var (trace, i) in traces.Select((t, i) => (t, i)))
                foreach (var part in trace.Parts)
                    foreach (var record in part.Passes)
                        Console.WriteLine($"# graph {i + 1}{(trace.Parts.Count > 1 ? $" ({part.Role})" : "")}: {record}");
            if (stage == "captured" && request.FormatDefaulted) return 0;
        }
        if (format == "json")
        {
            foreach (var g in graphs) json.Add(GraphJson(g.Graph, g.Part?.Optimized));
            return 0;
        }
        Console.Write(format switch
        {
            "dot" => string.Concat(graphs.Select((g, i) => DotPrinter.Print(g.Graph, $"{entry.Name}_graph{i + 1}", g.Part?.Optimized?.Fusion))),
            _ => string.Join("\n", graphs.Select(g =>
                $"# {entry.Name}: {g.Title}\n" + g.Note
                + (format == "code" ? CodePrinter.Print(g.Graph) : TabularPrinter.Print(g.Graph)) + PlanText(g.Part))),
        });
        return 0;
    }

    /// <summary>Collects the compile traces of a command's captures (discarded captures have none).</summary>
    private sealed class Traces(List<CompileTrace> traces) : ICaptureEventSink
    {
        public void Record(CaptureEvent e)
        {
            if (e is CaptureEvent.Captured { Discarded: false, Compiled: { } compiled }) traces.Add(compiled.Trace);
        }
    }

    /// <summary>A compiled part's generated code (or machine code, with <paramref name="llvm"/>), or why it has none.</summary>
    private static string Generated(CompiledPart part, LlvmKernelCompiler? llvm, string comment, string language) => part switch
    {
        { NodeByNode: { } why } => $"{comment} no kernels: {why}\n",
        { Pieces.Count: > 0 } => $"{comment} cut at its control flow into {part.Pieces.Count} pieces, each compiled on its own (below)\n",
        { SubgraphTraces.Count: > 0 } => $"{comment} control flow: runs the branch or loop body it picks, each compiled with its own backward (below)\n",
        { Source.Length: 0 } when !part.Graph.Nodes.Any(n => n is CallOp or Cond or WhileLoop) => $"{comment} no kernels: the graph computes nothing (it returns its inputs)\n",
        { Source.Length: > 0 } => llvm is not null ? llvm.Assembly(part.Source) : part.Source,
        _ => $"{comment} no kernels: no fusion group of this graph lowers to {language} yet (they run through torch)\n",
    };

    /// <summary>The kernels under an optimized graph, as comments (the graph text still parses).</summary>
    private static string PlanText(CompiledPart? part)
    {
        if (part?.Optimized is not { } plan) return "";
        var lines = new List<string> { $"fusion: {plan.Fusion.Groups.Count} groups, {part.Kernels.Count} compiled kernels, {part.Gemms.Count} through BLAS" };
        lines.AddRange(plan.Fusion.Groups.Select(g => "  " + g + (g.Recomputed.Count > 0 ? $" (recomputes {string.Join(", ", g.Recomputed)})" : "")
            + (part.Kernels.ContainsKey(g.Id) ? "" : g.Kind == FusionKind.Extern ? "" : " (runs through torch)")));
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
