namespace Capture.Cli;

/// <summary>A command's options after its positional arguments: flags (--json) and options that take a value (--backend B).</summary>
internal sealed class CommandOptions
{
    private readonly HashSet<string> _flags = [];
    private readonly Dictionary<string, string> _values = [];

    /// <summary>
    /// Parses <paramref name="args"/> knowing <paramref name="flags"/> and <paramref name="valued"/>
    /// (aliases as "-o|--output"); null with <paramref name="error"/> naming the first unknown option
    /// and the known ones (<paramref name="known"/>: "--json, --backend B").
    /// </summary>
    public static CommandOptions? Parse(string command, IReadOnlyList<string> args, string[] flags, string[] valued, string known, out string? error)
    {
        var options = new CommandOptions();
        string? Canonical(string arg, string[] names) =>
            names.FirstOrDefault(n => n.Split('|').Contains(arg)) is { } known ? known.Split('|')[^1] : null;
        for (var i = 0; i < args.Count; i++)
        {
            if (Canonical(args[i], flags) is { } flag) options._flags.Add(flag);
            else if (Canonical(args[i], valued) is { } name && i + 1 < args.Count) options._values[name] = args[++i];
            else
            {
                error = $"capture {command}: unknown option '{args[i]}' ({known})";
                return null;
            }
        }
        error = null;
        return options;
    }

    public bool Has(string flag) => _flags.Contains(flag);

    public string? Value(string name) => _values.GetValueOrDefault(name);
}
