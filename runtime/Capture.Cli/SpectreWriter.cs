using Capture.Runtime.Reports;
using Spectre.Console;

namespace Capture.Cli;

/// <summary>Reports in a terminal: colour for line marks and headings, Spectre tables for summaries.</summary>
internal sealed class SpectreWriter(IAnsiConsole console) : IReportWriter
{
    /// <summary>Colour and tables when stdout is a terminal that takes them; plain text when piped (or NO_COLOR).</summary>
    public static bool TerminalWantsColour =>
        !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Ansi && Environment.GetEnvironmentVariable("NO_COLOR") is null;

    public void Write(string text, TextStyle style = TextStyle.Plain)
    {
        var colour = style switch
        {
            TextStyle.Heading => "bold",
            TextStyle.Captured => "green",
            TextStyle.Break => "red",
            TextStyle.Eager => "yellow",
            TextStyle.Refused => "magenta",
            TextStyle.Dim => "grey",
            TextStyle.Good => "green",
            TextStyle.Bad => "bold red",
            _ => null,
        };
        var escaped = Markup.Escape(text);
        console.Markup(colour is null ? escaped : $"[{colour}]{escaped}[/]");
    }

    public void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var header in headers) table.AddColumn(new TableColumn(Markup.Escape(header)));
        foreach (var row in rows) table.AddRow(row.Select(Markup.Escape).ToArray());
        console.Write(table);
    }
}
