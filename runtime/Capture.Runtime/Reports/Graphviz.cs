using System.Diagnostics;

namespace Capture.Runtime.Reports;

/// <summary>Graphviz's `dot` (Debian package graphviz) turning DOT text into SVG for inline use.</summary>
public static class Graphviz
{
    /// <summary>The SVG element (no XML prolog or DOCTYPE, ready to inline), or null with the reason when dot cannot run.</summary>
    public static string? ToSvg(string dot, out string? failure)
    {
        failure = null;
        var start = new ProcessStartInfo("dot", "-Tsvg")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        Process? process;
        try { process = Process.Start(start); }
        catch (System.ComponentModel.Win32Exception)
        {
            failure = "Graphviz `dot` is not installed (Debian package graphviz): the graph is shown as DOT text";
            return null;
        }
        if (process is null)
        {
            failure = "Graphviz `dot` could not be started";
            return null;
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(dot);
            process.StandardInput.Close();
            if (!process.WaitForExit(30_000))
            {
                process.Kill(entireProcessTree: true);
                failure = "Graphviz `dot` took more than 30 s on this graph";
                return null;
            }
            if (process.ExitCode != 0)
            {
                failure = $"Graphviz `dot` failed: {errors.Result.Trim()}";
                return null;
            }
            var svg = output.Result;
            var at = svg.IndexOf("<svg", StringComparison.Ordinal);
            return at < 0 ? null : svg[at..];
        }
    }
}
