using Capture.Runtime.Dispatch;

namespace Capture.Runtime.Reports;

/// <summary>
/// Every capture event of a session, from every runner (compiled functions, explain, compare), for
/// capture.report(path) after a run; and the live log CAPTURE_LOGS asks for, printed as each event
/// happens.
/// </summary>
public sealed class EventLog : ICaptureEventSink
{
    /// <summary>Enough for any real session; the oldest go first (a report says when some were dropped).</summary>
    public const int MaxEvents = 5000;

    private readonly Lock _gate = new();
    private readonly List<CaptureEvent> _events = [];
    private LiveLog? _live;

    /// <summary>How many events were dropped because the log was full.</summary>
    public int Dropped { get; private set; }

    public void Record(CaptureEvent e)
    {
        LiveLog live;
        lock (_gate)
        {
            if (_events.Count == MaxEvents)
            {
                _events.RemoveAt(0);
                Dropped++;
            }
            _events.Add(e);
            live = _live ??= LiveLog.FromEnvironment(Environment.GetEnvironmentVariable("CAPTURE_LOGS"), PythonStderr.Instance);
        }
        live.Write(e);
    }

    /// <summary>The events so far, oldest first.</summary>
    public IReadOnlyList<CaptureEvent> Events
    {
        get { lock (_gate) return _events.ToList(); }
    }

    /// <summary>Forgets the events (the interpreter is stopping: they hold Python objects).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _events.Clear();
            Dropped = 0;
        }
    }

    /// <summary>Logs to <paramref name="live"/> as events happen (tests; CAPTURE_LOGS otherwise).</summary>
    public void SetLive(LiveLog? live)
    {
        lock (_gate) _live = live;
    }
}
