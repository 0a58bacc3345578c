using System.Text;

namespace Capture.Python;

/// <summary>
/// A writer onto Python's <c>sys.stderr</c> (looked up at each write), for what Capture prints while
/// Python runs: in Jupyter it reaches the notebook, under pytest its capture, wherever the user sent
/// stderr, as Python's own warnings do. Falls back to the process's stderr when the interpreter is
/// not running or sys.stderr is None.
/// </summary>
public sealed class PythonStderr : TextWriter
{
    public static PythonStderr Instance { get; } = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value) => Write(value.ToString());

    public override void Write(string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        if (!Interpreter.IsRunning)
        {
            Console.Error.Write(value);
            return;
        }
        using var gil = Interpreter.Gil();
        using var sys = Py.Import("sys");
        using var stderr = sys.GetAttr("stderr");
        if (stderr.IsNone)
        {
            Console.Error.Write(value);
            return;
        }
        using var text = Py.Str(value);
        stderr.CallMethod("write", text).Dispose();
    }

    public override void WriteLine(string? value) => Write((value ?? "") + "\n");
}
