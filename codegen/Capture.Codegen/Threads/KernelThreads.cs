using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Capture.Codegen;

/// <summary>
/// The threads big kernels run on. Where torch's OpenMP runtime (libgomp) is loaded in the process, a
/// kernel runs as an OpenMP parallel region on the same thread team torch's own ops use
/// (GOMP_parallel, with the calling thread's thread count: what torch.set_num_threads set). A team of
/// our own beside torch's competed with it for the cores: after each torch op OpenMP's workers spin
/// for the next region (milliseconds), so a kernel of ours that followed ran its parts beside a
/// spinning thread on a machine of two cores, and our spinning workers slowed the torch op after it
/// (half of a compiled mobilenet_v2's CPU time was libgomp spinning). Without libgomp (no torch in the
/// process) the calling thread and <see cref="Workers"/> workers of our own (one less than the cores)
/// run them, spinning a while after a kernel for the next one before they sleep. Either way a kernel
/// is cut into parts that the threads take in turn (more parts than threads, so that a thread the OS
/// preempts leaves its share to the others). One kernel runs on the team at a time: a kernel started
/// while another runs (from a second thread) runs its parts on the caller alone.
/// </summary>
public static partial class KernelThreads
{
    /// <summary>
    /// How long a worker spins for the next kernel before it sleeps: as long as the kernel it last
    /// worked on took, within these bounds. Waking a sleeping worker costs 150-200 us here (median,
    /// from the release to its first part, with <see cref="Steer"/>; 1-2 ms without), so after a long
    /// kernel the worker spins 2 ms and joins the next one at once (OpenMP's threads spin about as
    /// long for torch). After a short kernel it spins briefly: spinning 2 ms there took a core from
    /// the OpenBLAS gemm that follows a gemm's epilogue (a GELU MLP's forward went from 10-12 ms to 14-19).
    /// </summary>
    private static readonly TimeSpan ShortestSpin = TimeSpan.FromMicroseconds(50), LongestSpin = TimeSpan.FromMilliseconds(2);

    private static readonly Lock Gate = new();
    private static readonly SemaphoreSlim Wake = new(0);
    private static Job? _job;
    private static int _sleeping, _parks;

    /// <summary>One kernel's parts: its body and the next part to take (a late worker takes from the job it read, never a newer one's).</summary>
    private sealed class Job(Action<int> body, int parts)
    {
        private readonly int _parts = parts;
        public readonly long Posted = Stopwatch.GetTimestamp();
        public int Next, Unfinished = parts;
        public Exception? Failure;

        public void TakeParts()
        {
            int part;
            while ((part = Interlocked.Increment(ref Next) - 1) < _parts)
            {
                try { body(part); }
                catch (Exception e) { Interlocked.CompareExchange(ref Failure, e, null); }
                Interlocked.Decrement(ref Unfinished);
            }
        }
    }

    /// <summary>The worker threads besides the caller.</summary>
    public static int Workers { get; } = Math.Max(0, Environment.ProcessorCount - 1);

    private static int _workersStarted;

    /// <summary>Starts our own workers, the first time a kernel runs without OpenMP.</summary>
    private static void StartWorkers()
    {
        if (Interlocked.Exchange(ref _workersStarted, 1) != 0) return;
        for (var i = 0; i < Workers; i++)
            new Thread(Work) { IsBackground = true, Name = $"capture kernels {i + 1}" }.Start();
    }

    /// <summary>Whether kernels run on OpenMP's team (libgomp is loaded: torch is imported).</summary>
    public static bool OnOpenMp => OpenMp.Parallel != 0;

    private static readonly LoadedLibrary Gomp = new("libgomp.so.1");

    /// <summary>libgomp's GOMP_parallel when the process has libgomp loaded.</summary>
    private static class OpenMp
    {
        private static nint _parallel;
        public static nint Parallel => _parallel != 0 ? _parallel : _parallel = Gomp.Export("GOMP_parallel");
    }

    private static Job? _openMpJob;

    /// <summary>The body of the OpenMP region each of the team's threads runs: take parts of the posted job.</summary>
    [UnmanagedCallersOnly]
    private static void OpenMpBody(nint data) => Volatile.Read(ref _openMpJob)?.TakeParts();

    private static unsafe void RunOnOpenMp(nint parallel, Job job)
    {
        Volatile.Write(ref _openMpJob, job);
        try
        {
            // num_threads 0: the calling thread's OpenMP thread count, which torch.set_num_threads sets
            ((delegate* unmanaged<delegate* unmanaged<nint, void>, nint, uint, uint, void>)parallel)(&OpenMpBody, 0, 0, 0);
        }
        finally { Volatile.Write(ref _openMpJob, null); }
    }

    /// <summary>
    /// Runs <paramref name="body"/> for parts 0 to <paramref name="parts"/> - 1 on the team, and returns
    /// when all have run (Ctrl-C is seen between kernels, not between parts: <c>Interpreter.ThrowIfInterrupted</c>).
    /// </summary>
    public static void For(int parts, Action<int> body)
    {
        var parallel = parts > 1 ? OpenMp.Parallel : 0;
        if (parts <= 1 || Workers == 0 && parallel == 0 || !Gate.TryEnter())
        {
            for (var i = 0; i < parts; i++) body(i);
            return;
        }
        try
        {
            if (parallel != 0)
            {
                var region = new Job(body, parts);
                RunOnOpenMp(parallel, region); // returns when every thread of the team is done
                if (region.Failure is { } error) throw new AggregateException(error);
                return;
            }
            StartWorkers();
            var job = new Job(body, parts);
            Volatile.Write(ref _job, job);
            // a worker that counted itself sleeping before this saw the job is woken; one that counts
            // itself after sees the job (both are full fences)
            var sleeping = Interlocked.Exchange(ref _sleeping, 0);
            if (sleeping > 0)
            {
                Steer();
                Wake.Release(sleeping);
            }
            job.TakeParts();
            var wait = new SpinWait();
            while (Volatile.Read(ref job.Unfinished) > 0) wait.SpinOnce(sleep1Threshold: -1);
            if (job.Failure is { } failure) throw new AggregateException(failure);
        }
        finally
        {
            Gate.Exit();
        }
    }

    [LibraryImport("libc")] private static partial int sched_getcpu();
    [LibraryImport("libc")] private static unsafe partial int sched_getaffinity(int tid, nint size, ulong* mask);
    [LibraryImport("libc")] private static unsafe partial int sched_setaffinity(int tid, nint size, ulong* mask);
    [LibraryImport("libc")] private static partial int gettid();

    private static readonly int[] WorkerIds = new int[Workers];
    private static int _started, _steeredFrom = -1;

    /// <summary>
    /// Keeps the workers off the caller's core before they are woken (Linux). Left to itself, Linux
    /// wakes a worker onto the waker's core, behind the caller, which runs the kernel's parts alone
    /// until the balancer moves one of them (1-2 ms, the median wake measured here); allowed only
    /// the other cores, the worker wakes on an idle one. Changes the workers' affinity only when
    /// the caller's core changed since the last time.
    /// </summary>
    private static unsafe void Steer()
    {
        if (!OperatingSystem.IsLinux()) return;
        var cpu = sched_getcpu();
        if (cpu < 0 || cpu == _steeredFrom || cpu >= 1024) return;
        var mask = stackalloc ulong[16];
        if (sched_getaffinity(0, 16 * sizeof(ulong), mask) != 0) return;
        mask[cpu / 64] &= ~(1UL << (cpu % 64));
        var others = false;
        for (var i = 0; i < 16; i++) others |= mask[i] != 0;
        if (!others) return; // the caller may use one core only: so may the workers
        foreach (var id in WorkerIds)
            if (id != 0) sched_setaffinity(id, 16 * sizeof(ulong), mask);
        _steeredFrom = cpu;
    }

    /// <summary>
    /// Sends spinning workers to sleep now: the caller is about to run work of other threads (an
    /// OpenBLAS gemm, a torch op), which a spinning worker would take a core from.
    /// </summary>
    public static void Park() => Interlocked.Increment(ref _parks);

    private static void Work()
    {
        if (OperatingSystem.IsLinux()) WorkerIds[Interlocked.Increment(ref _started) - 1] = gettid();
        Job? seen = null;
        var spin = ShortestSpin;
        while (true)
        {
            var started = Stopwatch.GetTimestamp();
            var parks = Volatile.Read(ref _parks);
            Job? job;
            while ((job = Volatile.Read(ref _job)) == seen)
            {
                if (Stopwatch.GetElapsedTime(started) < spin && Volatile.Read(ref _parks) == parks)
                {
                    Thread.SpinWait(20);
                    continue;
                }
                Interlocked.Increment(ref _sleeping);
                if (Volatile.Read(ref _job) == seen) Wake.Wait(); // a count left stale costs one spurious wake later
                started = Stopwatch.GetTimestamp();
                parks = Volatile.Read(ref _parks);
            }
            seen = job;
            job!.TakeParts();
            var took = Stopwatch.GetElapsedTime(job.Posted);
            spin = took < ShortestSpin ? ShortestSpin : took > LongestSpin ? LongestSpin : took;
        }
    }
}
