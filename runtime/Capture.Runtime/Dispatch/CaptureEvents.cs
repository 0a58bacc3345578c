using Capture.Runtime.Compile;

namespace Capture.Runtime.Dispatch;

/// <summary>What the frame runner did, for explain reports and logs.</summary>
public abstract record CaptureEvent
{
    /// <summary>The code object of the frame it happened in (reports list its source).</summary>
    public CodeInfo? Code { get; init; }

    /// <summary>The backend and capture path of the runner it happened in.</summary>
    public string Backend { get; init; } = "";
    public CaptureMode Mode { get; init; }

    /// <summary>The runner it happened in (frames of different runners are reported apart) and what that runner is for.</summary>
    public int Runner { get; init; }
    public string Purpose { get; init; } = "compiled";

    /// <summary>
    /// A new capture (graph, guards, exit) and how long it took. A discarded one broke in a frame
    /// captured only as a whole: its break counts, its graph never runs.
    /// </summary>
    public sealed record Captured(string Function, CaptureResult Capture, TimeSpan CaptureTime, string? RecompileReason, bool Discarded = false) : CaptureEvent
    {
        /// <summary>The graph as the backend compiled it (null for a discarded capture).</summary>
        public ICompiledGraph? Compiled { get; init; }
    }

    /// <summary>A whole frame ran eagerly, and why.</summary>
    public sealed record RanEagerly(string Function, string Reason) : CaptureEvent;

    /// <summary>The AST path refused the function, with its diagnostics (raised to the caller too).</summary>
    public sealed record AstRefused(string Function, IReadOnlyList<Capture.Frontend.Diagnostic> Diagnostics) : CaptureEvent;

    /// <summary>A capture failed at an instruction, which then ran for real.</summary>
    public sealed record CaptureFailed(string Function, Instruction Instruction, string Reason) : CaptureEvent;
}

/// <summary>The two capture paths: CPython bytecode (symbolic execution with breaks) and the function's source (AST).</summary>
public enum CaptureMode { Bytecode, Ast }

/// <summary>Where a frame runner tells what it did: the session's log, an explain report, or both.</summary>
public interface ICaptureEventSink
{
    void Record(CaptureEvent e);
}

/// <summary>Every event to each of several sinks, in order.</summary>
public sealed class CaptureEventSinks(params ICaptureEventSink[] sinks) : ICaptureEventSink
{
    public void Record(CaptureEvent e)
    {
        foreach (var sink in sinks) sink.Record(e);
    }
}

/// <summary>What one call through a frame runner asks for.</summary>
/// <param name="FullGraph">The first graph break is an error naming its reason and line (capture.compile(fullgraph=True)).</param>
/// <param name="Dynamic">Which input dims captures make symbolic (capture.compile(dynamic=None/True/False)).</param>
public readonly record struct CallOptions(bool FullGraph = false, DynamicMode Dynamic = DynamicMode.Automatic);
