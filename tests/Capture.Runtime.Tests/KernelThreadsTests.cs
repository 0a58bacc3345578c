using System.Runtime.InteropServices;
using Capture.Codegen;

namespace Capture.Runtime.Tests;

// The kernels' thread team: every part runs once per call, a part's exception reaches the caller,
// and calls from several threads at once (the GIL is released while kernels run) each complete.
public class KernelThreadsTests
{
    [Fact]
    public void EveryPartRunsOncePerCallAcrossManyCalls()
    {
        for (var call = 0; call < 2000; call++)
        {
            var parts = 1 + call % 13;
            var runs = new int[parts];
            KernelThreads.For(parts, p => Interlocked.Increment(ref runs[p]));
            Assert.All(runs, r => Assert.Equal(1, r));
            if (call % 100 == 0) Thread.Sleep(1); // let the workers go to sleep now and then
        }
    }

    [Fact]
    public void APartsExceptionReachesTheCallerAfterTheOtherPartsRan()
    {
        var runs = 0;
        var error = Assert.Throws<AggregateException>(() => KernelThreads.For(8, p =>
        {
            Interlocked.Increment(ref runs);
            if (p == 3) throw new InvalidOperationException("part 3");
        }));
        Assert.Equal("part 3", Assert.IsType<InvalidOperationException>(error.InnerException).Message);
        Assert.Equal(8, runs);
        var after = 0;
        KernelThreads.For(4, _ => Interlocked.Increment(ref after)); // the team still works
        Assert.Equal(4, after);
    }

    [Fact]
    public void CallsFromSeveralThreadsAtOnceEachComplete()
    {
        var totals = new long[4];
        var threads = Enumerable.Range(0, totals.Length).Select(t => new Thread(() =>
        {
            for (var call = 0; call < 300; call++)
                KernelThreads.For(8, p => Interlocked.Add(ref totals[t], p + 1));
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.All(totals, total => Assert.Equal(300L * 36, total));
    }
}

// With torch imported (it loads libgomp), kernels run as OpenMP regions on torch's own thread team:
// each part sees its OpenMP thread number, and the team's threads all take parts (a team of our own
// would report thread 0 for every part: its threads are not OpenMP's).
[Collection("Python")]
public partial class KernelsOnTorchsThreadsTests
{
    [LibraryImport("libgomp.so.1")] private static partial int omp_get_thread_num();
    [LibraryImport("libgomp.so.1")] private static partial int omp_get_max_threads();

    [Fact]
    public void WithTorchImportedKernelsRunOnItsOpenMpTeam()
    {
        using (Capture.Python.Interpreter.Gil()) _ = TestSession.Current.Torch; // imports torch
        Assert.True(SpinWait.SpinUntil(() => KernelThreads.OnOpenMp, TimeSpan.FromSeconds(3)), "libgomp not found after importing torch");
        var team = omp_get_max_threads();
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var runs = new int[8];
        KernelThreads.For(8, p =>
        {
            seen[omp_get_thread_num()] = 1;
            Interlocked.Increment(ref runs[p]);
            Thread.Sleep(5);
        });
        Assert.All(runs, r => Assert.Equal(1, r));
        Assert.Equal(Math.Min(team, 8), seen.Count);
    }
}
