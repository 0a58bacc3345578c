using Capture.Codegen;
using Capture.Codegen.Llvm;
using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Tests;


// The kernel backends (Roslyn's C#, LLVM's native code) against the eager backend (torch itself):
// seeded random graphs, transcendental functions over the whole float range, and the generated
// source of a known graph.
[Collection("Python")]
public sealed class KernelBackendTests
{
    // Ours against eager's result, and where they differ by more than the tolerance, both against the
    // graph run by torch in float64 (Inductor's fp64 check): an ill-conditioned graph (a sum of
    // layer_norm outputs cancelling to nearly 0) amplifies each side's rounding differently, so
    // then ours passes when its error is at most twice torch's own (root mean square, plus 1e-6).
    // NaN and infinities must sit where eager's are.
    private const string Close = """

        def close(a, b, ref=None):
            if isinstance(a, torch.Tensor):
                assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride(), (a.dtype, b.dtype, a.shape, b.shape, a.stride(), b.stride())
                try:
                    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)
                except AssertionError:
                    if ref is None or not a.is_floating_point():
                        raise
                    finite = torch.isfinite(b)
                    assert torch.equal(torch.isnan(a), torch.isnan(b)) and torch.equal(a[~finite & ~torch.isnan(b)], b[~finite & ~torch.isnan(b)]), "NaN or infinities differ"
                    ours = ((a.double() - ref.double())[finite] ** 2).mean().sqrt().item() if finite.any() else 0.0
                    theirs = ((b.double() - ref.double())[finite] ** 2).mean().sqrt().item() if finite.any() else 0.0
                    assert ours <= 2 * theirs + 1e-6, f"off eager by more than the tolerance, and off the float64 result by {ours:.3g} (root mean square) where eager is off by {theirs:.3g}"
                return True
            if isinstance(a, (tuple, list)):
                return all(close(x, y, r) for x, y, r in zip(a, b, ref if ref is not None else [None] * len(a)))
            assert a == b, (a, b)
            return True

        def as_float64(inputs):
            return [x.double() if x.is_floating_point() else x for x in inputs]
        """;

    // The host's schedule on 200 graphs; the other vector widths (and none) on fewer: Vector512 runs
    // emulated where the hardware lacks it, so its code is checked here too. -2: the host's with every
    // kernel's stores streamed (non-temporal), which only outputs of many megabytes get otherwise.
    [Theory]
    [InlineData(-1, 200)]
    [InlineData(-2, 60)]
    [InlineData(0, 60)]
    [InlineData(128, 60)]
    [InlineData(512, 60)]
    public void RandomGraphsMatchEager(int vectorBits, int graphs)
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(GraphInterpreterTests.Compare + Close, filename: "roslyn_compare.py");
        var schedule = vectorBits switch
        {
            -1 => KernelSchedule.Host,
            -2 => KernelSchedule.Host with { StreamingBytes = 0 },
            _ => KernelSchedule.Host with { VectorBits = vectorBits },
        };
        var roslyn = Kernels("roslyn", schedule);
        var (kernels, statements, found) = CompileRandomGraphs(ns, roslyn, graphs, ["if (simd)", "StoreAlignedNonTemporal"]);
        var (vectorized, streamed) = (found[0], found[1]);
        Assert.True(vectorBits == -2 ? streamed >= kernels / 5 : streamed == 0, $"{streamed} streaming stores in {kernels} kernels");
        Assert.True(kernels >= graphs * 3 / 10 && statements >= graphs * 4 / 10, $"only {kernels} kernels with {statements} statements were generated");
        Assert.True(schedule.VectorBits == 0 ? vectorized == 0 : vectorized >= kernels / 5, $"{vectorized} of {kernels} kernels vectorized");
    }

    // The same graphs through LLVM: IR verified, optimized at O3, linked by ORC, run on torch memory.
    [Fact]
    public void RandomGraphsMatchEagerThroughLlvm()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(GraphInterpreterTests.Compare + Close, filename: "llvm_compare.py");
        var llvm = Kernels("llvm", KernelSchedule.Host);
        var (kernels, statements, found) = CompileRandomGraphs(ns, llvm, 200, ["!nontemporal"]);
        Assert.True(kernels >= 60 && statements >= 80, $"only {kernels} kernels with {statements} statements were generated");
        Assert.Equal(0, found[0]);
    }

    // LLVM's streamed stores (a cache line of elements a step, each element written out for the SLP
    // vectorizer to join, stores marked !nontemporal; the rest of the row or block through the cache),
    // in row kernels' store passes and pointwise kernels, against the same kernels storing through the
    // cache, bit for bit: random graphs with dims of up to 24 elements, so that rows of a line or more
    // stream, most with a tail.
    [Fact]
    public void StreamedLlvmRowKernelsGiveTheCachedOnesBits()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec(GraphInterpreterTests.Compare + """

            def same_bits(a, b):
                if isinstance(a, torch.Tensor):
                    if a.dtype != b.dtype or a.shape != b.shape:
                        return False
                    if not a.is_floating_point():
                        return torch.equal(a, b)
                    nan = torch.isnan(a)
                    return torch.equal(nan, torch.isnan(b)) and torch.equal(a[~nan], b[~nan])
                if isinstance(a, (tuple, list)):
                    return len(a) == len(b) and all(same_bits(x, y) for x, y in zip(a, b))
                return a == b
            """, filename: "streamed_bits.py");
        using var sameBits = ns.GetItem("same_bits");
        var cached = Kernels("llvm", KernelSchedule.Host);
        var streaming = Kernels("llvm", KernelSchedule.Host with { StreamingBytes = 0 });
        var streamedKernels = 0;
        for (var seed = 0; seed < 150; seed++)
        {
            var graph = RandomGraphs.Generate(seed, maxDim: 24);
            var plain = cached.Compile(graph);
            var streamed = streaming.Compile(graph);
            streamedKernels += streamed.Trace.Main.Source.Contains("!nontemporal") ? 1 : 0;
            using var inputs = GraphInterpreterTests.Inputs(ns, plain.Trace.Captured, seed);
            var inputList = inputs.ToItems();
            try
            {
                using var expected = plain.Run(inputList);
                using var actual = streamed.Run(inputList);
                using var same = sameBits.Call(actual, expected);
                Assert.True(same.ToBoolean(), $"seed {seed}: streamed stores change the results\n{plain.Trace.Captured}\n{streamed.Trace.Main.Source}");
            }
            finally
            {
                foreach (var i in inputList) i.Dispose();
            }
        }
        Assert.True(streamedKernels >= 20, $"only {streamedKernels} graphs streamed");
    }

    // Row reductions on the vector path (rows of 1024: the unrolled accumulators, then one vector at
    // a time) with NaN, infinities and signed zeros at random places: a NaN anywhere in a row makes
    // its max, min and softmax NaN, as torch's do; infinities win max and min.
    [Theory]
    [InlineData("roslyn", false)]
    [InlineData("llvm", false)]
    [InlineData("roslyn", true)]
    [InlineData("llvm", true)]
    public void RowReductionsPropagateNaNAsTorchDoes(string backend, bool streaming)
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse("""
            def forward(self, x: "f32[64, 1024]"):
                hi: "f32[64]" = torch.amax(x, dim=-1)
                lo: "f32[64]" = torch.amin(x, dim=-1)
                p: "f32[64, 1024]" = torch.softmax(x, dim=-1)
                return (hi, lo, p)
            """);
        var kernels = Kernels(backend, streaming ? KernelSchedule.Host with { StreamingBytes = 0 } : null);
        var compiled = kernels.Compile(graph);
        Assert.NotEmpty(compiled.Trace.Main.Kernels);
        Assert.Equal(streaming, compiled.Trace.Main.Source.Contains(backend == "llvm" ? "!nontemporal" : "StoreAlignedNonTemporal"));
        using var ns = Py.Exec(GraphInterpreterTests.Compare + """

            torch.manual_seed(0)
            x = torch.randn(64, 1024) * 10
            for row, value in [(1, "nan"), (2, "inf"), (3, "-inf"), (4, "nan"), (5, "-inf"), (6, "inf"), (7, "nan")]:
                x[row, torch.randint(0, 1024, (3,))] = float(value)
            x[8, :] = -0.0
            x[9, 1023] = float("nan")   # the last element: the one-vector-at-a-time loop
            x[10, 0] = float("nan")     # the first: the unrolled accumulators
            x[11, :] = float("-inf")
            """, filename: "reductions_nan.py");
        using var x = ns.GetItem("x");
        AssertSameAsEager(kernels, compiled, graph, [x], ns, backend, "rtol=1e-5, atol=1e-7");
    }

    // Rows of 64 elements or more prefetch the next row a cache line at a time in one pass (the store
    // pass, else the last reduction pass), which LLVM runs in blocks of 1 KB: rows that are not a
    // whole number of blocks or vectors (1000 and 300 floats), two outer dims (the next row wraps to
    // the next outer index), operands broadcast over rows (not prefetched), reductions whose blocks
    // carry a NaN seen, a reduction of an expensive function (two vectors a step), streamed and not;
    // C# also with 128-bit vectors (four a step) and 512-bit ones (one a step).
    [Theory]
    [InlineData("roslyn", false, 0)]
    [InlineData("llvm", false, 0)]
    [InlineData("roslyn", true, 0)]
    [InlineData("llvm", true, 0)]
    [InlineData("roslyn", false, 128)]
    [InlineData("roslyn", true, 512)]
    public void WideRowsPrefetchTheNextRowAndMatchEager(string backend, bool streaming, int vectorBits)
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse("""
            def forward(self, x: "f32[6, 1000]", w: "f32[1000]", b: "f32[1000]", z: "f32[3, 4, 300]"):
                mul: "f32[6, 1000]" = torch.mul(x, w)
                dot: "f32[6]" = torch.sum(mul, dim=-1)
                hi: "f32[6]" = torch.amax(x, dim=-1)
                lo: "f32[6]" = torch.amin(x, dim=-1)
                ln: "f32[6, 1000]" = torch.nn.functional.layer_norm(x, [1000], w, b)
                p: "f32[3, 4, 300]" = torch.softmax(z, dim=-1)
                top: "f32[3, 4]" = torch.amax(z, dim=-1)
                e: "f32[3, 4, 300]" = torch.exp(z)
                se: "f32[3, 4]" = torch.sum(e, dim=-1)
                return (dot, hi, lo, ln, p, top, se)
            """);
        var schedule = KernelSchedule.Host with { StreamingBytes = streaming ? 0 : KernelSchedule.Host.StreamingBytes };
        if (vectorBits != 0) schedule = schedule with { VectorBits = vectorBits };
        var kernels = Kernels(backend, schedule);
        var compiled = kernels.Compile(graph);
        Assert.NotEmpty(compiled.Trace.Main.Kernels);
        Assert.Contains(backend == "llvm" ? "@llvm.prefetch" : "Prefetch0(n", compiled.Trace.Main.Source);
        Assert.DoesNotContain(backend == "llvm" ? "next row of w" : "Prefetch0(n1", compiled.Trace.Main.Source);
        // every kernel that names a next row prefetches it
        foreach (var body in compiled.Trace.Main.Source.Split(backend == "llvm" ? "define internal void" : "private static void").Skip(1))
            if (body.Contains(backend == "llvm" ? "; next row of" : "var n"))
                Assert.Contains(backend == "llvm" ? "call void @llvm.prefetch.p0" : "Prefetch0(n", body);
        using var ns = Py.Exec(GraphInterpreterTests.Compare + """

            torch.manual_seed(1)
            x = torch.randn(6, 1000) * 3 + 1
            x[1, 999] = float("nan")   # in the last, partial block
            x[2, 0] = float("nan")     # in the first
            x[3, 500] = float("inf")
            w = torch.randn(1000)
            b = torch.randn(1000)
            z = torch.randn(3, 4, 300)
            z[2, 3, 299] = float("nan")
            """, filename: "wide_rows.py");
        using var x = ns.GetItem("x");
        using var w = ns.GetItem("w");
        using var b = ns.GetItem("b");
        using var z = ns.GetItem("z");
        AssertSameAsEager(kernels, compiled, graph, [x, w, b, z], ns, backend, "rtol=1e-4, atol=1e-5");
    }

    // Pointwise kernels with every output streamed: rows whose starts are not aligned (1001 floats)
    // store through the cache, a long 1-D domain splits into blocks; LLVM's steps of a cache line
    // leave a tail per row or block.
    [Theory]
    [InlineData("roslyn")]
    [InlineData("llvm")]
    public void StreamedPointwiseKernelsMatchEager(string backend)
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse("""
            def forward(self, x: "f32[3, 1001]", w: "f32[1001]", v: "f32[20000]", z: "f32[2, 3, 700]"):
                mul: "f32[3, 1001]" = torch.mul(x, w)
                y: "f32[3, 1001]" = torch.sigmoid(mul)
                neg: "f32[20000]" = torch.neg(v)
                u: "f32[20000]" = torch.add(neg, 2.0)
                t: "f32[2, 3, 700]" = torch.tanh(z)
                return (y, mul, u, t)
            """);
        var kernels = Kernels(backend, KernelSchedule.Host with { StreamingBytes = 0 });
        var compiled = kernels.Compile(graph);
        Assert.Contains(backend == "llvm" ? "!nontemporal" : "StoreAlignedNonTemporal", compiled.Trace.Main.Source);
        using var ns = Py.Exec(GraphInterpreterTests.Compare + """

            torch.manual_seed(2)
            x, w, v, z = torch.randn(3, 1001), torch.randn(1001), torch.randn(20000), torch.randn(2, 3, 700)
            """, filename: "streamed_pointwise.py");
        var inputs = new[] { "x", "w", "v", "z" }.Select(ns.GetItem).ToList();
        try
        {
            AssertSameAsEager(kernels, compiled, graph, inputs, ns, backend, "rtol=1e-5, atol=1e-6");
        }
        finally
        {
            foreach (var input in inputs) input.Dispose();
        }
    }

    // Kernels over dynamic sizes: one compiled module serves every size. A pointwise chain with a
    // broadcast operand and a transposed (strided) input, a layer norm over a constant row with dynamic
    // outer dims, a softmax and an amax over a dynamic row (long rows run in blocks), and a product
    // through BLAS whose sizes are read per call; sizes that leave a vector
    // remainder, one row, and enough elements to split over threads. Each against eager, each through a
    // kernel (not torch), and the module compiled once.
    [Theory]
    [InlineData("roslyn", 0)]
    [InlineData("llvm", 0)]
    [InlineData("roslyn", 128)]
    public void KernelsOverDynamicSizesServeEverySize(string backend, int vectorBits)
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse("""
            def forward(self, x: "f32[s0, s1]", y: "f32[s1, s0]", b: "f32[s1]", w: "f32[s1]", m: "f32[s1, 24]"):
                t: "f32[s0, s1]{1, s0}" = torch.transpose(y, 0, 1)
                u: "f32[s0, s1]" = torch.mul(x, t)
                v: "f32[s0, s1]" = torch.add(u, b)
                g: "f32[s0, s1]" = torch.tanh(v)
                p: "f32[s0, 24]" = torch.matmul(g, m)
                n: "f32[s0, 24]" = torch.nn.functional.layer_norm(p, [24])
                r: "f32[s0, 24]" = torch.relu(n)
                sm: "f32[s0, s1]" = torch.softmax(g, -1)
                hi: "f32[s0]" = torch.amax(v, dim=-1)
                return (g, r, sm, hi)
            """);
        var kernels = Kernels(backend, vectorBits == 0 ? null : KernelSchedule.Host with { VectorBits = vectorBits });
        var compiled = kernels.Compile(graph);
        var main = compiled.Trace.Main;
        Assert.True(main.Kernels.Values.Count(k => k.SymbolicDomain is not null) >= 2, string.Join("\n", main.Kernels.Values.Select(k => $"{k.Name} {k.DomainText}")));
        Assert.Contains(main.Kernels.Values, k => k.Reduced is not null && k.SymbolicDomain is not null && !k.DynamicRow); // the layer norm's rows
        Assert.Contains(main.Kernels.Values, k => k.DynamicRow); // softmax and amax over a row of s1
        Assert.Single(main.Gemms.Values, g => g.SymbolicSizes is not null);
        using var ns = Py.Exec(GraphInterpreterTests.Compare + """

            def inputs(n, k):
                torch.manual_seed(n * 100 + k)
                return [torch.randn(n, k), torch.randn(k, n), torch.randn(k), torch.randn(k), torch.randn(k, 24)]
            """, filename: "dynamic_kernels.py");
        foreach (var (n, k) in new[] { (2, 3), (5, 17), (33, 2), (3, 700), (2048, 64), (7, 7), (2, 20000) })
        {
            using var made = Py.Eval($"inputs({n}, {k})", ns);
            var inputs = made.ToItems().ToList();
            try { AssertSameAsEager(kernels, compiled, graph, inputs, ns, $"{backend} at {n} x {k}", "rtol=1e-4, atol=1e-5"); }
            finally { foreach (var input in inputs) input.Dispose(); }
        }
    }

    /// <summary>The compiled graph's outputs against eager's on the same inputs: NaN where eager's are, the rest within <paramref name="tolerance"/> (torch.allclose's arguments).</summary>
    private static void AssertSameAsEager(GraphBackend kernels, CompiledGraph compiled, Graph graph, IReadOnlyList<PyObject> inputs, PyObject ns, string backend, string tolerance)
    {
        using var actual = compiled.Run(inputs);
        using var expected = new GraphInterpreter(TestSession.Current.Torch).Run(graph, inputs);
        using var equal = Py.Eval($"lambda a, b: all(torch.equal(torch.isnan(p), torch.isnan(q)) and torch.allclose(p.nan_to_num(), q.nan_to_num(), {tolerance}) for p, q in zip(a, b))", ns);
        using var same = equal.Call(actual, expected);
        Assert.True(same.ToBoolean(), $"{backend}: {actual.Repr()}\n{expected.Repr()}");
    }

    // The vector exp, tanh and sigmoid (written out in the generated code) against torch over the
    // whole float range: tiny and huge magnitudes, the overflow edges, zeros, infinities and NaN.
    // C# at each vector width: 128 bits has Cephes' exp; 256 and 512 the table (on a machine without
    // AVX-512, 512 bits runs emulated and falls back to Cephes).
    [Theory]
    [InlineData("torch.exp", "roslyn", 256)]
    [InlineData("torch.exp", "roslyn", 128)]
    [InlineData("torch.exp", "roslyn", 512)]
    [InlineData("torch.tanh", "roslyn", 256)]
    [InlineData("torch.sigmoid", "roslyn", 256)]
    [InlineData("torch.erf", "roslyn", 256)]
    [InlineData("torch.exp", "llvm", 0)]
    [InlineData("torch.tanh", "llvm", 0)]
    [InlineData("torch.sigmoid", "llvm", 0)]
    [InlineData("torch.erf", "llvm", 0)]
    public void VectorTranscendentalsMatchTorchEverywhere(string function, string backend, int vectorBits)
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse($$"""
            def forward(self, x: "f32[4, 4096]"):
                y: "f32[4, 4096]" = {{function}}(x)
                return (y,)
            """);
        var schedule = vectorBits == 0 ? KernelSchedule.Host : KernelSchedule.Host with { VectorBits = vectorBits };
        var roslyn = Kernels(backend, schedule);
        var compiled = roslyn.Compile(graph);
        if (backend == "roslyn") Assert.Contains(vectorBits == 128 ? "Vector128.Create(-86f)" : "PermuteVar", compiled.Trace.Main.Source);
        else Assert.Contains("x float>", LlvmCompiler.Jit.Optimize(compiled.Trace.Main.Source, "transcendentals")); // the vectorizer widened the helpers
        using var ns = Py.Exec(GraphInterpreterTests.Compare + """

            def values():
                torch.manual_seed(0)
                magnitudes = torch.cat([torch.logspace(-40, 2.2, 6000), torch.linspace(85, 90, 1000), torch.linspace(0.5, 0.6, 1000)])
                signs = torch.where(torch.rand(magnitudes.shape) < 0.5, -1.0, 1.0)
                special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 88.72283, -86.0, -87.5, 0.55, -0.55] * 4)
                x = torch.cat([magnitudes * signs, torch.randn(16384 - 8000 - 40) * 4, special])
                return x[torch.randperm(x.numel())].reshape(4, 4096)

            def check(actual, expected, x, ulps, floor):
                bad = ~torch.isclose(actual, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
                assert not bad.any(), [(a, b, c) for a, b, c in zip(x[bad][:5].tolist(), actual[bad][:5].tolist(), expected[bad][:5].tolist())]
                if ulps:  # against float64, in float32 ulps of the exact result, where that is a normal float not flushed to 0
                    exact = torch.exp(x.double())
                    normal = (exact > 1.2e-38) & (exact < 3.4e38) & (x >= floor)
                    ulp = (torch.nextafter(exact.float(), torch.tensor(float("inf"))) - exact.float()).double()
                    error = ((actual.double() - exact).abs() / ulp)[normal]
                    assert error.max() <= ulps, f"exp is {error.max().item():.2f} ulps off (at most {ulps} allowed) at {x[normal][error.argmax()].item()}"
                return True
            """, filename: "roslyn_transcendentals.py");
        using var values = ns.GetItem("values");
        using var x = values.Call();
        using var actual = compiled.Run([x]);
        using var expected = new GraphInterpreter(TestSession.Current.Torch).Run(graph, [x]);
        using var check = ns.GetItem("check");
        using var a = actual.GetItem(0);
        using var e = expected.GetItem(0);
        // exp itself against the exact result: the table's within an ulp (torch's is within 0.96 here),
        // Cephes' within 1.5 (1.12 measured); from where each stops flushing to 0: the table's from
        // -87.33 (float32 has normals to -87.34), Cephes' from -86. The table runs where the machine has the permute.
        var table = vectorBits switch
        {
            256 => System.Runtime.Intrinsics.X86.Avx2.IsSupported,
            512 => System.Runtime.Intrinsics.X86.Avx512F.IsSupported,
            _ => backend == "llvm" && compiled.Trace.Main.Source.Contains("@capture_exp_f32_v8"),
        };
        using var ulps = Py.Float(function != "torch.exp" ? 0.0 : table ? 1.0 : 1.5);
        using var floor = Py.Float(table ? -87.33 : -86.0);
        try { check.Call(a, e, x, ulps, floor).Dispose(); }
        catch (PythonException error) { Assert.Fail($"{function}: (x, ours, torch's) differ: {error.PythonMessage}"); }
    }

    // With AVX2 both backends compute exp by the same table, operation for operation (C#'s vpermps
    // from Avx2.PermuteVar8x32, LLVM's from the helper's vector variant): the same bits, on values
    // over the whole range, vector loops and scalar remainders (4093 elements a row) alike.
    [Fact]
    public void RoslynAndLlvmExpGiveTheSameBits()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return; // then both are Cephes', whose C# and LLVM forms differ in rounding
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse("""
            def forward(self, x: "f32[4, 4093]"):
                y: "f32[4, 4093]" = torch.exp(x)
                return (y,)
            """);
        using var ns = Py.Exec("""
            import torch
            torch.manual_seed(0)
            x = torch.cat([torch.linspace(-104, 89, 8000), torch.randn(8372) * 10]).reshape(4, 4093)
            """, filename: "exp_bits.py");
        using var x = ns.GetItem("x");
        var results = new[] { "roslyn", "llvm" }.Select(backend =>
        {
            var kernels = Kernels(backend);
            return kernels.Compile(graph).Run([x]);
        }).ToList();
        using var equal = Py.Eval("lambda a, b: torch.equal(a[0], b[0])", ns);
        using var same = equal.Call(results[0], results[1]);
        Assert.True(same.ToBoolean(), "C#'s and LLVM's exp differ");
        foreach (var r in results) r.Dispose();
    }

    /// <summary>
    /// Attention scores scaled and masked (masked_fill with -inf where a broadcast causal mask is 0),
    /// then softmaxed; a tensor masked_fill'd with an int; one with a 0-d tensor value.
    /// </summary>
    private const string Masked = """
        def forward(self, s: "f32[2, 4, 16, 16]", mask: "f32[1, 1, 16, 16]", i: "f32[2, 16]", x: "f32[2, 16]", v: "f32[]"):
            mul: "f32[2, 4, 16, 16]" = torch.mul(s, 0.125)
            gt: "b8[1, 1, 16, 16]" = torch.gt(mask, 0.5)
            masked_fill: "f32[2, 4, 16, 16]" = torch.masked_fill(mul, gt, float('-inf'))
            softmax: "f32[2, 4, 16, 16]" = torch.softmax(masked_fill, -1)
            m: "b8[2, 16]" = torch.gt(x, 0.0)
            masked_fill_1: "f32[2, 16]" = torch.masked_fill(i, m, 7)
            add: "f32[2, 16]" = torch.add(masked_fill_1, 1)
            masked_fill_2: "f32[2, 16]" = torch.masked_fill(x, m, v)
            exp: "f32[2, 16]" = torch.exp(masked_fill_2)
            return (softmax, add, exp)
        """;

    // masked_fill is where(mask, value, self) in a kernel: the scaled, masked attention scores fuse
    // with the softmax after them (no pass of their own through torch), on both backends.
    [Theory]
    [InlineData("roslyn")]
    [InlineData("llvm")]
    public void MaskedFillFusesIntoKernels(string backend)
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse(Masked);
        var kernels = Kernels(backend);
        var compiled = kernels.Compile(graph);
        var lowered = compiled.Trace.Main.Kernels.Values.SelectMany(k => k.Body.Select(s => s.Node)).ToHashSet();
        Assert.Subset(lowered, new HashSet<string> { "mul", "gt", "m", "masked_fill", "masked_fill_1", "add", "masked_fill_2", "exp" });
        Assert.Contains(compiled.Trace.Main.Kernels.Values, k => k.Body.Any(s => s.Node == "masked_fill") && k.Reduced is not null);
        using var ns = Py.Exec(GraphInterpreterTests.Compare + Close, filename: $"{backend}_masked.py");
        for (var seed = 0; seed < 3; seed++) AssertMatchesEager(ns, kernels, compiled, seed);
    }

    // A bool tensor a kernel only reads (the causal mask under masked_fill, made once and read by
    // every attention layer) is loaded into the vector loops as a mask of lanes, as a comparison's
    // result is, instead of keeping the kernel scalar: pointwise and row kernels, a mask along the
    // row (stride 1: rows of 37, so a remainder too) and one broadcast along it (stride 0), float32
    // and float64, C# at each vector width (LLVM vectorizes its scalar IR itself).
    [Theory]
    [InlineData("roslyn", 128)]
    [InlineData("roslyn", 256)]
    [InlineData("roslyn", 512)]
    [InlineData("llvm", 0)]
    public void BoolOperandsLoadAsMasksInVectorLoops(string backend, int vectorBits)
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse("""
            def forward(self, s: "f32[3, 4, 37, 37]", causal: "b8[1, 1, 37, 37]", rows: "b8[3, 4, 37, 1]", d: "f64[5, 37]", m: "b8[5, 37]"):
                mul: "f32[3, 4, 37, 37]" = torch.mul(s, 0.25)
                masked_fill: "f32[3, 4, 37, 37]" = torch.masked_fill(mul, causal, float('-inf'))
                softmax: "f32[3, 4, 37, 37]" = torch.softmax(masked_fill, -1)
                masked_fill_1: "f32[3, 4, 37, 37]" = torch.masked_fill(s, rows, 2.5)
                masked_fill_2: "f64[5, 37]" = torch.masked_fill(d, m, -1.0)
                exp: "f64[5, 37]" = torch.mul(masked_fill_2, 3.0)
                return (softmax, masked_fill_1, exp)
            """);
        var schedule = vectorBits == 0 ? null : KernelSchedule.Host with { VectorBits = vectorBits };
        var kernels = Kernels(backend, schedule);
        var compiled = kernels.Compile(graph);
        var source = compiled.Trace.Main.Source;
        Assert.Contains(compiled.Trace.Main.Kernels.Values, k => k.Body.Any(s => s.Node == "masked_fill") && k.Reduced is not null);
        if (backend == "roslyn")
        {
            Assert.DoesNotContain("// scalar loops", source);
            Assert.Contains("Mask32(q", source);       // the causal mask, in the softmax's row loops
            Assert.Contains("AllBitsSet", source);     // rows' mask, broadcast along the row
        }
        using var ns = Py.Exec(GraphInterpreterTests.Compare + """

            torch.manual_seed(2)
            s = torch.randn(3, 4, 37, 37) * 4
            causal = torch.ones(37, 37).tril().eq(0).view(1, 1, 37, 37)
            rows = torch.rand(3, 4, 37, 1) > 0.5
            d = torch.randn(5, 37, dtype=torch.float64)
            m = torch.rand(5, 37) > 0.3
            """, filename: $"{backend}_{vectorBits}_bool_masks.py");
        var inputs = new[] { "s", "causal", "rows", "d", "m" }.Select(name => ns.GetItem(name)).ToList();
        AssertSameAsEager(kernels, compiled, graph, inputs, ns, backend, "rtol=1e-5, atol=1e-7");
        foreach (var i in inputs) i.Dispose();
    }

    /// <summary>Five pointwise ops, a broadcast operand, and a mask among the outputs.</summary>
    private const string Chain = """
        def forward(self, x: "f32[64, 1024]", b: "f32[1024]"):
            mul: "f32[64, 1024]" = torch.mul(x, 0.5)
            add: "f32[64, 1024]" = torch.add(mul, b)
            sigmoid: "f32[64, 1024]" = torch.sigmoid(add)
            gt: "b8[64, 1024]" = torch.gt(sigmoid, 0.25)
            where: "f32[64, 1024]" = torch.where(gt, sigmoid, 0.0)
            return (where, gt)
        """;

    [Fact]
    public void APointwiseChainBecomesOneKernelMethodWithItsNodesNamed()
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse(Chain);
        var roslyn = Kernels("roslyn");
        var compiled = roslyn.Compile(graph);
        var kernel = Assert.Single(compiled.Trace.Main.Kernels.Values);
        Assert.Equal(["mul", "add", "sigmoid", "gt", "where"], kernel.Body.Select(s => s.Node));
        Assert.Contains("// kernel for fusion group g1: mul, add, sigmoid, gt, where", compiled.Trace.Main.Source);
        Assert.Contains("KernelThreads.For(chunks, c => g1_items(64L * c / chunks", compiled.Trace.Main.Source);
        Assert.Contains("// scalar loops: gt is bool, not float32", compiled.Trace.Main.Source); // a mask among the outputs
        using var ns = Py.Exec(GraphInterpreterTests.Compare + Close, filename: "roslyn_chain.py");
        AssertMatchesEager(ns, roslyn, compiled, 3);
    }

    // The LLVM module of a known graph: one exported function per kernel named after its group, the
    // nodes named in comments, a fast copy for contiguous strides that LLVM's vectorizer widens, and
    // assembly for the host.
    [Fact]
    public void APointwiseChainBecomesOneLlvmFunctionThatVectorizes()
    {
        using var gil = Interpreter.Gil();
        var graph = CodeParser.Parse(Chain);
        var llvm = Kernels("llvm");
        var compiled = llvm.Compile(graph);
        Assert.Single(compiled.Trace.Main.Kernels.Values);
        Assert.Equal("LLVM IR", compiled.Trace.Language);
        Assert.Contains("; kernel for fusion group g1: mul, add, sigmoid, gt, where", compiled.Trace.Main.Source);
        Assert.Matches(@"define void @capture_[0-9a-f]{16}_g1\(i64 %first, i64 %last, ptr %p, ptr %s\)", compiled.Trace.Main.Source);
        Assert.Contains("; innermost strides (1, 1, 1, 1) as constants", compiled.Trace.Main.Source);
        var avx2 = System.Runtime.Intrinsics.X86.Avx2.IsSupported;
        Assert.Contains(avx2 ? "<8 x float>" : "x float>", LlvmCompiler.Jit.Optimize(compiled.Trace.Main.Source, "chain")); // the host's SIMD width
        if (avx2) Assert.Contains("ymm", LlvmCompiler.Assembly(compiled.Trace.Main.Source));
        Assert.Contains(compiled.Trace.Phases, p => p.Name == "llvm");
        using var ns = Py.Exec(GraphInterpreterTests.Compare + Close, filename: "llvm_chain.py");
        AssertMatchesEager(ns, llvm, compiled, 3);
        // strided inputs take the copy that reads strides at run time (values compared: the outputs'
        // strides are the captured graph's, and guards would have recompiled for these inputs)
        using var t = Py.Exec("""
            import torch
            x = torch.randn(1024, 64).t()
            b = torch.randn(2048)[::2]
            def same(a, e):
                torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)
            """, filename: "llvm_strided.py");
        using var x = t.GetItem("x");
        using var b = t.GetItem("b");
        using var actual = compiled.Run([x, b]);
        using var expected = new GraphInterpreter(TestSession.Current.Torch).Run(graph, [x, b]);
        using var same = t.GetItem("same");
        same.Call(actual, expected).Dispose();
    }

    /// <summary>
    /// Random graphs 0..<paramref name="graphs"/>-1 compiled on <paramref name="backend"/> and checked
    /// against eager: how many kernels and statements they gave, and how often each marker stands in their sources.
    /// </summary>
    private static (int Kernels, int Statements, int[] Found) CompileRandomGraphs(PyObject ns, GraphBackend backend, int graphs, string[] markers, int maxDim = 4)
    {
        int kernels = 0, statements = 0;
        var found = new int[markers.Length];
        for (var seed = 0; seed < graphs; seed++)
        {
            var compiled = backend.Compile(RandomGraphs.Generate(seed, maxDim));
            kernels += compiled.Trace.Main.Kernels.Count;
            statements += compiled.Trace.Main.Kernels.Values.Sum(k => k.Body.Count);
            for (var m = 0; m < markers.Length; m++) found[m] += compiled.Trace.Main.Source.Split(markers[m]).Length - 1;
            AssertMatchesEager(ns, backend, compiled, seed);
        }
        return (kernels, statements, found);
    }

    /// <summary>A kernel backend of this session's compiler, with no kernel cache and the schedule given (the host's by default).</summary>
    private static GraphBackend Kernels(string backend, KernelSchedule? schedule = null)
    {
        var torch = TestSession.Current.Torch;
        return new GraphBackend(new CompilePipeline(backend, torch, TestSession.Current.KernelCompiler(backend), cache: null, schedule), torch);
    }

    private static LlvmKernelCompiler LlvmCompiler => (LlvmKernelCompiler)TestSession.Current.KernelCompiler("llvm");

    /// <summary>The compiled graph on seeded inputs gives the eager backend's results (to the tolerance in <see cref="Close"/>).</summary>
    private static void AssertMatchesEager(PyObject ns, GraphBackend roslyn, CompiledGraph compiled, int seed)
    {
        using var close = ns.GetItem("close");
        using var inputs = GraphInterpreterTests.Inputs(ns, compiled.Trace.Captured, seed);
        var inputList = inputs.ToItems();
        try
        {
            var eager = new GraphInterpreter(TestSession.Current.Torch);
            using var expected = eager.Run(compiled.Trace.Captured, inputList);
            using var actual = compiled.Run(inputList);
            using var asFloat64 = ns.GetItem("as_float64");
            using var wide = asFloat64.Call(inputs);
            var wideList = wide.ToItems();
            using var reference = eager.Run(compiled.Trace.Captured, wideList);
            foreach (var w in wideList) w.Dispose();
            try { close.Call(actual, expected, reference).Dispose(); }
            catch (PythonException e) { Assert.Fail($"seed {seed}: the {roslyn.Name} backend differs: {e.PythonMessage}\n{compiled.Trace.Captured}\n{compiled.Trace.Main.Source}"); }
        }
        finally
        {
            foreach (var i in inputList) i.Dispose();
        }
    }
}
