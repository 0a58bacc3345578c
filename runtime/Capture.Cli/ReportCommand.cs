using Capture.Python;
using Capture.Runtime;
using Reports = Capture.Runtime.Reports;

namespace Capture.Cli;

/// <summary>`capture report`: a pyexamples file run, explained, and written as one HTML report.</summary>
internal static class ReportCommand
{
    /// <summary>
    /// capture report FILE.py [-o OUT.html] [--compare] [--backend B] [-- ARGS...]: runs the file as a
    /// script with ARGS (its compiled functions, recompiles included), explains the EXAMPLES the run
    /// did not capture (a script without EXAMPLES: what its run compiled), and writes one
    /// self-contained HTML report; --compare adds the AST-versus-bytecode comparison.
    /// </summary>
    public static int Run(CaptureSession session, string spec, IReadOnlyList<string> arguments)
    {
        var (options, scriptArgs) = ExampleCommands.SplitScriptArguments(arguments);
        if (CommandOptions.Parse("report", options, ["--compare"], ["-o|--output", "--backend"], "-o OUT.html, --compare, --backend B, -- ARGS", out var error) is not { } parsed)
            return ExampleCommands.Usage(error!);
        var (output, compare, backend) = (parsed.Value("--output") ?? "report.html", parsed.Has("--compare"), parsed.Value("--backend"));
        var file = spec.Split("::")[0];
        if (!File.Exists(file)) return ExampleCommands.Usage($"capture report: no such file: {file}");
        if (backend is not null) Environment.SetEnvironmentVariable("CAPTURE_BACKEND", backend);
        // the script first, as `capture run` would run it: what it compiles and recompiles is reported
        if (!spec.Contains("::"))
        {
            var code = ScriptRunner.Run(file, scriptArgs);
            if (code != 0)
            {
                Console.Error.WriteLine($"capture report: {file} exited with status {code}; no report written");
                return code;
            }
        }
        var comparisons = new List<PyObject>();
        if ((spec.Contains("::") || ExampleFile.HasExamples(file)) && ExampleCommands.ForEachEntry("report", spec, scriptArgs, (entry, capture) =>
        {
            var backendArgument = ExampleCommands.BackendArgument(backend);
            using (backendArgument.Value)
            {
                if (!Captured(session, entry))
                    using (var explain = capture.GetAttr("explain")) entry.ApplyTo(explain, [backendArgument]).Dispose();
                if (compare)
                    using (var compareFn = capture.GetAttr("compare")) comparisons.Add(entry.ApplyTo(compareFn, [backendArgument]));
            }
        }) is var failed and not 0)
            return failed;
        using (Interpreter.Gil())
        {
            using var capture = Py.Import("capture");
            using var report = capture.GetAttr("report");
            using var path = Py.Str(output);
            using var list = Py.ListOf(comparisons);
            using var title = Py.Str($"Capture report: {Path.GetFileName(file)}");
            using var written = report.Call([path], [new("compare", list), new("title", title)]);
            Console.WriteLine($"capture: report written to {written.AsString()} "
                + $"({Reports.FrameReport.Build(session.Log.Events).Count} frames)");
        }
        return 0;
    }

    /// <summary>Whether the script's run already captured this example's function (its frames are in the log).</summary>
    private static bool Captured(CaptureSession session, ExampleEntry entry)
    {
        using var function = entry.Function();
        if (!function.HasAttr("__code__")) return false;
        using var code = function.GetAttr("__code__");
        using var name = code.GetAttr("co_name");
        using var line = code.GetAttr("co_firstlineno");
        using var filename = code.GetAttr("co_filename");
        var (n, l, f) = (name.AsString(), line.ToInt64(), filename.AsString());
        return session.Log.Events.Any(e => e.Code is { } c && c.Name == n && c.FirstLine == l && c.FileName == f);
    }

}
