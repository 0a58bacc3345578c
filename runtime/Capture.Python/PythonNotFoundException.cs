namespace Capture.Python;

/// <summary>libpython3.11 could not be loaded; the message names the Debian package to install.</summary>
public sealed class PythonNotFoundException(string message) : Exception(message);
