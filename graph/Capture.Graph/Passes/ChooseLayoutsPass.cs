using System.Collections.Frozen;
namespace Capture.Graphs;

// Layout: the memory order each kernel reads its operands in.
// - A matrix product with a transposed 2-D operand becomes the transposed-operand form the library
//   call takes directly, so no transpose is ever materialized:
//     matmul(x, t(w)) -> linear(x, w)        addmm(b, x, t(w)) -> linear(x, w, b)
//   (not when the backend asked for linear in parts).
// - Library calls read strided operands only in some orders: a gemm needs one of the two matrix
//   dims to have unit stride (row-major or transposed; batch dims may stride freely); a convolution
//   needs contiguous input and weight (or a channels-last 4-D input: oneDNN reads it directly). An operand in any other order gets one contiguous copy,
//   shared by every call that reads that value: the fewest copies.
// Pointwise and reduction kernels read any strides and need nothing.
public sealed class ChooseLayoutsPass : IGraphPass
{
    public string Name => "choose layouts";

    private static readonly FrozenSet<OpDef> Gemms = FrozenSet.ToFrozenSet<OpDef>([Ops.Matmul, Ops.Mm, Ops.Bmm, Ops.Addmm, Ops.Baddbmm, Ops.Linear]);

    private static readonly FrozenSet<OpDef> Convolutions = FrozenSet.ToFrozenSet<OpDef>([Ops.Conv1d, Ops.Conv2d, Ops.MkldnnConvolution]);

    public PassResult Run(Graph graph, PassContext context)
    {
        var builder = new GraphBuilder();
        builder.Reserve(graph.Nodes.Select(n => n.Name));
        var producers = new Dictionary<string, CallOp>();
        var renames = new Dictionary<string, string>();
        var copies = new Dictionary<string, RefArg>();
        var linearWanted = context.Decompose?.Invoke(Ops.Linear) != true;
        int added = 0, rewritten = 0;
        foreach (var original in graph.Nodes.Where(n => n is not Output))
        {
            var node = original.Rename(n => renames.GetValueOrDefault(n, n));
            if (node is CallOp call && linearWanted && TransposedOperandForm(call, producers, builder) is { } folded)
            {
                renames[call.Name] = folded.Name;
                rewritten++;
                producers[folded.Name] = (CallOp)builder[folded.Name];
                continue;
            }
            if (node is CallOp op && OperandsNeedingCopies(op, builder) is { Count: > 0 } operands)
            {
                builder.Source = op.Source;
                var args = op.Args.ToList();
                foreach (var i in operands)
                {
                    var value = ((RefArg)args[i]).Name;
                    if (!copies.TryGetValue(value, out var copy))
                    {
                        copy = copies[value] = builder.Call(Ops.Contiguous, [args[i]], method: true);
                        added++;
                    }
                    args[i] = copy;
                }
                var meta = OpCall.Bind(op.Op, args, op.Kwargs, builder.MetaOf).Infer();
                if (meta.Equals(op.Meta)) node = op with { Args = args.ToEquatableList() };
            }
            builder.Add(node);
            if (node is CallOp made) producers[made.Name] = made;
        }
        return new PassResult(Rebuilt.WithOutput(builder, graph, renames), Added: added, Rewritten: rewritten);
    }

    /// <summary>linear(x, w[, b]) in place of a product with t(w), when the metadata is the same; the new node is the builder's last.</summary>
    private static RefArg? TransposedOperandForm(CallOp call, Dictionary<string, CallOp> producers, GraphBuilder builder)
    {
        (Arg X, Arg T, Arg? Bias)? parts = call.Op switch
        {
            var op when (op == Ops.Matmul || op == Ops.Mm) && call.Args.Count == 2 && call.Kwargs.Count == 0 => (call.Args[0], call.Args[1], null),
            var op when op == Ops.Addmm && call.Args.Count == 3 && call.Kwargs.Count == 0 && builder.MetaOf(call.Args[0]) is TensorMeta { Rank: 1 } => (call.Args[1], call.Args[2], call.Args[0]),
            _ => null,
        };
        if (parts is not { } p || p.T is not RefArg t || !producers.TryGetValue(t.Name, out var transpose) || !IsMatrixTranspose(transpose, builder)) return null;
        var mark = builder.Mark();
        builder.Source = call.Source;
        try
        {
            Arg[] args = p.Bias is null ? [p.X, transpose.Args[0]] : [p.X, transpose.Args[0], p.Bias];
            var linear = builder.Call(Ops.Linear, args);
            if (builder.MetaOf(linear).Equals(call.Meta)) return linear;
        }
        catch (ShapeError) { }
        builder.Truncate(mark);
        return null;
    }

    private static bool IsMatrixTranspose(CallOp call, GraphBuilder builder) =>
        builder.MetaOf(call.Args[0]) is TensorMeta { Rank: 2 } && call.Op switch
        {
            var op when op == Ops.T => true,
            var op when op == Ops.Transpose => call.Args.Count == 3 && call.Args[1] is IntArg { Value: 0 or 1 or -1 or -2 } a && call.Args[2] is IntArg { Value: 0 or 1 or -1 or -2 } b && Norm(a.Value) != Norm(b.Value),
            _ => false,
        };

    private static long Norm(long dim) => dim < 0 ? dim + 2 : dim;

    /// <summary>Positions of tensor operands the op's library call cannot read in their layout.</summary>
    private static List<int> OperandsNeedingCopies(CallOp call, GraphBuilder builder)
    {
        var positions = new List<int>();
        if (!Gemms.Contains(call.Op) && !Convolutions.Contains(call.Op)) return positions;
        int[] operands = call.Op == Ops.Addmm || call.Op == Ops.Baddbmm ? [1, 2] : [0, 1]; // the bias is read as it is
        foreach (var i in operands)
        {
            if (i >= call.Args.Count || call.Args[i] is not RefArg r || builder.MetaOf(r) is not TensorMeta { Strides: { } strides, Shape.IsConcrete: true } t) continue;
            var sizes = t.Shape.Concrete();
            var readable = Convolutions.Contains(call.Op)
                ? strides.Equals(t.Shape.ContiguousStrides()) || t.Rank == 4 && strides.Equals(Layout.ChannelsLastStrides(sizes))
                : GemmReadable(sizes, strides);
            if (!readable) positions.Add(i);
        }
        return positions;
    }

    /// <summary>A gemm operand: its last two dims row-major or transposed (size-1 dims take any stride).</summary>
    public static bool GemmReadable(IReadOnlyList<long> sizes, IReadOnlyList<long> strides)
    {
        var n = sizes.Count;
        if (n == 0) return true;
        if (n == 1) return sizes[0] <= 1 || strides[0] == 1;
        long rows = sizes[n - 2], cols = sizes[n - 1], rowStride = strides[n - 2], colStride = strides[n - 1];
        var rowMajor = (cols <= 1 || colStride == 1) && (rows <= 1 || rowStride >= Math.Max(1, cols));
        var columnMajor = (rows <= 1 || rowStride == 1) && (cols <= 1 || colStride >= Math.Max(1, rows));
        return rowMajor || columnMajor;
    }
}
