using Capture.Python;
using Capture.Runtime;

namespace Capture.Cli;

/// <summary>
/// The entries a command works on: a pyexamples file's EXAMPLES, or, for an ordinary script, the
/// compiled functions its run called, each with the arguments of its first call (runtime/python/
/// capture/_calls.py records them while the script runs). "FILE.py::fn" picks one by name.
/// </summary>
internal static class ScriptEntries
{
    /// <summary>
    /// The entries of <paramref name="spec"/>; for a script, runs it first with <paramref name="scriptArgs"/>.
    /// Null when the script failed (its exit code in <paramref name="exitCode"/>, the error printed).
    /// </summary>
    public static IReadOnlyList<ExampleEntry>? Load(string command, string spec, IReadOnlyList<string> scriptArgs, out int exitCode)
    {
        exitCode = 0;
        var separator = spec.IndexOf("::", StringComparison.Ordinal);
        var file = separator < 0 ? spec : spec[..separator];
        var only = separator < 0 ? null : spec[(separator + 2)..];
        if (!File.Exists(file) || ExampleFile.HasExamples(file)) return ExampleFile.Load(spec);
        using (Interpreter.Gil())
        using (var calls = Py.Import("capture._calls"))
            calls.CallMethod("start").Dispose();
        exitCode = ScriptRunner.Run(file, scriptArgs);
        if (exitCode != 0)
        {
            Console.Error.WriteLine($"capture {command}: {file} exited with status {exitCode}");
            return null;
        }
        using var gil = Interpreter.Gil();
        using var module = Py.Import("capture._calls");
        using var find = module.GetAttr("find");
        using var none = Py.None;
        using var all = find.Call(none);
        var names = all.ToItems().Select(c => { using (c) using (var n = c.GetItem(0)) return n.AsString(); }).ToList();
        using var name = only is null ? Py.None : Py.Str(only);
        using var found = find.Call(name);
        var entries = found.ToItems().Select(c =>
        {
            using (c)
            using (var n = c.GetItem(0))
                return new ExampleEntry(n.AsString(), c.GetItem(1), c.GetItem(2), c.GetItem(3));
        }).ToList();
        if (entries.Count > 0) return entries;
        throw new ExampleFileException(names.Count == 0
            ? $"{file} has no EXAMPLES dict and its run called no compiled function: compile one (capture.compile) or add EXAMPLES = {{\"fn_name\": lambda: (args...)}}"
            : $"the run of {file} called no compiled function named '{only}' (it called: {string.Join(", ", names)})");
    }
}
