using Capture.Python;

namespace Capture.Python.Tests;

/// <summary>Starts the process's one interpreter; Python tests share it in one non-parallel collection.</summary>
public sealed class InterpreterFixture
{
    public InterpreterFixture() => Interpreter.Start();
}

[CollectionDefinition("Python", DisableParallelization = true)]
public sealed class PythonCollection : ICollectionFixture<InterpreterFixture>;
