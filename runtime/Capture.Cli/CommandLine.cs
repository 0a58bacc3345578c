using Capture.Python;
using Capture.Runtime;

namespace Capture.Cli;

/// <summary>
/// The `capture` command. `./capture` (the shell script at the repository root) installs what is
/// missing, builds, and handles `test`; everything else lands here.
/// </summary>
public static class CommandLine
{
    public const int UsageError = 2;
    public const int InternalError = 70;

    private const string Usage = """
        usage: capture <command> [arguments]

        commands:
          run FILE.py [ARGS...]   run a Python script with `import capture` available
          run -m MODULE [ARGS...] run a module as python3.11 -m does (pytest: run -m pytest)
          run -c CODE [ARGS...]   run code as python3.11 -c does
          explain FILE.py[::FN] [--verbose] [-- ARGS]
                                  capture a pyexamples file's functions and explain graphs, breaks, guards
                                  (a summary; --verbose: the annotated source, each graph, every guard);
                                  a script without EXAMPLES runs with ARGS and every frame it compiled is explained
          compare FILE.py[::FN] [--json] [--backend B] [-- ARGS]
                                  capture them through the AST path and the bytecode path and show both
                                  side by side (graphs, control flow, breaks vs diagnostics, guards, results),
                                  with what torch.jit.script does with the same function
                                  a script without EXAMPLES runs with ARGS; each compiled function it called
                                  (or FN) is captured on the arguments of its first call (explain, graph too)
          graph FILE.py::FN [--format tabular|code|json|dot|csharp|llvm|asm] [--stage captured|optimized|forward|backward|joint]
                [--backend B] [--mode ast|bytecode] [--passes] [-- ARGS]
                                  print the graphs captured from one function (--mode ast: by the AST path; optimized: what
                                  the backend runs, after its optimizer, with its fusion groups (roslyn unless --backend);
                                  --passes: what each pass changed; forward|backward|joint: the AOT autograd graphs, with
                                  the saved values)
          report FILE.py[::FN] [-o OUT.html] [--compare] [--backend B] [-- ARGS]
                                  run the file (with ARGS), explain its EXAMPLES (a script without them: every
                                  frame its run compiled), and write one self-contained HTML report
                                  (annotated source, graphs as code and pictures, guards with the lines behind
                                  them, breaks, recompiles, generated code, timings; --compare: AST vs bytecode)
          bench [--quick] [--models] [--replot]
                                  time compiled functions against eager PyTorch and TorchScript, and what compiling
                                  costs (writes bench/results.md, .json, .png), then whole models, one process per
                                  backend (--models: only those; bench/models.md, .json, .png); kernels compile
                                  from scratch unless CAPTURE_CACHE is set; the charts: ratios with IQR error bars,
                                  first calls and start-up (--replot: redraw them from the JSON, no measuring)
          soak [--calls N] [--backend B]
                                  a long run mixing shapes, raising calls, graph breaks and resets; prints
                                  memory and input refcounts every 100,000 calls (they must stay flat)
          fuzz N [--seed S] [--backend B]
                                  N random programs run compiled and eagerly, outputs and gradients compared,
                                  per backend; a failure prints its seed (--seed S replays it)
          test                    run the test suite (handled by ./capture)

        environment:
          CAPTURE_LOGS=graph,guards,breaks,recompiles,code,perf (or all)
                                  print each of these to stderr as it happens, in any command
          version                 print versions of Capture, .NET and the Python library
          help                    show this message
        """;

    /// <summary>The bench compiles from scratch: first calls and compile times do not come from the kernel cache.</summary>
    private static int Bench(string[] options)
    {
        if (Environment.GetEnvironmentVariable("CAPTURE_CACHE") is null) Environment.SetEnvironmentVariable("CAPTURE_CACHE", "0");
        return Run(Path.Combine(CapturePaths.Root, "bench", "bench.py"), options);
    }

    public static int Execute(string[] args)
    {
        try
        {
            return args switch
            {
                [] => UsageFailure("capture: no command given"),
                ["run"] => UsageFailure("capture run: missing the script to run (capture run FILE.py [ARGS...])"),
                ["run", "-m"] or ["run", "-c"] => UsageFailure($"capture run {args[1]}: argument expected (capture run -m MODULE [ARGS...], capture run -c CODE [ARGS...])"),
                ["run", "-m", var module, .. var rest] => InSession(_ => ScriptRunner.RunModule(module, rest)),
                ["run", "-c", var code, .. var rest] => InSession(_ => ScriptRunner.RunCode(code, rest)),
                ["run", var file, .. var rest] => Run(file, rest),
                ["explain", var spec, .. var options] when !spec.StartsWith('-') => InSession(session => ExampleCommands.Explain(session, spec, options)),
                ["graph", var spec, .. var options] when !spec.StartsWith('-') => InSession(session => ExampleCommands.Graph(session, spec, options)),
                ["compare", var spec, .. var options] when !spec.StartsWith('-') => InSession(session => ExampleCommands.Compare(session, spec, options)),
                ["report", var spec, .. var options] when !spec.StartsWith('-') => InSession(session => ReportCommand.Run(session, spec, options)),
                ["explain" or "graph" or "compare" or "report", ..] => UsageFailure($"capture {args[0]}: expected a pyexamples file (FILE.py or FILE.py::FUNC)"),
                ["bench", .. var rest] => Bench(rest),
                ["soak", .. var rest] => Run(Path.Combine(CapturePaths.Root, "tools", "soak.py"), rest),
                ["fuzz", .. var rest] => Run(Path.Combine(CapturePaths.Root, "tools", "fuzz.py"), rest),
                ["version" or "--version"] => PrintVersion(),
                ["help" or "--help" or "-h"] => PrintUsage(),
                [var command, ..] => UsageFailure($"capture: unknown command '{command}'"),
            };
        }
        catch (PythonException e)
        {
            // an error in the user's file or functions: Python's own words
            Console.Error.Write(e.PythonTraceback.Length > 0 ? e.PythonTraceback : e.Message + "\n");
            return 1;
        }
        catch (Capture.Frontend.AstCaptureException e)
        {
            // the AST path refused a function: its diagnostics, with the user's lines
            Console.Error.WriteLine($"capture: {e.Message}");
            return 1;
        }
        catch (ExampleFileException e)
        {
            Console.Error.WriteLine($"capture: {e.Message}");
            return 1;
        }
        catch (PythonNotFoundException e)
        {
            Console.Error.WriteLine($"capture: {e.Message}");
            return InternalError;
        }
        catch (Exception e)
        {
            // A bug in Capture itself: say so plainly; the .NET trace only when asked for.
            Console.Error.WriteLine($"capture: internal error: {e.GetType().Name}: {e.Message}");
            if (Environment.GetEnvironmentVariable("CAPTURE_DEBUG") is { Length: > 0 }) Console.Error.WriteLine(e);
            else Console.Error.WriteLine("capture: set CAPTURE_DEBUG=1 for the .NET stack trace");
            return InternalError;
        }
    }

    private static int Run(string file, string[] scriptArgs) => InSession(_ => ScriptRunner.Run(file, scriptArgs));

    /// <summary>Runs a command in a new session, then stops the interpreter (atexit handlers, flush).</summary>
    private static int InSession(Func<CaptureSession, int> command)
    {
        var session = CaptureSession.Start();
        int code;
        try { code = command(session); }
        catch
        {
            session.Stop();
            throw;
        }
        // Python exits with 120 when flushing its buffers at shutdown fails (Modules/main.c).
        var flushed = session.Stop();
        return code == 0 && !flushed ? 120 : code;
    }

    private static int PrintVersion()
    {
        Console.WriteLine($"capture {CaptureSession.Version}");
        Console.WriteLine($".NET {Environment.Version}");
        Console.WriteLine($"libpython {Interpreter.LibraryPath}");
        return 0;
    }

    private static int PrintUsage()
    {
        Console.WriteLine(Usage);
        return 0;
    }

    private static int UsageFailure(string message)
    {
        Console.Error.WriteLine(message);
        Console.Error.WriteLine(Usage);
        return UsageError;
    }
}
