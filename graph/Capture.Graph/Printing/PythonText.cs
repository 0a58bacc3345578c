namespace Capture.Graphs;

/// <summary>Text as Python writes it, for everything Capture prints that a user may read back as Python.</summary>
public static class PythonText
{
    /// <summary>A string as Python's repr writes it in single quotes, escapes and all ('a\nb').</summary>
    public static string Quoted(string text)
    {
        var quoted = new System.Text.StringBuilder("'");
        foreach (var c in text)
            quoted.Append(c switch
            {
                '\\' => "\\\\", '\'' => "\\'", '\n' => "\\n", '\r' => "\\r", '\t' => "\\t",
                _ when char.IsControl(c) => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        return quoted.Append('\'').ToString();
    }
}
