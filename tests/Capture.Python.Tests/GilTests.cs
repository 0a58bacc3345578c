namespace Capture.Python.Tests;

[Collection("Python")]
public sealed class GilTests
{
    [Fact]
    public void ManyCSharpThreadsCallPythonCorrectly()
    {
        PyObject ns;
        using (Interpreter.Gil()) ns = Py.Exec("counts = []\ndef bump(i):\n    counts.append(i)\n");
        const int threads = 8, perThread = 500;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            for (var i = 0; i < perThread; i++)
            {
                using var gil = Interpreter.Gil();
                using var nested = Interpreter.Gil(); // nesting on one thread is allowed
                using var bump = ns.GetItem("bump");
                using var value = Py.Int(t * perThread + i);
                bump.Call(value).Dispose();
            }
        });
        using (Interpreter.Gil())
        {
            using var counts = ns.GetItem("counts");
            var all = counts.ToInt64List().Order().ToArray();
            Assert.Equal(Enumerable.Range(0, threads * perThread).Select(i => (long)i), all);
            ns.Dispose();
        }
    }

    // A Python thread can only run while this thread gives the GIL away: the wait below succeeds
    // only if ReleaseGil really releases it (holding it would deadlock until the timeout).
    [Fact]
    public void ReleasingTheGilLetsPythonThreadsRun()
    {
        using var started = new ManualResetEventSlim();
        using var gil = Interpreter.Gil();
        // The thread sleeps first (giving the GIL away), so it needs the GIL back while this thread waits.
        using var ns = Py.Exec("import time\ndef spin(signal):\n    time.sleep(0.2)\n    total = sum(range(100000))\n    signal()\n");
        using var signal = PyFunction.Create("signal", (_, _) => { started.Set(); return Py.None; });
        using var spin = ns.GetItem("spin");
        using var threading = Py.Import("threading");
        using var threadType = threading.GetAttr("Thread");
        using var args = Py.Tuple(signal);
        using var thread = threadType.Call([], [new("target", spin), new("args", args)]);
        thread.CallMethod("start").Dispose();
        bool ran;
        using (Interpreter.ReleaseGil()) ran = started.Wait(TimeSpan.FromSeconds(5));
        thread.CallMethod("join").Dispose();
        Assert.True(ran);
    }

    [Fact]
    public void HoldsGilReflectsTheCurrentThread()
    {
        Assert.False(Interpreter.HoldsGil);
        using (Interpreter.Gil()) Assert.True(Interpreter.HoldsGil);
        Assert.False(Interpreter.HoldsGil);
    }

    [Fact]
    public void DroppedHandlesAreReleasedByTheFinalizerQueue()
    {
        using var gil = Interpreter.Gil();
        using var probe = Py.Str("tracked by refcount only");
        var before = probe.RefCount;
        Leak(probe);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using (Interpreter.Gil()) { } // taking the GIL drains the deferred releases
        Assert.Equal(before, probe.RefCount);
    }

    private static void Leak(PyObject o)
    {
        for (var i = 0; i < 10; i++) _ = o.NewReference(); // never disposed
    }
}
