using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Capture.EndToEnd.Tests;

/// <summary>
/// Debian's chromium, headless, driven over the DevTools protocol: opens a page, records every
/// request the page makes (Network.requestWillBeSent, the page's own document included), and
/// evaluates JavaScript in it. One browser per instance, with a throwaway profile.
/// </summary>
public sealed partial class HeadlessChromium : IAsyncDisposable
{
    public const string Executable = "/usr/bin/chromium";

    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly Dictionary<int, TaskCompletionSource<JsonNode>> _pending = [];
    private readonly List<JsonNode> _events = [];
    private readonly CancellationTokenSource _stop = new();
    private int _nextId;
    private Task? _reader;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    public static async Task<HeadlessChromium> StartAsync()
    {
        if (!File.Exists(Executable)) throw new InvalidOperationException($"{Executable} is missing: install Debian's chromium (./capture installs it)");
        var profile = Directory.CreateTempSubdirectory("capture-chromium-").FullName;
        var start = new ProcessStartInfo(Executable) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update", "--remote-debugging-port=0",
                     $"--user-data-dir={profile}", "about:blank" })
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        var browser = new HeadlessChromium(process, profile);
        var endpoint = await Task.Run(() =>
        {
            // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
            while (process.StandardError.ReadLine() is { } line)
                if (DevTools().Match(line) is { Success: true } m) return m.Groups[1].Value;
            return null;
        }).WaitAsync(TimeSpan.FromSeconds(60));
        if (endpoint is null) throw new InvalidOperationException("chromium exited without a DevTools endpoint");
        _ = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        await browser._socket.ConnectAsync(new Uri(endpoint), CancellationToken.None);
        browser._reader = browser.ReadLoop();
        return browser;
    }

    /// <summary>
    /// Opens <paramref name="url"/> in a new tab (a window of <paramref name="width"/> x <paramref name="height"/>
    /// CSS pixels when given: a laptop screen is 1366 x 768) and waits for its load event; returns the tab's session.
    /// </summary>
    public async Task<string> OpenAsync(string url, int? width = null, int? height = null)
    {
        var target = await SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" });
        var attached = await SendAsync("Target.attachToTarget", new JsonObject { ["targetId"] = target["targetId"]!.GetValue<string>(), ["flatten"] = true });
        var session = attached["sessionId"]!.GetValue<string>();
        await SendAsync("Network.enable", new JsonObject(), session);
        await SendAsync("Page.enable", new JsonObject(), session);
        await SendAsync("Runtime.enable", new JsonObject(), session);
        await SendAsync("Log.enable", new JsonObject(), session);
        if (width is { } w && height is { } h)
            await SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = w, ["height"] = h, ["deviceScaleFactor"] = 1, ["mobile"] = false }, session);
        var loaded = WaitForEvent("Page.loadEventFired", session);
        await SendAsync("Page.navigate", new JsonObject { ["url"] = url }, session);
        await loaded.WaitAsync(TimeSpan.FromSeconds(60));
        await Task.Delay(500); // late requests (images decoded after load) still show up
        return session;
    }

    /// <summary>Every URL the page of <paramref name="session"/> requested, its own document first.</summary>
    public IReadOnlyList<string> Requests(string session)
    {
        lock (_events)
            return _events.Where(e => e["method"]?.GetValue<string>() == "Network.requestWillBeSent" && e["sessionId"]?.GetValue<string>() == session)
                .Select(e => e["params"]!["request"]!["url"]!.GetValue<string>()).ToList();
    }

    /// <summary>
    /// Every error the page of <paramref name="session"/> reported: uncaught exceptions, console.error,
    /// and the browser's own error entries (a script refused by the page's Content-Security-Policy, a failed load).
    /// </summary>
    public IReadOnlyList<string> Errors(string session)
    {
        lock (_events)
            return _events.Where(e => e["sessionId"]?.GetValue<string>() == session).Select(e => (e["method"]?.GetValue<string>(), e["params"])).Where(e =>
                    e.Item1 == "Runtime.exceptionThrown"
                    || (e.Item1 == "Runtime.consoleAPICalled" && e.Item2?["type"]?.GetValue<string>() == "error")
                    || (e.Item1 == "Log.entryAdded" && e.Item2?["entry"]?["level"]?.GetValue<string>() == "error"))
                .Select(e => $"{e.Item1}: {e.Item2?.ToJsonString()}").ToList();
    }

    /// <summary>What the tab shows now (its window, at the current scroll), as PNG.</summary>
    public async Task<byte[]> ScreenshotAsync(string session)
    {
        var shot = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png" }, session);
        return Convert.FromBase64String(shot["data"]!.GetValue<string>());
    }

    /// <summary>The value of a JavaScript expression in the page (returned by value).</summary>
    public async Task<JsonNode?> EvaluateAsync(string session, string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true }, session);
        if (result["exceptionDetails"] is { } error) throw new InvalidOperationException($"JavaScript failed: {error.ToJsonString()}");
        return result["result"]!["value"];
    }

    private async Task<JsonNode> SendAsync(string method, JsonObject parameters, string? session = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters };
        if (session is not null) message["sessionId"] = session;
        var done = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_pending) _pending[id] = done;
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
        var reply = await done.Task.WaitAsync(TimeSpan.FromSeconds(60));
        if (reply["error"] is { } error) throw new InvalidOperationException($"{method} failed: {error.ToJsonString()}");
        return reply["result"]!;
    }

    private Task WaitForEvent(string method, string session)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waiters) _waiters.Add((method, session, seen));
        return seen.Task;
    }

    private readonly List<(string Method, string Session, TaskCompletionSource Done)> _waiters = [];

    private async Task ReadLoop()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested && _socket.State == WebSocketState.Open)
            {
                var part = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (part.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, part.Count);
                if (!part.EndOfMessage) continue;
                var node = JsonNode.Parse(message.ToArray())!;
                message.SetLength(0);
                if (node["id"] is { } id)
                {
                    TaskCompletionSource<JsonNode>? done;
                    lock (_pending) _pending.Remove(id.GetValue<int>(), out done);
                    done?.TrySetResult(node);
                    continue;
                }
                lock (_events) _events.Add(node);
                var method = node["method"]?.GetValue<string>();
                var session = node["sessionId"]?.GetValue<string>();
                List<(string Method, string Session, TaskCompletionSource Done)> matched;
                lock (_waiters) matched = _waiters.Where(w => w.Method == method && w.Session == session).ToList();
                foreach (var w in matched) w.Done.TrySetResult();
            }
        }
        catch (OperationCanceledException) { }
        catch (WebSocketException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        if (_reader is not null) await Task.WhenAny(_reader, Task.Delay(2000));
        _socket.Dispose();
        _process.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [GeneratedRegex(@"DevTools listening on (ws://\S+)")]
    private static partial Regex DevTools();
}
