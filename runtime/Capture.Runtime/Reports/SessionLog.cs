using Capture.Runtime.Dispatch;

namespace Capture.Runtime.Reports;

/// <summary>
/// Every capture event of this process, from every runner (compiled functions, explain, compare),
/// for capture.report(path) after a run; and the live log CAPTURE_LOGS asks for, printed as each
/// event happens.
/// </summary>
public static class SessionLog
{
    /// <summary>Enough for any real session; the oldest go first (a report says when some were dropped).</summary>
    public const int MaxEvents = 5000;

    private static readonly Lock Gate = new();
    private static readonly List<CaptureEvent> _events = [];
    private static LiveLog? _live;

    /// <summary>How many events were dropped because the log was full.</summary>
    public static int Dropped { get; private set; }

    public static void Record(CaptureEvent e)
    {
        lock (Gate)
        {
            if (_events.Count == MaxEvents)
            {
                _events.RemoveAt(0);
                Dropped++;
            }
            _events.Add(e);
            _live ??= LiveLog.FromEnvironment(Environment.GetEnvironmentVariable("CAPTURE_LOGS"), Console.Error);
        }
        _live.Write(e);
    }

    /// <summary>The events so far, oldest first.</summary>
    public static IReadOnlyList<CaptureEvent> Events
    {
        get { lock (Gate) return _events.ToList(); }
    }

    /// <summary>Forgets the events (the interpreter is stopping: they hold Python objects).</summary>
    public static void Clear()
    {
        lock (Gate)
        {
            _events.Clear();
            Dropped = 0;
        }
    }

    /// <summary>Logs to <paramref name="writer"/> as events happen (tests; CAPTURE_LOGS otherwise).</summary>
    public static void SetLive(LiveLog? live)
    {
        lock (Gate) _live = live;
    }
}
