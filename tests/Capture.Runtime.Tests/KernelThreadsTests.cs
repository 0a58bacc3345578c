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
