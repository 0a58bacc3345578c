namespace Capture.Graphs;

/// <summary>
/// A captured forward graph together with its backward, as one graph: it takes the forward's
/// inputs (primals) and one tangent per differentiable output, and returns
/// <c>((tensor outputs...), (input gradients...))</c>. Built by reverse-mode differentiation over
/// the registry's derivative rules (see <see cref="Derivatives"/>); the partitioners split it.
/// Every value's metadata says no requires_grad: the graphs it becomes run under no_grad, inside
/// a torch.autograd.Function.
/// </summary>
public sealed record JointGraph(
    Graph Graph,
    IReadOnlyList<string> Primals,
    IReadOnlyList<string> Tangents,
    IReadOnlyList<string> TensorOutputs,
    IReadOnlyList<bool> Differentiable,
    IReadOnlyList<bool> InputNeedsGrad,
    Arg OutputTemplate)
{
    /// <summary>The joint graph's output: the forward's tensor outputs, then the inputs' gradients.</summary>
    public ListArg Outputs => (ListArg)((ListArg)Graph.Output.Value).Items[0];

    public ListArg InputGradients => (ListArg)((ListArg)Graph.Output.Value).Items[1];

    /// <summary>
    /// Per primal, the tangents (indices into <see cref="Tangents"/>) of the outputs it flows into: an
    /// input whose outputs all went unused (no gradient came back for any) gets no gradient, as in
    /// eager autograd (None, not zeros), even where a graph break made intermediates outputs.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<int>> TangentsOfPrimals()
    {
        var users = new Dictionary<string, List<string>>();
        foreach (var node in Graph.Nodes)
            foreach (var input in node.Inputs)
                (users.TryGetValue(input, out var list) ? list : users[input] = []).Add(node.Name);
        var differentiableOutputs = TensorOutputs.Where((_, i) => Differentiable[i]).ToList();
        return Primals.Select(primal =>
        {
            var reached = new HashSet<string> { primal };
            var stack = new Stack<string>([primal]);
            while (stack.TryPop(out var name))
                foreach (var user in users.GetValueOrDefault(name) ?? [])
                    if (reached.Add(user)) stack.Push(user);
            return (IReadOnlyList<int>)differentiableOutputs.Select((o, i) => (o, i)).Where(p => reached.Contains(p.o)).Select(p => p.i).ToList();
        }).ToList();
    }

    /// <summary>
    /// Differentiates <paramref name="forward"/> with respect to its inputs that require grad.
    /// Throws NotSupportedException (naming the op and the user's line) for what it cannot
    /// differentiate: the caller then leaves the graph to torch's autograd.
    /// </summary>
    public static JointGraph Build(Graph forward)
    {
        var prepared = Prepare(forward);
        var b = new GraphBuilder(gradEnabled: false);
        b.Reserve(prepared.Nodes.Select(n => n.Name));
        var primals = prepared.Placeholders.Select(p => b.Add(p with { Meta = NoGrad(p.Meta) }).Name).ToList();
        var inputNeedsGrad = prepared.Placeholders.Select(p => NeedsGrad(p.Meta)).ToList();

        // the output's tensor leaves, each returned once; the differentiable ones get a tangent
        var tensorOutputs = new List<string>();
        foreach (var name in prepared.Output.Value.References())
        {
            if (prepared[name].Meta is not TensorMeta)
                throw new NotSupportedException($"the graph returns {name}, a {prepared[name].Meta}: only tensors leave a differentiated graph");
            if (!tensorOutputs.Contains(name)) tensorOutputs.Add(name);
        }
        var differentiable = tensorOutputs.Select(n => prepared[n].Meta is TensorMeta { RequiresGrad: true } t && t.DType.IsFloatingPoint()).ToList();
        var tangents = new List<(string Output, string Tangent)>();
        for (var i = 0; i < tensorOutputs.Count; i++)
        {
            if (!differentiable[i]) continue;
            var meta = (TensorMeta)prepared[tensorOutputs[i]].Meta;
            tangents.Add((tensorOutputs[i], b.Placeholder($"tangents_{tangents.Count + 1}", TensorMeta.Contiguous(meta.Shape, meta.DType, false, meta.Device)).Name));
        }
        foreach (var node in prepared.Nodes.Where(n => n is not (Placeholder or Output)))
            b.Add(node with { Meta = NoGrad(node.Meta) });

        var grads = new Accumulator(b, prepared);
        foreach (var (output, tangent) in tangents) grads.Accumulate(output, new RefArg(tangent));
        foreach (var node in prepared.Nodes.Reverse())
            if (node is CallOp call) grads.Propagate(call);

        var inputGrads = prepared.Placeholders.Select((p, i) => inputNeedsGrad[i] ? grads.Of(p.Name) ?? NoneArg.Instance : NoneArg.Instance).ToList();
        var graph = b.Output(new ListArg(new Arg[]
        {
            new ListArg(tensorOutputs.Select(n => (Arg)new RefArg(n)).ToEquatableList(), IsTuple: true),
            new ListArg(inputGrads.ToEquatableList(), IsTuple: true),
        }.ToEquatableList(), IsTuple: true));
        graph = new EliminateDeadCodePass().Run(graph, new PassContext()).Graph;
        return new JointGraph(graph, primals, tangents.Select(t => t.Tangent).ToList(), tensorOutputs, differentiable, inputNeedsGrad, prepared.Output.Value);
    }

    /// <summary>
    /// The forward as the differentiation needs it: in-place ops made functional, composite ops
    /// without a rule decomposed; anything else it cannot differentiate refused with the reason.
    /// </summary>
    private static Graph Prepare(Graph forward)
    {
        foreach (var node in forward.Nodes)
        {
            var where = node.Source is { } s ? $" at {s}" : "";
            switch (node)
            {
                case Cond or WhileLoop:
                    throw new NotSupportedException($"differentiating control flow ({node.Name}{where}): cond and while_loop graphs run through torch's autograd");
                case CallModule m:
                    throw new NotSupportedException($"differentiating a call of module {m.Target}{where}");
                case GetAttr { Meta: TensorMeta { RequiresGrad: true } } g:
                    throw new NotSupportedException($"{g.Target}{where} is read as an attribute, not a graph input: its gradient has nowhere to go");
                case CallOp { Op.Category: OpCategory.GlobalState }:
                    throw new NotSupportedException($"the graph switches grad mode{where}: its gradients are torch's to track");
                case CallOp { Op: { Category: OpCategory.Opaque, DrawsRandom: true } } c when c.Inputs.Any(i => NeedsGrad(forward[i].Meta)):
                    throw new NotSupportedException($"{c.Op.Name}{where} is outside the op registry and draws random numbers: running it again for its gradient would draw others");
            }
        }
        var functional = Functionalize.Apply(forward);
        var context = new PassContext { Decompose = op => op.Derivative is null && op.Decompose is not null };
        return new DecomposePass().Run(functional, context).Graph;
    }

    /// <summary>Whether a value takes a gradient: a floating tensor (or tuple of them) that requires grad.</summary>
    public static bool NeedsGrad(ValueMeta meta) => meta switch
    {
        TensorMeta t => t.RequiresGrad && t.DType.IsFloatingPoint(),
        TupleMeta t => t.Items.Any(NeedsGrad),
        _ => false,
    };

    internal static ValueMeta NoGrad(ValueMeta meta) => meta switch
    {
        TensorMeta t => t with { RequiresGrad = false },
        TupleMeta t => new TupleMeta(t.Items.Select(NoGrad).ToEquatableList()),
        _ => meta,
    };

    /// <summary>The Python function an opaque op's gradient node calls (runtime/python/capture/_autograd.py).</summary>
    public const string OpaqueVjp = "capture._autograd.opaque_vjp";

    /// <summary>The gradients accumulated so far, per value (per item, for tuple values).</summary>
    private sealed class Accumulator(GraphBuilder b, Graph forward)
    {
        private readonly Dictionary<string, Arg> _tensors = [];
        private readonly Dictionary<string, Arg?[]> _tuples = [];

        public Arg? Of(string name) => _tensors.GetValueOrDefault(name);

        /// <summary>Adds a gradient to a value's, summed to its shape and in its dtype.</summary>
        public void Accumulate(string name, Arg grad)
        {
            if (!NeedsGrad(forward[name].Meta) || forward[name].Meta is not TensorMeta meta) return;
            grad = Derivatives.SumTo(b, grad, meta.Shape.Dims);
            if (Derivatives.Meta(b, grad).DType != meta.DType)
                grad = b.Call(Ops.To, [grad, new DTypeArg(meta.DType)], method: true);
            _tensors[name] = _tensors.TryGetValue(name, out var existing) ? b.Call(Ops.Add, existing, grad) : grad;
        }

        /// <summary>
        /// An opaque op's gradients (it is outside the registry, so it has no rule): one backward node,
        /// capture._autograd.opaque_vjp, runs the op again on the saved arguments under torch's autograd
        /// and returns the gradient of each tensor argument that takes one (tensors numbered depth first
        /// over the arguments, then the keywords, as the Python side numbers them).
        /// </summary>
        private void PropagateOpaque(CallOp call, Arg gradOutput)
        {
            var tensors = new List<string>();
            void Walk(Arg arg)
            {
                switch (arg)
                {
                    case RefArg r when forward[r.Name].Meta is TensorMeta: tensors.Add(r.Name); break;
                    case ListArg l: foreach (var item in l.Items) Walk(item); break;
                }
            }
            foreach (var arg in call.Args) Walk(arg);
            foreach (var kwarg in call.Kwargs) Walk(kwarg.Value);
            var wanted = Enumerable.Range(0, tensors.Count).Where(i => NeedsGrad(forward[tensors[i]].Meta)).ToList();
            if (wanted.Count == 0) return;
            var metas = wanted.Select(i => (ValueMeta)(((TensorMeta)forward[tensors[i]].Meta) with { RequiresGrad = false })).ToEquatableList();
            Arg[] args =
            [
                new StrArg(call.Op.Name), new ListArg(call.Args, IsTuple: true),
                new ListArg(call.Kwargs.Select(k => (Arg)new StrArg(k.Name)).ToEquatableList()),
                new ListArg(call.Kwargs.Select(k => k.Value).ToEquatableList()),
                gradOutput, new ListArg(wanted.Select(i => (Arg)new IntArg(i)).ToEquatableList()),
            ];
            var grads = b.Call(OpDef.Opaque(OpaqueVjp, aliases: false, drawsRandom: false), args, opaqueMeta: new TupleMeta(metas));
            for (var k = 0; k < wanted.Count; k++)
                Accumulate(tensors[wanted[k]], b.Call(Ops.GetItem, grads, (long)k));
        }

        /// <summary>Pushes a node's gradient to its arguments through the op's derivative rule.</summary>
        public void Propagate(CallOp call)
        {
            b.Source = call.Source;
            var op = call.Op;
            if (op == Ops.GetItem && forward.MetaOf(call.Args[0]) is TupleMeta tuple)
            {
                if (_tensors.TryGetValue(call.Name, out var itemGrad) && call.Args[0] is RefArg source && call.Args[1] is IntArg { Value: var i })
                {
                    var items = _tuples.TryGetValue(source.Name, out var known) ? known : _tuples[source.Name] = new Arg?[tuple.Items.Count];
                    var index = (int)(i < 0 ? i + tuple.Items.Count : i);
                    items[index] = items[index] is { } existing ? b.Call(Ops.Add, existing, itemGrad) : itemGrad;
                }
                return;
            }
            Arg gradOutput;
            if (_tensors.TryGetValue(call.Name, out var g)) gradOutput = g;
            else if (_tuples.TryGetValue(call.Name, out var items) && call.Meta is TupleMeta t)
                gradOutput = new ListArg(items.Select((item, i) => item ?? (t.Items[i] is TensorMeta
                    ? b.Call(Ops.ZerosLike, b.Call(Ops.GetItem, new RefArg(call.Name), (long)i))
                    : NoneArg.Instance)).ToEquatableList(), IsTuple: true);
            else return;
            var where = call.Source is { } s ? $" (from {s})" : "";
            if (op.Category == OpCategory.Opaque)
            {
                PropagateOpaque(call, gradOutput);
                return;
            }
            if (op.Derivative is not { } rule)
            {
                if (Derivatives.IsNonDifferentiable(op)) return;
                throw new NotSupportedException($"{op.Name}{where} has no derivative rule yet");
            }
            var bound = OpCall.Bind(op, call.Args, call.Kwargs, b.MetaOf);
            IReadOnlyList<Arg?> results;
            try { results = rule(b, bound, new RefArg(call.Name), gradOutput); }
            catch (NotSupportedException e) { throw new NotSupportedException($"the gradient of {op.Name}{where}: {e.Message}", e); }
            for (var p = 0; p < op.Schema.Params.Count; p++)
            {
                if (results[p] is not { } grad || !bound.Bound.TryGetValue(op.Schema.Params[p].Name, out var arg)) continue;
                switch (arg, grad)
                {
                    case (RefArg r, _):
                        Accumulate(r.Name, grad);
                        break;
                    case (ListArg list, ListArg itemGrads):
                        foreach (var (item, itemGrad) in list.Items.Zip(itemGrads.Items))
                            if (item is RefArg ir && itemGrad is not NoneArg) Accumulate(ir.Name, itemGrad);
                        break;
                }
            }
        }
    }
}
