namespace Capture.Python;

/// <summary>
/// Runs a Python file as `__main__`, the way `python3 FILE.py ARGS...` does: sys.argv, sys.path[0] as
/// the script's folder, an absolute __file__, SystemExit honoured, and an uncaught exception printed
/// by sys.excepthook with exit code 1. Errors are reported to the user in Python's words, never as a
/// .NET stack trace.
/// </summary>
public static class ScriptRunner
{
    public const int CannotOpen = 2;

    /// <summary>Runs the script (interpreter started, GIL not held) and returns its exit code.</summary>
    public static int Run(string path, IReadOnlyList<string> args, TextWriter? error = null)
    {
        error ??= Console.Error;
        var fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
        {
            error.WriteLine($"capture: can't run '{fullPath}': it is a directory, not a Python file");
            return CannotOpen;
        }
        byte[] source;
        try
        {
            source = File.ReadAllBytes(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var reason = e is FileNotFoundException or DirectoryNotFoundException
                ? "[Errno 2] No such file or directory"
                : e.Message;
            error.WriteLine($"capture: can't open file '{fullPath}': {reason}");
            return CannotOpen;
        }

        return RunAsMain([path, .. args], ScriptFolder(fullPath), globals =>
        {
            using (var file = Py.Str(fullPath)) globals.SetItem("__file__", file);
            using (var none = Py.None) globals.SetItem("__cached__", none);
            Execute(source, fullPath, globals);
        });
    }

    /// <summary>`python3 -c CODE ARGS...`: sys.argv[0] is "-c", the current folder ('') first on sys.path.</summary>
    public static int RunCode(string code, IReadOnlyList<string> args) =>
        RunAsMain(["-c", .. args], "", globals => Execute(System.Text.Encoding.UTF8.GetBytes(code), "<string>", globals));

    /// <summary>
    /// `python3 -m MODULE ARGS...`: runpy finds the module (or a package's __main__) on sys.path, with
    /// the current folder first, sets sys.argv[0] to its file and runs it as __main__.
    /// </summary>
    public static int RunModule(string module, IReadOnlyList<string> args) =>
        RunAsMain(["-m", .. args], Directory.GetCurrentDirectory(), _ =>
        {
            using var runpy = Py.Import("runpy");
            using var name = Py.Str(module);
            runpy.CallMethod("_run_module_as_main", name).Dispose();
        });

    // Runs body with __main__'s dict (interpreter started, GIL not held): sys.argv and sys.path[0] set,
    // SystemExit and uncaught exceptions turned into the exit code python3 would give.
    private static int RunAsMain(IReadOnlyList<string> argv, string pathEntry, Action<PyObject> body)
    {
        using var gil = Interpreter.Gil();
        try
        {
            PrepareSys(argv, pathEntry);
            using var main = Py.Import("__main__");
            using var globals = main.GetAttr("__dict__");
            body(globals);
            return 0;
        }
        catch (PythonException e)
        {
            return ExitCodeOf(e);
        }
        finally
        {
            FlushStandardStreams();
        }
    }

    private static void PrepareSys(IReadOnlyList<string> argv, string pathEntry)
    {
        using var sys = Py.Import("sys");
        var argvItems = argv.Select(Py.Str).ToArray();
        using (var list = Py.List(argvItems)) sys.SetAttr("argv", list);
        foreach (var item in argvItems) item.Dispose();
        using var sysPath = sys.GetAttr("path");
        using var index = Py.Int(0);
        using var folder = Py.Str(pathEntry);
        sysPath.CallMethod("insert", index, folder).Dispose();
    }

    // CPython resolves a symlinked script to its target before taking the folder.
    private static string ScriptFolder(string fullPath)
    {
        var target = new FileInfo(fullPath).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? fullPath;
        return Path.GetDirectoryName(target) ?? "/";
    }

    private static void Execute(byte[] source, string filenameText, PyObject globals)
    {
        using var builtins = Py.Builtins;
        using var compile = builtins.GetAttr("compile");
        using var exec = builtins.GetAttr("exec");
        using var src = Py.Bytes(source); // bytes, so that a coding declaration is honoured
        using var filename = Py.Str(filenameText);
        using var mode = Py.Str("exec");
        using var code = compile.Call(src, filename, mode);
        exec.Call(code, globals).Dispose();
    }

    // Python's own rules (Modules/main.c): SystemExit(None) is 0, SystemExit(int) is that int,
    // SystemExit(other) prints it and is 1; anything else goes to sys.excepthook and is 1.
    private static int ExitCodeOf(PythonException e)
    {
        using var value = e.Value;
        if (e.PythonType == "SystemExit")
        {
            using var code = value.GetAttr("code");
            if (code.IsNone) return 0;
            if (code.IsInt) return (int)code.ToInt64();
            using var sys = Py.Import("sys");
            using var stderr = sys.GetAttr("stderr");
            using var text = Py.Str(code + "\n");
            stderr.CallMethod("write", text).Dispose();
            return 1;
        }
        PrintWithExceptHook(value);
        return e.PythonType == "KeyboardInterrupt" ? 130 : 1;
    }

    private static void PrintWithExceptHook(PyObject value)
    {
        using var sys = Py.Import("sys");
        using var hook = sys.GetAttr("excepthook");
        using var type = value.Type;
        using var traceback = value.GetAttr("__traceback__");
        try
        {
            hook.Call(type, value, traceback).Dispose();
        }
        catch (PythonException hookError)
        {
            Console.Error.WriteLine($"Error in sys.excepthook: {hookError.Message}\n{value.Repr()}");
        }
    }

    private static void FlushStandardStreams()
    {
        using var sys = Py.Import("sys");
        foreach (var name in new[] { "stdout", "stderr" })
        {
            try
            {
                using var stream = sys.GetAttr(name);
                if (!stream.IsNone) stream.CallMethod("flush").Dispose();
            }
            catch (PythonException)
            {
                // A closed or replaced stream is the script's business; nothing is lost by skipping it.
            }
        }
    }
}
