namespace Capture.Graphs;

// Batch norm with frozen statistics and affine parameters (constants: a frozen inference graph) is a
// per-channel scale and shift, both computable from constants alone:
//   scale = weight * rsqrt(running_var + eps)      shift = bias - running_mean * scale
// After a convolution whose weight (and bias) are constants too, and whose only reader is the batch
// norm, the scale and shift go into the convolution (what torch.fx.experimental.optimization.fuse
// and TorchScript's freezing do), and the batch norm disappears:
//   before: c = conv2d(x, W, b); y = batch_norm(c, m, v, w, beta, False, 0.1, eps)
//   after:  y = conv2d(x, W * scale.view(C, 1, 1, 1), b * scale + shift)
// Elsewhere it becomes x * scale.view(C, 1, ...) + shift.view(C, 1, ...): two pointwise ops that fuse
// with their neighbours instead of four. The expressions over constants are left to constant folding
// (the pass after decomposition), which computes each once, at compile time.
// Results differ from eager's batch norm by rounding only (eager computes (x - m) * invstd * w + b).
public sealed class FoldBatchNormPass : IGraphPass
{
    public string Name => "fold batch norm";

    public PassResult Run(Graph graph, PassContext context)
    {
        if (context.Constants is null || !graph.Nodes.OfType<CallOp>().Any(c => c.Op == Ops.BatchNorm)) return new PassResult(graph);
        var readers = new Dictionary<string, int>();
        foreach (var name in graph.Nodes.SelectMany(n => n.Inputs)) readers[name] = readers.GetValueOrDefault(name) + 1;
        var builder = new GraphBuilder();
        builder.Reserve(graph.Nodes.Select(n => n.Name));
        var renames = new Dictionary<string, string>();
        int added = 0, rewritten = 0, intoConvolutions = 0;
        var replaced = new HashSet<string>();
        foreach (var original in graph.Nodes.Where(n => n is not Output))
        {
            var node = original.Rename(n => renames.GetValueOrDefault(n, n));
            if (node is CallOp { Op: var op } call && op == Ops.BatchNorm
                && Rebuilt.Rewrite(builder, call, () => Fold(builder, call, readers), out var made) is { } r)
            {
                if (builder[r.Name] is CallOp { Op: var producer } && producer == Ops.Conv2d)
                {
                    intoConvolutions++;
                    // the batch norm was the old convolution's only reader
                    if (call.Args.Count > 0 && call.Args[0] is RefArg old) replaced.Add(old.Name);
                }
                renames[call.Name] = r.Name;
                added += made;
                rewritten++;
                continue;
            }
            builder.Add(node);
        }
        var note = rewritten == 0 ? null
            : $"{Count(intoConvolutions, "batch norm")} folded into {(intoConvolutions == 1 ? "its convolution" : "their convolutions")}"
              + (rewritten > intoConvolutions ? $", {Count(rewritten - intoConvolutions, "batch norm")} into a scale and shift" : "");
        if (intoConvolutions == 0 && rewritten > 0) note = $"{Count(rewritten, "batch norm")} folded into a scale and shift";
        var result = Rebuilt.WithOutput(builder, graph, renames);
        if (replaced.Count > 0) result = new Graph(result.Nodes.Where(n => !replaced.Contains(n.Name)));
        return new PassResult(result, Removed: replaced.Count, Added: added, Rewritten: rewritten) { Note = note };
    }

    private static string Count(int n, string what) => $"{n} {what}{(n == 1 ? "" : "s")}";

    private static Arg? Fold(GraphBuilder b, CallOp call, Dictionary<string, int> readers)
    {
        var bn = OpCall.Bind(call.Op, call.Args, call.Kwargs, b.MetaOf);
        if (bn.Bool("training")) return null;
        bool IsConstant(string name) => bn.Raw(name) is RefArg r && b[r.Name] is Constant;
        if (!IsConstant("running_mean") || !IsConstant("running_var")) return null;
        if (!bn.IsNone("weight") && !IsConstant("weight") || !bn.IsNone("bias") && !IsConstant("bias")) return null;
        var x = bn.Tensor("input");
        if (x.DType != DType.Float32 || bn.Tensor("running_var").DType != DType.Float32) return null;

        Arg scale = b.Call(Ops.Rsqrt, b.Call(Ops.Add, bn.Raw("running_var"), bn.Float("eps")));
        if (!bn.IsNone("weight")) scale = b.Call(Ops.Mul, bn.Raw("weight"), scale);
        Arg shift = bn.IsNone("bias")
            ? b.Call(Ops.Mul, b.Call(Ops.Mul, bn.Raw("running_mean"), scale), -1.0)
            : b.Call(Ops.Sub, bn.Raw("bias"), b.Call(Ops.Mul, bn.Raw("running_mean"), scale));
        var channels = x.Shape[1].Concrete("batch_norm");
        Arg PerChannel(Arg v, int rank) =>
            b.Call(Ops.View, [v, Arg.Ints(new[] { channels }.Concat(Enumerable.Repeat(1L, rank - 1)))], method: true);

        if (bn.Raw("input") is RefArg input && b[input.Name] is CallOp { Op: var producerOp } conv && producerOp == Ops.Conv2d && readers.GetValueOrDefault(input.Name) == 1)
        {
            var c = OpCall.Bind(conv.Op, conv.Args, conv.Kwargs, b.MetaOf);
            if (c.Raw("weight") is RefArg w && b[w.Name] is Constant && (c.IsNone("bias") || c.Raw("bias") is RefArg cb && b[cb.Name] is Constant))
            {
                var weight = b.Call(Ops.Mul, c.Raw("weight"), PerChannel(scale, 4));
                var bias = c.IsNone("bias") ? shift : b.Call(Ops.Add, b.Call(Ops.Mul, c.Raw("bias"), scale), shift);
                return b.Call(Ops.Conv2d, [c.Raw("input"), weight, bias, c.Raw("stride"), c.Raw("padding"), c.Raw("dilation"), c.Raw("groups")]);
            }
        }
        return b.Call(Ops.Add, b.Call(Ops.Mul, bn.Raw("input"), PerChannel(scale, x.Rank - 1)), PerChannel(shift, x.Rank - 1));
    }
}
