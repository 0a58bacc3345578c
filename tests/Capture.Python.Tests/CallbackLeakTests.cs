namespace Capture.Python.Tests;

// A C# callback called 100,000 times from Python must leave every reference count where it was:
// the arguments' counts, Python's allocated block count, and the process's resident memory.
[Collection("Python")]
public sealed class CallbackLeakTests
{
    private const int Calls = 100_000;

    private const string Loop = """
        import gc, sys
        sentinel = object()

        def run(n):
            result = None
            for i in range(n):
                result = fn(sentinel, "x" * (i % 7), i, key=float(i))
            return result

        def run_failing(n):
            for i in range(n):
                try:
                    failing(sentinel, i)
                except ValueError:
                    pass

        def measure(loop, n):
            loop(1000)  # warm caches and free lists first
            gc.collect()
            refs, blocks = sys.getrefcount(sentinel), sys.getallocatedblocks()
            loop(n)
            gc.collect()
            return sys.getrefcount(sentinel) - refs, sys.getallocatedblocks() - blocks
        """;

    [Fact]
    public void ReturningCallbackLeaksNoReferences()
    {
        var (refDelta, blockDelta, rssDelta) = Measure("run", (args, kwargs) =>
        {
            // Touch every argument and build a new result, as real callbacks do.
            using var first = args.GetItem(0);
            using var text = args.GetItem(1);
            using var index = args.GetItem(2);
            using var key = kwargs!.GetItem("key");
            using var sum = Py.Float(index.ToInt64() + key.ToDouble());
            return Py.Tuple(first, text, sum);
        });
        Assert.Equal(0, refDelta);
        Assert.InRange(blockDelta, -1000, 1000); // one leaked object per call would be >= 100,000
        Assert.InRange(rssDelta, long.MinValue, 16L << 20);
    }

    [Fact]
    public void RaisingCallbackLeaksNoReferences()
    {
        var (refDelta, blockDelta, _) = Measure("run_failing", (args, _) =>
        {
            using var index = args.GetItem(1);
            throw new ArgumentException($"bad index {index.ToInt64()}");
        });
        Assert.Equal(0, refDelta);
        Assert.InRange(blockDelta, -1000, 1000);
    }

    private static (long Refs, long Blocks, long Rss) Measure(string loop, PyCallback callback)
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(Loop);
        using (var fn = PyFunction.Create("fn", callback)) ns.SetItem(loop == "run" ? "fn" : "failing", fn);
        using var measure = ns.GetItem("measure");
        using var loopFn = ns.GetItem(loop);
        using var n = Py.Int(Calls);
        var rssBefore = ResidentBytes();
        using var result = measure.Call(loopFn, n);
        var rssAfter = ResidentBytes();
        using var refs = result.GetItem(0);
        using var blocks = result.GetItem(1);
        return (refs.ToInt64(), blocks.ToInt64(), rssAfter - rssBefore);
    }

    private static long ResidentBytes()
    {
        var fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1]) * Environment.SystemPageSize;
    }

    [Fact]
    public void CallsFromCSharpKeepArgumentCountsUnchanged()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("def ident(a, b=None):\n    return a\n");
        using var ident = ns.GetItem("ident");
        using var arg = Py.Str("a string nobody else holds");
        using var kw = Py.Int(123456789);
        var before = (arg.RefCount, kw.RefCount);
        for (var i = 0; i < Calls; i++)
        {
            using var r = ident.Call([arg], [new("b", kw)]);
        }
        Assert.Equal(before, (arg.RefCount, kw.RefCount));
    }

    [Fact]
    public void DirectReadsAndMethodCallsKeepReferenceCountsUnchanged()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("class T:\n    def __init__(self):\n        self.flag = True\n        self.sizes = (123456, 654321)\n    def size(self):\n        return self.sizes\n    def echo(self, x):\n        return x\nt = T()\n");
        using var t = ns.GetItem("t");
        using var sizes = t.GetAttr("sizes");
        using var arg = Py.Str("a string nobody else holds");
        using var size = t.GetAttr("size");
        var before = (t.RefCount, sizes.RefCount, arg.RefCount);
        for (var i = 0; i < Calls; i++)
        {
            t.GetAttrBool("flag");
            t.CallMethodInt64s("size");
            t.GetAttrAddress("sizes");
            Assert.True(size.CallReturnsIdentical(sizes));
            using var echoed = t.CallMethod("echo", arg);
            using var first = sizes.TupleItem(0);
        }
        Assert.Equal(before, (t.RefCount, sizes.RefCount, arg.RefCount));
    }
}
