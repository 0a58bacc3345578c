using Capture.Runtime;

namespace Capture.Runtime.Tests;

/// <summary>This test process's Capture session (interpreter + native module), started on first use.</summary>
public static class TestSession
{
    private static readonly Lazy<CaptureSession> Session = new(CaptureSession.Start);

    public static CaptureSession Current => Session.Value;
}

/// <summary>Starts Capture's runtime once for this test process.</summary>
public sealed class RuntimeFixture
{
    public RuntimeFixture() => _ = TestSession.Current;
}

[CollectionDefinition("Python", DisableParallelization = true)]
public sealed class PythonCollection : ICollectionFixture<RuntimeFixture>;
