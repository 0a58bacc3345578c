using Capture.Runtime;

namespace Capture.Runtime.Tests;

/// <summary>Starts Capture's runtime (interpreter + native module) once for this test process.</summary>
public sealed class RuntimeFixture
{
    public RuntimeFixture() => CaptureRuntime.Start();
}

[CollectionDefinition("Python", DisableParallelization = true)]
public sealed class PythonCollection : ICollectionFixture<RuntimeFixture>;
