using Capture.Graphs;

namespace Capture.Runtime.Tests;


/// <summary>
/// Seeded random graphs built from registry ops through the builder: pointwise chains with
/// broadcasting, reductions, views, matmuls, normalization, joins. A choice the shape rules reject
/// is simply not taken, so every graph is valid. The same seed gives the same graph.
/// </summary>
public static class RandomGraphs
{
    private delegate Arg? Step(Random rng, GraphBuilder b, IReadOnlyList<RefArg> values);

    private static readonly OpDef[] Unary = [Ops.Exp, Ops.Neg, Ops.Abs, Ops.Sin, Ops.Cos, Ops.Tanh, Ops.Sigmoid,
        Ops.Relu, Ops.Erf, Ops.Sqrt, Ops.Floor, Ops.Sign, Ops.Reciprocal, Ops.Gelu, Ops.Silu];
    private static readonly OpDef[] Binary = [Ops.Add, Ops.Sub, Ops.Mul, Ops.Div, Ops.Maximum, Ops.Minimum];

    private static readonly Step[] Steps =
    [
        (rng, b, v) => b.Call(Pick(rng, Unary), Pick(rng, v)),
        (rng, b, v) => b.Call(Pick(rng, Binary), Pick(rng, v), Pick(rng, v)),
        (rng, b, v) => b.Call(Pick(rng, Binary), Pick(rng, v), Math.Round(rng.NextDouble() * 4 - 2, 2)),
        (rng, b, v) => b.Call(Ops.Add, [Pick(rng, v), Pick(rng, v)], [new("alpha", 0.5)]),
        (rng, b, v) => b.Call(Ops.Where, b.Call(Ops.Gt, Pick(rng, v), 0.0), Pick(rng, v), Pick(rng, v)),
        (rng, b, v) => b.Call(Ops.Clamp, Pick(rng, v), -0.5, 0.75),
        (rng, b, v) => Reduce(rng, b, Pick(rng, v)),
        (rng, b, v) => b.Call(rng.Next(2) == 0 ? Ops.Softmax : Ops.LogSoftmax, [Pick(rng, v), RandomDim(rng, b, Pick(rng, v))], method: false),
        (rng, b, v) => View(rng, b, Pick(rng, v)),
        (rng, b, v) => b.Call(Ops.Matmul, Pick(rng, v), Pick(rng, v)),
        (rng, b, v) => LayerNorm(b, Pick(rng, v)),
        (rng, b, v) => b.Call(Ops.Cat, new ListArg(EquatableList.Of<Arg>(Pick(rng, v), Pick(rng, v))), RandomDim(rng, b, Pick(rng, v))),
        (rng, b, v) => b.Call(Ops.Stack, new ListArg(EquatableList.Of<Arg>(Pick(rng, v), Pick(rng, v))), 0L),
        (rng, b, v) => b.Call(Ops.Mul, b.Call(Ops.Sum, Pick(rng, v)), Pick(rng, v)),
    ];

    /// <summary>A seeded random graph on 1 to 3 inputs of 1 to 3 dims, each of 1 to <paramref name="maxDim"/> elements.</summary>
    public static Graph Generate(int seed, int maxDim = 4)
    {
        var rng = new Random(seed);
        var b = new GraphBuilder();
        var values = new List<RefArg>();
        var inputs = rng.Next(1, 4);
        var dtype = rng.Next(5) == 0 ? DType.Float64 : DType.Float32;
        for (var i = 0; i < inputs; i++)
        {
            var shape = new Shape(Enumerable.Range(0, rng.Next(1, 4)).Select(_ => (long)rng.Next(1, maxDim + 1)));
            values.Add(b.Placeholder($"x{i}", TensorMeta.Contiguous(shape, dtype)));
        }
        var steps = rng.Next(4, 16);
        for (var s = 0; s < steps; s++)
        {
            for (var attempt = 0; attempt < 30; attempt++)
            {
                try
                {
                    if (Steps[rng.Next(Steps.Length)](rng, b, values) is RefArg r && b.MetaOf(r) is TensorMeta)
                    {
                        values.Add(r);
                        break;
                    }
                }
                catch (Exception e) when (e is ShapeError or NotSupportedException) { }
            }
        }
        var outputs = values.Skip(inputs).TakeLast(rng.Next(1, 4)).Cast<Arg>().ToList();
        return b.Output(outputs.Count == 1 ? outputs[0] : new ListArg(outputs.ToEquatableList(), IsTuple: true));
    }

    private static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    private static Arg RandomDim(Random rng, GraphBuilder b, RefArg value)
    {
        var rank = Math.Max(((TensorMeta)b.MetaOf(value)).Rank, 1);
        return (long)rng.Next(-rank, rank);
    }

    private static Arg Reduce(Random rng, GraphBuilder b, RefArg x)
    {
        var op = OpRegistry.Get(Pick(rng, new[] { "torch.sum", "torch.mean", "torch.amax", "torch.amin", "torch.var", "torch.logsumexp" }));
        return b.Call(op, [x, Arg.Ints((long)((long?)(RandomDim(rng, b, x) as IntArg)?.Value ?? 0)), rng.Next(2) == 0]);
    }

    private static Arg? LayerNorm(GraphBuilder b, RefArg x)
    {
        var t = (TensorMeta)b.MetaOf(x);
        // over one element the exact result is 0 and torch's is rounding noise times 1/sqrt(eps)
        // (layer_norm(tensor([1.7]), [1]) gives 2.7e-5): nothing to compare a compiled result with
        if (t.Rank == 0 || t.Shape[t.Rank - 1].Value < 2) return null;
        return b.Call(Ops.LayerNorm, x, Arg.Ints(t.Shape[t.Rank - 1].Concrete()));
    }

    private static Arg View(Random rng, GraphBuilder b, RefArg x)
    {
        var t = (TensorMeta)b.MetaOf(x);
        return rng.Next(7) switch
        {
            0 => b.Call(Ops.Transpose, [x, RandomDim(rng, b, x), RandomDim(rng, b, x)], method: true),
            1 => b.Call(Ops.Permute, x, Arg.Ints(Enumerable.Range(0, t.Rank).Select(i => (long)i).OrderBy(_ => rng.Next()))),
            2 => b.Call(Ops.Unsqueeze, x, (long)rng.Next(0, t.Rank + 1)),
            3 => b.Call(Ops.Reshape, [x, -1L], method: true),
            4 => b.Call(Ops.Flatten, x),
            5 => b.Call(Ops.GetItem, x, new ListArg(EquatableList.Of<Arg>(new SliceArg(NoneArg.Instance, (long)rng.Next(1, 4), NoneArg.Instance), EllipsisArg.Instance), IsTuple: true)),
            _ => b.Call(Ops.Expand, [b.Call(Ops.Unsqueeze, x, 0L), 2L, .. Enumerable.Repeat<Arg>(-1L, t.Rank)], method: true),
        };
    }
}
