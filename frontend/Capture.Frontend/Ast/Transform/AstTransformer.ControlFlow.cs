namespace Capture.Frontend;

// Control flow. On Python values it is decided now: `if` takes one branch, loops are unrolled.
// On tensors it stays in the graph:
//   if t: a = f(x) else: a = g(x)     ->  a = cond(t, true_graph, false_graph, (x,))[0]
//   while t(x): x = f(x)              ->  x = while_loop(cond_graph, body_graph, (x, w))[0]
//   a if t else b (a, b cheap, pure)  ->  torch.where(t, a, b)
// Branch subgraphs read outer tensors through lifted placeholders; names a branch assigns become
// the cond's outputs, and both branches must agree on their shapes and dtypes.
public sealed partial class AstTransformer
{
    /// <summary>A hole in a value template: the i-th output of a cond or loop.</summary>
    private sealed record Leaf(int Index) : AstValue;

    private Flow If(IfStmt s, IReadOnlyList<Stmt>? rest)
    {
        var test = EvalTest(s.Test);
        if (test is not TensorVal t) return ExecBlock(Decided("if", s.Test.At, Truth(test, s.Test.At)) ? s.Body : s.OrElse, rest);
        var predicate = Predicate(t, s.Test.At);
        if (ContainsJump(s.Body) || ContainsJump(s.OrElse))
            throw Error(s.At, "break in a tensor if", "break/continue under an if on a tensor cannot be captured (the loop's length would depend on the tensor)",
                "compute a mask and use torch.where, or use mode='bytecode'");
        if (ContainsReturn(s.Body) || ContainsReturn(s.OrElse))
        {
            if (rest is null)
                throw Error(s.At, "return in a tensor if", "return under an if on a tensor inside a loop cannot be captured",
                    "assign the result to a variable and return after the loop");
            // the statements after the if run in whichever branch does not return first
            var trueBlock = s.Body.Concat(rest).ToList();
            var falseBlock = s.OrElse.Concat(rest).ToList();
            var locals = new Dictionary<string, AstValue>(_frame.Locals);
            AstValue Returning(IReadOnlyList<Stmt> block)
            {
                RestoreLocals(locals);
                return Returned(block, s.At);
            }
            var value = Branches(predicate, s.At, () => Returning(trueBlock), () => Returning(falseBlock), "the return value");
            RestoreLocals(locals);
            return new Flow(FlowKind.Returned, value);
        }
        var names = AssignedNames(s.Body).Concat(AssignedNames(s.OrElse)).Distinct().ToList();
        var before = new Dictionary<string, AstValue>(_frame.Locals);
        AstValue Run(IReadOnlyList<Stmt> block, string side)
        {
            RestoreLocals(before);
            ExecBlock(block, null);
            return new TupleVal(names.Select(n => _frame.Locals.TryGetValue(n, out var v) ? v
                : new UndefinedVal($"'{n}' is assigned only in the {(side == "true" ? "false" : "true")} branch of the if at line {s.At.Line}, whose condition is a tensor")).ToList());
        }
        var merged = (TupleVal)Branches(predicate, s.At, () => Run(s.Body, "true"), () => Run(s.OrElse, "false"), "variables assigned in the branches");
        RestoreLocals(before);
        for (var i = 0; i < names.Count; i++) _frame.Locals[names[i]] = merged.Items[i];
        return Flow.Normal;
    }

    /// <summary>Puts the current frame's variables back as they were (each branch starts from the same state).</summary>
    private void RestoreLocals(Dictionary<string, AstValue> saved)
    {
        _frame.Locals.Clear();
        foreach (var (k, v) in saved) _frame.Locals[k] = v;
    }

    private AstValue Returned(IReadOnlyList<Stmt> block, Span at)
    {
        var flow = ExecBlock(block, []);
        return flow.Kind == FlowKind.Returned ? flow.Value! : None(at);
    }

    /// <summary>
    /// Runs both branches as subgraphs and joins them into a cond node: what each branch yields must
    /// agree (tensors: shape and dtype; Python values: equal); tensors become the cond's outputs.
    /// </summary>
    private AstValue Branches(TensorVal predicate, Span at, Func<AstValue> trueBranch, Func<AstValue> falseBranch, string what)
    {
        var (trueValue, trueScope) = InSubgraph(trueBranch);
        var (falseValue, falseScope) = InSubgraph(falseBranch);
        var leaves = new List<(TensorVal True, TensorVal False)>();
        var template = Unify(trueValue, falseValue, leaves, what, at);
        if (leaves.Count == 0) return template;
        var trueOutputs = Outputs(trueScope, leaves.Select(l => l.True), at);
        var falseOutputs = Outputs(falseScope, leaves.Select(l => l.False), at);
        if (!trueOutputs.Select(trueScope.Builder.MetaOf).SequenceEqual(falseOutputs.Select(falseScope.Builder.MetaOf)))
            throw Error(at, "branch mismatch", $"the branches give {what} with different metadata: {Metas(trueScope, trueOutputs)} and {Metas(falseScope, falseOutputs)}",
                "make both branches produce tensors of the same shape, dtype and requires_grad");
        var operands = Operands(trueScope, falseScope);
        var trueGraph = trueScope.Finish(_ => Tuple(trueOutputs), [], operands);
        var falseGraph = falseScope.Finish(_ => Tuple(falseOutputs), [], operands);
        var node = _scope.Builder.Cond(Use(predicate), trueGraph, falseGraph, operands.Select(o => (Arg)Use(o)).ToList());
        var results = leaves.Select((_, i) => (AstValue)new TensorVal(_scope.Builder.Call(Ops.GetItem, node, (long)i).Name,
            (TensorMeta)((TupleMeta)_scope.Builder.MetaOf(node)).Items[i], _scope)).ToList();
        return Fill(template, results);
    }

    private static ListArg Tuple(IEnumerable<RefArg> items) => new(items.Select(i => (Arg)i).ToEquatableList(), IsTuple: true);

    private static string Metas(GraphScope scope, IEnumerable<RefArg> values) => "(" + string.Join(", ", values.Select(v => MetaText.Format(scope.Builder.MetaOf(v)))) + ")";

    /// <summary>The leaves as nodes of <paramref name="scope"/>: contiguous, so that both branches' outputs have one layout.</summary>
    private List<RefArg> Outputs(GraphScope scope, IEnumerable<TensorVal> leaves, Span at)
    {
        var saved = _scope;
        _scope = scope;
        try
        {
            return leaves.Select(l =>
            {
                var contiguous = l.Meta.Strides is { } s && s.Equals(l.Meta.Shape.ContiguousStrides());
                return contiguous ? Use(l) : Use((TensorVal)CallTensorMethod(l, "contiguous", [], [], at));
            }).ToList();
        }
        finally { _scope = saved; }
    }

    /// <summary>Every outer tensor either subgraph read, in first-use order: the operands both take.</summary>
    private static List<TensorVal> Operands(params GraphScope[] scopes)
    {
        var seen = new HashSet<(GraphScope, string)>();
        return scopes.SelectMany(s => s.Lifted).Where(l => seen.Add((l.Outer.Scope, l.Outer.Node))).Select(l => l.Outer).ToList();
    }

    private (T Value, GraphScope Scope) InSubgraph<T>(Func<T> body)
    {
        var saved = _scope;
        var scope = new GraphScope(saved, saved.Builder.GradEnabled) { };
        _scope = scope;
        scope.Builder.Source = saved.Builder.Source;
        try { return (body(), scope); }
        finally { _scope = saved; }
    }

    /// <summary>The common shape of two branch values, with tensors as <see cref="Leaf"/> holes collected in <paramref name="leaves"/>.</summary>
    private AstValue Unify(AstValue a, AstValue b, List<(TensorVal, TensorVal)> leaves, string what, Span at)
    {
        switch (a, b)
        {
            case (UndefinedVal u, _): return u;
            case (_, UndefinedVal u): return u;
            case (TensorVal x, TensorVal y) when x == y && x.Scope.Encloses(_scope): return x; // unchanged outer tensor
            case (TensorVal x, TensorVal y):
                if (!x.Meta.Shape.Equals(y.Meta.Shape) || x.Meta.DType != y.Meta.DType)
                    throw Error(at, "branch mismatch", $"the branches of this if give {what} as tensors of different types: {x.Meta} in the true branch, {y.Meta} in the false branch",
                        "make both branches produce the same shape and dtype");
                leaves.Add((x, y));
                return new Leaf(leaves.Count - 1);
            case (ConstVal x, ConstVal y) when x.Value.Is(y.Value) || (x.Value.TypeName == y.Value.TypeName && x.Value.PyEquals(y.Value)):
                return x;
            case (TupleVal x, TupleVal y) when x.Items.Count == y.Items.Count:
                return new TupleVal(x.Items.Zip(y.Items, (i, j) => Unify(i, j, leaves, what, at)).ToList()) { NamedType = x.NamedType };
            case (ListVal x, ListVal y) when x == y:
                return x;
            case (ListVal x, ListVal y) when x.Items.Count == y.Items.Count:
                return new ListVal(x.Items.Zip(y.Items, (i, j) => Unify(i, j, leaves, what, at)).ToList(), _scope);
            case (ObjVal x, ObjVal y) when x.Object.Is(y.Object):
                return x;
            default:
                throw Error(at, "branch mismatch", $"the branches of this if, whose condition is a tensor, give {what} as {Describe(a)} and {Describe(b)}",
                    "make both branches produce tensors of the same shape and dtype (a Python value must be the same in both)");
        }
    }

    private AstValue Fill(AstValue template, IReadOnlyList<AstValue> results) => template switch
    {
        Leaf l => results[l.Index],
        TupleVal t => new TupleVal(t.Items.Select(i => Fill(i, results)).ToList()) { NamedType = t.NamedType },
        ListVal l when l.Items.Any(i => i is Leaf or TupleVal or ListVal) => new ListVal(l.Items.Select(i => Fill(i, results)).ToList(), _scope),
        _ => template,
    };

    // ---- a ? b : c ----

    private AstValue Conditional(IfExpr e)
    {
        var test = EvalTest(e.Test);
        if (test is not TensorVal t) return Eval(Decided("if expression", e.Test.At, Truth(test, e.Test.At)) ? e.Body : e.OrElse);
        var predicate = Predicate(t, e.Test.At);
        if (IsCheapAndPure(e.Body) && IsCheapAndPure(e.OrElse))
        {
            var mark = _scope.Builder.Mark();
            var a = Eval(e.Body);
            var b = Eval(e.OrElse);
            // where() broadcasts the predicate: only when that changes nothing is it the same as picking a side;
            // and with gradients, where() gives the side not taken a zero gradient where eager gives it none
            // (an optimizer would then step it: weight decay, momentum)
            if (a is TensorVal x && b is TensorVal y && x.Meta.Shape.Equals(y.Meta.Shape) && x.Meta.DType == y.Meta.DType
                && predicate.Meta.Rank <= x.Meta.Rank && !x.Meta.RequiresGrad && !y.Meta.RequiresGrad)
                return Op(Ops.Where, [Use(predicate), Use(x), Use(y)], [], e.At);
            _scope.Builder.Truncate(mark);
        }
        return Branches(predicate, e.At, () => Eval(e.Body), () => Eval(e.OrElse), "the value of the conditional expression");
    }

    /// <summary>Names, constants, attributes, subscripts and operators: evaluating both sides costs little and changes nothing.</summary>
    private static bool IsCheapAndPure(Expr e) => e switch
    {
        NameExpr or ConstantExpr => true,
        AttributeExpr a => IsCheapAndPure(a.Value),
        SubscriptExpr s => IsCheapAndPure(s.Value) && IsCheapAndPure(s.Index),
        SliceExpr s => new[] { s.Lower, s.Upper, s.Step }.All(p => p is null || IsCheapAndPure(p)),
        BinaryExpr b => IsCheapAndPure(b.Left) && IsCheapAndPure(b.Right),
        UnaryExpr u => IsCheapAndPure(u.Operand),
        CompareExpr c => IsCheapAndPure(c.Left) && c.Comparators.All(IsCheapAndPure),
        TupleExpr t => t.Items.All(IsCheapAndPure),
        _ => false,
    };

    // ---- loops ----

    private Flow For(ForStmt f)
    {
        if (f.Iter is CallExpr { Function: NameExpr { Id: "range" } } range && range.Args.Count is >= 1 and <= 3)
        {
            var bounds = range.Args.Select(Eval).ToList();
            if (bounds.Any(b => b is TensorVal)) return TensorRange(f, bounds, range.At);
        }
        var items = Unpack(Eval(f.Iter), f.Iter.At);
        if (items.Count > MaxUnrolledIterations)
            throw Error(f.At, "long loop", $"this loop runs {items.Count} times; the AST path unrolls loops over Python values and stops at {MaxUnrolledIterations}",
                "loop over a tensor's rows with tensor ops, or use a shorter loop");
        foreach (var item in items)
        {
            Assign(f.Target, item);
            var flow = ExecBlock(f.Body, null);
            if (flow.Kind == FlowKind.Break) return Flow.Normal;
            if (flow.Kind == FlowKind.Returned) return flow;
        }
        return ExecBlock(f.OrElse, null);
    }

    private Flow While(WhileStmt w)
    {
        for (var iteration = 0; ; iteration++)
        {
            var test = EvalTest(w.Test);
            if (test is TensorVal t)
            {
                if (iteration > 0)
                    throw Error(w.Test.At, "while condition", "this while loop's condition turned into a tensor after the loop had started on Python values",
                        "make the condition a tensor from the start (or a Python value throughout)");
                TensorWhile(w, t);
                return ExecBlock(w.OrElse, null);
            }
            if (!Decided("while", w.Test.At, Truth(test, w.Test.At))) return ExecBlock(w.OrElse, null);
            if (iteration >= MaxUnrolledIterations)
                throw Error(w.At, "long loop", $"this while loop on Python values ran {MaxUnrolledIterations} times at capture time", "bound the loop, or make its condition a tensor");
            var flow = ExecBlock(w.Body, null);
            if (flow.Kind == FlowKind.Break) return Flow.Normal;
            if (flow.Kind == FlowKind.Returned) return flow;
        }
    }

    /// <summary>
    /// while on a tensor: a while_loop node. The variables the body assigns are carried (tensors of
    /// fixed shape and dtype); tensors the condition or body only read are carried unchanged.
    /// </summary>
    private void TensorWhile(WhileStmt w, TensorVal firstTest)
    {
        if (ContainsJump(w.Body) || ContainsReturn(w.Body))
            throw Error(w.At, "break in a tensor while", "break, continue and return inside a while loop on a tensor condition cannot be captured",
                "move the exit test into the while condition");
        var assigned = AssignedNames(w.Body).ToList();
        var carriedNames = assigned.Where(n => _frame.Locals.ContainsKey(n) && _frame.Locals[n] is TensorVal).ToList();
        var temporaries = assigned.Except(carriedNames).ToList();
        var initial = carriedNames.Select(n => Contiguous((TensorVal)_frame.Locals[n], w.At)).ToList();
        var before = new Dictionary<string, AstValue>(_frame.Locals);
        void Restore() => RestoreLocals(before);

        var (test, condScope) = InSubgraph(() =>
        {
            Restore();
            for (var i = 0; i < carriedNames.Count; i++) _frame.Locals[carriedNames[i]] = _scope.Carried(carriedNames[i], initial[i].Meta);
            var value = EvalTest(w.Test);
            if (value is not TensorVal t) throw Error(w.Test.At, "while condition", "this while condition is a tensor on entry but not inside the loop", "keep it a tensor");
            return _scope.Use(Predicate(t, w.Test.At));
        });
        var (body, bodyScope) = InSubgraph(() =>
        {
            Restore();
            for (var i = 0; i < carriedNames.Count; i++) _frame.Locals[carriedNames[i]] = _scope.Carried(carriedNames[i], initial[i].Meta);
            ExecBlock(w.Body, null);
            var results = new List<RefArg>();
            for (var i = 0; i < carriedNames.Count; i++)
            {
                var value = _frame.Locals[carriedNames[i]];
                if (value is not TensorVal t)
                    throw Error(w.At, "loop-carried value", $"'{carriedNames[i]}' is a tensor before this while loop but {Describe(value)} after its body", "keep it a tensor");
                t = Contiguous(t, w.At);
                if (!t.Meta.Equals(initial[i].Meta))
                    throw Error(w.At, "loop-carried value", $"'{carriedNames[i]}' changes from {MetaText.Format(initial[i].Meta)} to {MetaText.Format(t.Meta)} in the body of this while loop on a tensor condition",
                        "keep loop variables the same shape, dtype and requires_grad in every iteration");
                results.Add(_scope.Use(t));
            }
            foreach (var (name, old) in before.Where(p => !carriedNames.Contains(p.Key) && assigned.Contains(p.Key)))
                if (!SameValue(old, _frame.Locals[name]))
                    throw Error(w.At, "loop-carried value", $"'{name}' is {Describe(old)} and changes in the body of this while loop on a tensor condition; only tensors can change in such a loop",
                        $"make '{name}' a tensor (torch.tensor(...)) before the loop");
            return results;
        });
        var operands = Operands(condScope, bodyScope);
        var condGraph = condScope.Finish(_ => test, initial, operands);
        var bodyGraph = bodyScope.Finish(lifted => Tuple(body.Concat(lifted)), initial, operands);
        Restore();
        var node = _scope.Builder.WhileLoop(condGraph, bodyGraph, initial.Concat(operands).Select(o => (Arg)Use(o)).ToList());
        var metas = (TupleMeta)_scope.Builder.MetaOf(node);
        for (var i = 0; i < carriedNames.Count; i++)
            _frame.Locals[carriedNames[i]] = new TensorVal(_scope.Builder.Call(Ops.GetItem, node, (long)i).Name, (TensorMeta)metas.Items[i], _scope);
        foreach (var name in temporaries)
            _frame.Locals[name] = new UndefinedVal($"'{name}' is assigned inside the while loop at line {w.At.Line}, whose condition is a tensor: only variables defined before the loop carry out of it");
        _ = firstTest;
    }

    /// <summary>for i in range(n) with n a tensor: a while_loop carrying the counter as a 0-d int64 tensor.</summary>
    private Flow TensorRange(ForStmt f, IReadOnlyList<AstValue> bounds, Span at)
    {
        if (f.Target is not NameExpr target)
            throw Error(f.Target.At, "loop target", "a loop over range() of a tensor needs a single name as its target", "write `for i in range(n):`");
        if (f.OrElse.Count > 0) throw Error(f.At, "for-else", "for-else over range() of a tensor cannot be captured", "drop the else");
        AstValue start = bounds.Count > 1 ? bounds[0] : new ConstVal(Py.Int(0));
        var stop = bounds.Count > 1 ? bounds[1] : bounds[0];
        AstValue step = bounds.Count > 2 ? bounds[2] : new ConstVal(Py.Int(1));
        if (step is not ConstVal { Value.IsInt: true } s || s.Value.ToInt64() == 0)
            throw Error(at, "range step", "range() of a tensor needs a nonzero Python int step", "use a constant step");
        foreach (var bound in new[] { start, stop })
            if (bound is TensorVal tb && (tb.Meta.Shape.NumElements("range") != 1 || tb.Meta.DType.IsFloatingPoint() || tb.Meta.DType == DType.Bool))
                throw Error(at, "range of a tensor", $"range() needs a one-element integer tensor, got {tb.Meta}", "pass an int64 tensor with one element");
        // i = start; while i < stop: body; i += step  (the counter is assigned before the body so the body may read it)
        var counterName = $"__range_{f.At.Line}_{f.At.Column}";
        var counter = start is TensorVal st ? (TensorVal)Op(Ops.Reshape, [Use(st), Arg.Ints()], [], at) : (TensorVal)Op("torch.scalar_tensor", [ToArg(start, at)], [new Kwarg("dtype", new DTypeArg(DType.Int64))], at);
        counter = (TensorVal)CallTensorMethod(counter, "to", [new ConstVal(DTypeObject(DType.Int64))], [], at);
        var limit = stop is TensorVal sp ? (TensorVal)Op(Ops.Reshape, [Use(sp), Arg.Ints()], [], at) : (TensorVal)Op("torch.scalar_tensor", [ToArg(stop, at)], [new Kwarg("dtype", new DTypeArg(DType.Int64))], at);
        _frame.Locals[counterName] = counter;
        _frame.Locals[counterName + "_stop"] = limit;
        var increasing = s.Value.ToInt64() > 0;
        var loop = new WhileStmt(f.At,
            new CompareExpr(at, new NameExpr(at, counterName), [increasing ? "<" : ">"], [new NameExpr(at, counterName + "_stop")]),
            f.Body.Prepend(new AssignStmt(at, [f.Target], new NameExpr(at, counterName)))
                .Append(new AssignStmt(at, [new NameExpr(at, counterName)], new BinaryExpr(at, new NameExpr(at, counterName), "+", new ConstantExpr(at, ConstantKind.Int, s.Value.ToInt64().ToString())))).ToList(),
            []);
        if (!_frame.Locals.ContainsKey(target.Id)) _frame.Locals[target.Id] = counter;
        TensorWhile(loop, counter);
        _frame.Locals.Remove(counterName);
        _frame.Locals.Remove(counterName + "_stop");
        return Flow.Normal;
    }

    private TensorVal Contiguous(TensorVal t, Span at) =>
        t.Meta.Strides is { } s && s.Equals(t.Meta.Shape.ContiguousStrides()) ? t : (TensorVal)CallTensorMethod(t, "contiguous", [], [], at);

    private static bool SameValue(AstValue a, AstValue b) => ReferenceEquals(a, b) || (a, b) switch
    {
        (ConstVal x, ConstVal y) => x.Value.Is(y.Value) || (x.Value.TypeName == y.Value.TypeName && x.Value.PyEquals(y.Value)),
        (ObjVal x, ObjVal y) => x.Object.Is(y.Object),
        _ => a.Equals(b),
    };

    // ---- syntax queries ----

    /// <summary>Names a block assigns (assignments, loop targets), in order, without looking into nested functions.</summary>
    private static IEnumerable<string> AssignedNames(IEnumerable<Stmt> block)
    {
        foreach (var s in block)
        {
            var names = s switch
            {
                AssignStmt a => a.Targets.SelectMany(TargetNames),
                AugAssignStmt a => TargetNames(a.Target),
                AnnAssignStmt { Value: not null } a => TargetNames(a.Target),
                ForStmt f => TargetNames(f.Target).Concat(AssignedNames(f.Body)).Concat(AssignedNames(f.OrElse)),
                IfStmt i => AssignedNames(i.Body).Concat(AssignedNames(i.OrElse)),
                WhileStmt w => AssignedNames(w.Body).Concat(AssignedNames(w.OrElse)),
                _ => [],
            };
            foreach (var n in names) yield return n;
        }
    }

    private static IEnumerable<string> TargetNames(Expr target) => target switch
    {
        NameExpr n => [n.Id],
        TupleExpr t => t.Items.SelectMany(TargetNames),
        ListExpr l => l.Items.SelectMany(TargetNames),
        StarredExpr s => TargetNames(s.Value),
        _ => [],
    };

    private static bool ContainsReturn(IEnumerable<Stmt> block) => block.Any(s => s switch
    {
        ReturnStmt => true,
        IfStmt i => ContainsReturn(i.Body) || ContainsReturn(i.OrElse),
        ForStmt f => ContainsReturn(f.Body) || ContainsReturn(f.OrElse),
        WhileStmt w => ContainsReturn(w.Body) || ContainsReturn(w.OrElse),
        _ => false,
    });

    /// <summary>A break or continue that would leave an enclosing loop (not one inside a nested loop).</summary>
    private static bool ContainsJump(IEnumerable<Stmt> block) => block.Any(s => s switch
    {
        BreakStmt or ContinueStmt => true,
        IfStmt i => ContainsJump(i.Body) || ContainsJump(i.OrElse),
        _ => false,
    });
}
