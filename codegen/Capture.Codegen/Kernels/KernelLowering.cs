using System.Collections.Frozen;

namespace Capture.Codegen;


// Lowering of a fusion group to a kernel: one statement per node, arguments read from the group's
// own earlier statements or loaded from operands, Python numbers as constants in the computation's
// type. Arithmetic computes in the node's dtype (torch's: operands are converted to the result type
// first); comparisons compute in the promoted type of their tensor operands.
//   pointwise group  -> a loop nest over its domain
//   reduction group  -> rows of the outer dims; sum/amax/amin over the reduced (last) dims as row
//                       statements, pointwise nodes per element (full domain) or per row (reduced domain)
//   extern group     -> the library call runs through torch; the pointwise nodes after it are a
//                       kernel over its output (bias, activation)
// A group with an op, dtype, argument or shape this does not cover is not lowered (null): the
// backend runs its nodes through torch, never something approximate.
public static class KernelLowering
{
    // graph op -> kernel function
    private static readonly FrozenDictionary<OpDef, KernelFunction> Functions = new Dictionary<OpDef, KernelFunction>
    {
        [Ops.Add] = KernelFunction.Add, [Ops.Sub] = KernelFunction.Sub, [Ops.Mul] = KernelFunction.Mul, [Ops.Div] = KernelFunction.Div,
        [Ops.Neg] = KernelFunction.Neg, [Ops.Abs] = KernelFunction.Abs, [Ops.Relu] = KernelFunction.Relu, [Ops.FunctionalRelu] = KernelFunction.Relu,
        [Ops.Exp] = KernelFunction.Exp, [Ops.Log] = KernelFunction.Log, [Ops.Tanh] = KernelFunction.Tanh, [Ops.Sigmoid] = KernelFunction.Sigmoid,
        [Ops.Erf] = KernelFunction.Erf, [Ops.Sqrt] = KernelFunction.Sqrt, [Ops.Rsqrt] = KernelFunction.Rsqrt,
        [Ops.Reciprocal] = KernelFunction.Reciprocal, [Ops.Sin] = KernelFunction.Sin, [Ops.Cos] = KernelFunction.Cos,
        [Ops.Maximum] = KernelFunction.Maximum, [Ops.Minimum] = KernelFunction.Minimum, [Ops.Where] = KernelFunction.Where,
        [Ops.Eq] = KernelFunction.Eq, [Ops.Ne] = KernelFunction.Ne, [Ops.Lt] = KernelFunction.Lt, [Ops.Le] = KernelFunction.Le,
        [Ops.Gt] = KernelFunction.Gt, [Ops.Ge] = KernelFunction.Ge, [Ops.Pow] = KernelFunction.Pow,
    }.ToFrozenDictionary();

    /// <summary>Conversions: a cast to the node's dtype.</summary>
    private static readonly FrozenSet<OpDef> Casts = FrozenSet.ToFrozenSet<OpDef>([Ops.To, Ops.Float, Ops.Double, Ops.Long]);

    // mean is a sum, then a division by the row's length
    private static readonly FrozenDictionary<OpDef, (KernelReduction Reduction, bool Mean)> Reductions = new Dictionary<OpDef, (KernelReduction Reduction, bool Mean)>
    {
        [Ops.Sum] = (KernelReduction.Sum, false), [Ops.Mean] = (KernelReduction.Sum, true),
        [Ops.Amax] = (KernelReduction.Max, false), [Ops.Amin] = (KernelReduction.Min, false),
    }.ToFrozenDictionary();

    public static bool Supports(DType dtype) => dtype is DType.Float32 or DType.Float64 or DType.Int64 or DType.Int32 or DType.Bool;

    public static Kernel? Lower(Graph graph, FusionGroup group, string name)
    {
        if (group.Domain is not { } domain) return null;
        // over dynamic sizes, kernels take their sizes at run time: pointwise ones (and a product's
        // epilogue), and reductions (a mean over a dynamic row aside)
        switch (group.Kind)
        {
            case FusionKind.Pointwise:
                return LowerPointwise(graph, group.Nodes, group.Outputs, domain, group.Id, name);
            case FusionKind.Reduction when group.Reduced is { } reduced && ReducedSuffix(domain, reduced) is { } count:
                return LowerNodes(graph, group.Nodes, group.Outputs, domain, (count, reduced), group.Id, name);
            case FusionKind.Extern when EpilogueOf(graph, group) is { } epilogue:
                return LowerPointwise(graph, epilogue, group.Outputs.Where(epilogue.Contains).ToList(), domain, group.Id, name);
            default:
                return null;
        }
    }

    /// <summary>
    /// A pointwise kernel, looping in its first output's memory order: dims from the largest stride to
    /// the smallest (a stable order, so a contiguous output keeps the graph's). Elementwise, any order
    /// computes the same values; the order the output is laid out in reads and writes memory in sequence.
    /// </summary>
    private static Kernel? LowerPointwise(Graph graph, IReadOnlyList<string> nodes, IReadOnlyList<string> outputs, Shape domain, int groupId, string name)
    {
        var perm = outputs.Count > 0 && graph[outputs[0]].Meta is TensorMeta { Strides: { } strides } first && first.Shape == domain && domain.Rank > 1
            ? Enumerable.Range(0, domain.Rank).OrderByDescending(d => domain[d].Value == 1 ? long.MaxValue : strides[d]).ToArray()
            : null;
        if (perm is null || perm.SequenceEqual(Enumerable.Range(0, perm.Length))) return LowerNodes(graph, nodes, outputs, domain, null, groupId, name);
        var kernel = LowerNodes(graph, nodes, outputs, Shape.Of(perm.Select(d => domain[d])), null, groupId, name, perm);
        return kernel is null ? null : kernel with { Permutation = perm.ToEquatableList() };
    }

    /// <summary>The node of an extern group that calls the library (matmul, linear, conv).</summary>
    public static string ExternNode(Graph graph, FusionGroup group) =>
        group.Nodes.First(n => graph[n] is CallOp { Op.Category: OpCategory.Extern });

    /// <summary>The pointwise nodes after an extern group's library call, when nothing the call reads is computed in the group.</summary>
    private static List<string>? EpilogueOf(Graph graph, FusionGroup group)
    {
        var call = ExternNode(graph, group);
        if (graph[call].Inputs.Any(group.Nodes.Contains)) return null; // a prologue: the call would wait for the kernel
        var epilogue = group.Nodes.Where(n => n != call).ToList();
        return epilogue.Count == 0 ? null : epilogue;
    }

    /// <summary>
    /// How many trailing dims of <paramref name="domain"/> the reductions remove, when they are the
    /// last ones: <paramref name="reduced"/> keeps the outer dims and has 1 (kept) or nothing (not
    /// kept) in their place. Null for reductions over other dims.
    /// </summary>
    private static int? ReducedSuffix(Shape domain, Shape reduced)
    {
        var n = domain.Rank;
        if (reduced.Rank == n)
        {
            var k = n;
            while (k > 0 && reduced[k - 1].Value == 1) k--;
            // dims of size 1 reduce to themselves: the suffix may start at any of them
            while (k < n && domain[k].Value == 1) k++;
            return domain.Dims.Take(k).SequenceEqual(reduced.Dims.Take(k)) ? n - k : null;
        }
        return reduced.Rank < n && domain.Dims.Take(reduced.Rank).SequenceEqual(reduced.Dims) ? n - reduced.Rank : null;
    }

    private static Kernel? LowerNodes(Graph graph, IReadOnlyList<string> nodes, IReadOnlyList<string> outputs, Shape domain,
        (int Count, Shape Shape)? reduced, int groupId, string name, int[]? perm = null)
    {
        // an operand's metadata in the kernel's dim order: aligned right to the domain (size 1, stride 0
        // where it has no dim), then permuted
        TensorMeta InKernelOrder(TensorMeta t)
        {
            if (perm is null || t.Strides is not { } strides) return t;
            var pad = perm.Length - t.Rank;
            if (pad < 0) return t;
            var sizes = Enumerable.Repeat(Dim.Of(1), pad).Concat(t.Shape.Dims).ToArray();
            var aligned = Enumerable.Repeat(0L, pad).Concat(strides).ToArray();
            return t with { Shape = Shape.Of(perm.Select(d => sizes[d])), Strides = perm.Select(d => aligned[d]).ToEquatableList() };
        }

        var operands = new List<KOperand>();
        var operandOf = new Dictionary<(string, bool), int>();
        var statements = new List<KStatement>();
        var statementOf = new Dictionary<string, int>();
        foreach (var node in nodes)
        {
            if (graph[node] is not CallOp { Meta: TensorMeta meta } call || !Supports(meta.DType)) return null;
            KStatement? statement;
            if (Reductions.TryGetValue(call.Op, out var kind))
            {
                var (reduction, mean) = kind;
                var bound = OpCall.Bind(call.Op, call.Args, call.Kwargs, n => graph[n].Meta);
                if (reduced is not { } r || !ReducesSuffix(bound, meta, domain, r.Count)) return null;
                var input = bound.Tensor("self");
                if (input.Shape != domain || reduction != KernelReduction.Sum && (domain.Dims.Any(d => d.Value == 0) || !meta.DType.IsFloatingPoint() && meta.DType != DType.Int64)) return null;
                var value = Operand(bound.Raw("self"), row: false);
                if (value is not null && mean)
                {
                    // mean = sum / count, as torch computes it; the sum is a statement of its own
                    if (!meta.DType.IsFloatingPoint() || domain.Dims.Skip(domain.Rank - r.Count).Any(d => !d.IsConcrete)) return null; // the count of a dynamic row: not yet
                    statements.Add(new KStatement($"{call.Name} (sum)", new KReduce(KernelReduction.Sum, Cast(value, meta.DType), meta.DType), Row: true));
                    var count = domain.Dims.Skip(domain.Rank - r.Count).Aggregate(1L, (n, d) => n * d.Value!.Value);
                    statement = new KStatement(call.Name, new KCall(KernelFunction.Div, new EquatableList<KExpr>([new KTemp(statements.Count - 1, meta.DType), new KConst(count, meta.DType)]), meta.DType), Row: true);
                }
                else statement = value is null ? null : new KStatement(call.Name, new KReduce(reduction, Cast(value, meta.DType), meta.DType), Row: true);
            }
            else
            {
                // per row when it reads a row statement (it then has the reduced shape), else per element
                var row = call.Args.Concat(call.Kwargs.Select(k => k.Value)).SelectMany(a => a.References())
                    .Any(r => statementOf.TryGetValue(r, out var s) && statements[s].Row && meta.Shape == reduced?.Shape);
                var value = LowerCall(call, meta.DType, graph, arg => Operand(arg, row));
                // dividing elements by a row value: multiply by its reciprocal, taken once per row (torch's
                // softmax does the same)
                if (!row && value is KCall { Function: KernelFunction.Div } div && div.Args[1] is KTemp { } divisor && statements[divisor.Index].Row)
                {
                    statements.Add(new KStatement($"{call.Name} (1/x)", new KCall(KernelFunction.Reciprocal, new EquatableList<KExpr>([divisor]), divisor.Type), Row: true));
                    value = new KCall(KernelFunction.Mul, new EquatableList<KExpr>([div.Args[0], new KTemp(statements.Count - 1, divisor.Type)]), div.Type);
                }
                statement = value is null ? null : new KStatement(call.Name, value, row);
            }
            if (statement is null) return null;
            statementOf[call.Name] = statements.Count;
            statements.Add(statement);
        }
        var stores = new List<(int, int)>();
        foreach (var output in outputs)
        {
            var s = statementOf[output];
            var meta = InKernelOrder((TensorMeta)graph[output].Meta);
            if (!statements[s].Row && meta.Shape != domain) return null; // a recomputed broadcast producer read outside
            stores.Add((s, operands.Count));
            operands.Add(new KOperand(output, meta.DType, IsOutput: true, statements[s].Row ? 0 : InnerStride(meta, domain), statements[s].Row));
        }
        if (!domain.IsConcrete)
            return new Kernel(name, groupId, domain.Dims.Select(d => d.Value ?? 0).ToEquatableList(), operands.ToEquatableList(), statements.ToEquatableList(),
                stores.ToEquatableList(), reduced?.Count ?? 0, reduced?.Shape.Dims.Select(d => d.Value ?? 0).ToEquatableList())
            {
                SymbolicDomain = domain.Dims,
                SymbolicReduced = reduced?.Shape.Dims,
            };
        return new Kernel(name, groupId, domain.Concrete().ToEquatableList(), operands.ToEquatableList(), statements.ToEquatableList(),
            stores.ToEquatableList(), reduced?.Count ?? 0, reduced?.Shape.Concrete().ToEquatableList());

        // an argument as the statement reading it sees it: an earlier statement, or a load of an operand
        KExpr? Operand(Arg arg, bool row)
        {
            switch (arg)
            {
                case RefArg r when statementOf.TryGetValue(r.Name, out var s):
                    // an element reads a row value only as a kept-dims broadcast; a row never reads an element
                    if (statements[s].Row != row && (row || reduced!.Value.Shape.Rank != domain.Rank)) return null;
                    return new KTemp(s, statements[s].Value.Type);
                case RefArg r when graph[r.Name].Meta is TensorMeta t && Supports(t.DType):
                    if (row && reduced is { } red && !Broadcasts(t.Shape, red.Shape)) return null;
                    if (!operandOf.TryGetValue((r.Name, row), out var o))
                    {
                        o = operandOf[(r.Name, row)] = operands.Count;
                        operands.Add(new KOperand(r.Name, t.DType, IsOutput: false, row ? 0 : InnerStride(InKernelOrder(t), domain), row,
                            RowBroadcast: !row && reduced is { } rd && domain.Rank > rd.Count && BroadcastAlong(t, domain, domain.Rank - rd.Count - 1)));
                    }
                    return new KLoad(o, t.DType);
                default:
                    return null;
            }
        }
    }

    /// <summary>Whether a reduction covers exactly the last <paramref name="count"/> dims (size-1 dims either way).</summary>
    private static bool ReducesSuffix(OpCall bound, TensorMeta result, Shape domain, int count)
    {
        var dims = bound.OptInts("dim") is { Count: > 0 } given
            ? given.Select(d => (int)((d % domain.Rank + domain.Rank) % domain.Rank)).ToHashSet()
            : Enumerable.Range(0, domain.Rank).ToHashSet();
        var suffix = Enumerable.Range(domain.Rank - count, count).ToHashSet();
        return dims.All(d => suffix.Contains(d) || domain[d].Value == 1) && suffix.All(d => dims.Contains(d) || domain[d].Value == 1)
            && result.Rank == (bound.Bool("keepdim") ? domain.Rank : domain.Rank - dims.Count);
    }

    private static bool Broadcasts(Shape from, Shape to) =>
        from.Rank <= to.Rank && from.Dims.Select((d, i) => (d, i)).All(p => p.d.Value == 1 || p.d == to[to.Rank - from.Rank + p.i]);

    private static KExpr? LowerCall(CallOp call, DType result, Graph graph, Func<Arg, KExpr?> operand)
    {
        if (call.Op == Ops.MaskedFill) return LowerMaskedFill(call, result, operand);
        var cast = Casts.Contains(call.Op);
        if (!cast && !Functions.ContainsKey(call.Op)) return null;
        var kwargs = call.Kwargs.ToDictionary(k => k.Name, k => k.Value);
        // alpha scales the second operand, rounding_mode changes division, inplace writes: not here
        if (kwargs.Keys.Any(k => k is not ("inplace" or "dtype")) || kwargs.TryGetValue("inplace", out var inplace) && inplace is not BoolArg { Value: false })
            return null;
        if (cast)
        {
            if (call.Op == Ops.To && !(call.Args.Count == 2 && call.Args[1] is DTypeArg)) return null; // to(device), to(other)
            return operand(call.Args[0]) is { } source ? Cast(source, result) : null;
        }
        var function = Functions[call.Op];
        var info = function.Info();
        // F.relu(x, False): inplace given by position
        var args = call.Args.Count > info.Arity && call.Args.Skip(info.Arity).All(a => a is BoolArg { Value: false }) && call.Op == Ops.FunctionalRelu
            ? call.Args.Take(info.Arity).ToList()
            : call.Args.ToList();
        if (args.Count != info.Arity) return null;
        var computeType = info.IsComparison ? ComparisonType(args, graph) : result;
        if (!Supports(computeType)) return null;
        if (info.Types == KernelTypes.Float && !computeType.IsFloatingPoint()) return null;
        if (info.Types == KernelTypes.Float32 && computeType != DType.Float32) return null; // our erf is a float32 approximation
        var lowered = new List<KExpr>();
        for (var i = 0; i < args.Count; i++)
        {
            var type = function == KernelFunction.Where && i == 0 ? DType.Bool : computeType;
            KExpr? e = args[i] switch
            {
                IntArg n => KConst.Of(n.Value, n.Value, type),
                FloatArg f => KConst.Of(f.Value, null, type),
                BoolArg b => KConst.Of(b.Value ? 1 : 0, b.Value ? 1 : 0, type),
                var a => operand(a) is { } loaded ? Cast(loaded, type) : null,
            };
            if (e is null) return null;
            lowered.Add(e);
        }
        // small integer powers as products (the vector loop has no pow; torch computes these exactly too)
        if (function == KernelFunction.Pow && lowered[1] is KConst { Value: 2 or 3 } exponent && lowered[0] is KLoad or KTemp)
        {
            var square = new KCall(KernelFunction.Mul, new EquatableList<KExpr>([lowered[0], lowered[0]]), result);
            return exponent.Value == 2 ? square : new KCall(KernelFunction.Mul, new EquatableList<KExpr>([square, lowered[0]]), result);
        }
        return new KCall(function, lowered.ToEquatableList(), info.IsComparison ? DType.Bool : result);
    }

    /// <summary>
    /// masked_fill(self, mask, value) as where(mask, value, self): the value (a number, or a 0-d
    /// tensor) in self's dtype. A float value into an integer tensor is left to torch.
    /// </summary>
    private static KExpr? LowerMaskedFill(CallOp call, DType result, Func<Arg, KExpr?> operand)
    {
        if (call.Kwargs.Count != 0 || call.Args.Count != 3 || !Supports(result)) return null;
        if (operand(call.Args[0]) is not { } self || operand(call.Args[1]) is not { } mask) return null;
        KExpr? value = call.Args[2] switch
        {
            IntArg n => KConst.Of(n.Value, n.Value, result),
            FloatArg f when result.IsFloatingPoint() => KConst.Of(f.Value, null, result),
            BoolArg b => KConst.Of(b.Value ? 1 : 0, b.Value ? 1 : 0, result),
            RefArg r => operand(r) is { } loaded ? Cast(loaded, result) : null,
            _ => null,
        };
        if (value is null) return null;
        return new KCall(KernelFunction.Where, new EquatableList<KExpr>([Cast(mask, DType.Bool), value, Cast(self, result)]), result);
    }

    /// <summary>
    /// The type a comparison computes in: its tensor operands' promoted type, raised as torch raises it
    /// for a Python number of a higher kind (an int tensor against 2.5 compares as floats, in the
    /// default dtype; a bool tensor against 2 as int64).
    /// </summary>
    private static DType ComparisonType(IReadOnlyList<Arg> args, Graph graph)
    {
        var tensors = args.Select(a => graph.MetaOf(a)).OfType<TensorMeta>().Select(t => t.DType).Aggregate(TypePromotion.Promote);
        if (!tensors.IsFloatingPoint() && args.Any(a => a is FloatArg)) return TypePromotion.DefaultFloat;
        if (tensors == DType.Bool && args.Any(a => a is IntArg)) return DType.Int64;
        return tensors;
    }

    /// <summary>Whether <paramref name="t"/>, broadcast to <paramref name="domain"/> (aligned right), has size 1 or no dim at domain dim <paramref name="d"/>.</summary>
    private static bool BroadcastAlong(TensorMeta t, Shape domain, int d)
    {
        var i = d - (domain.Rank - t.Rank);
        return i < 0 || t.Shape.Dims[i].Value == 1;
    }

    /// <summary>The operand's stride along the domain's innermost dim, broadcast (aligned right: 0 where it has size 1 or no dim).</summary>
    private static long? InnerStride(TensorMeta t, Shape domain)
    {
        if (domain.Rank == 0) return null;
        if (t.Rank == 0 || t.Shape.Dims[^1].Value == 1) return 0;
        return t.StrideDims is { Count: > 0 } s ? s[^1].Value : null;
    }

    private static KExpr Cast(KExpr value, DType type) => value.Type == type ? value : new KCast(value, type);
}
