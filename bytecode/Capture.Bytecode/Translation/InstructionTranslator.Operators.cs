namespace Capture.Bytecode;

// Operators on tensors become registry ops; on constants they run for real (Python's own semantics).
public sealed partial class InstructionTranslator
{
    private StepResult BinaryOp(Instruction ins)
    {
        var right = Pop();
        var left = Pop();
        var symbol = ins.Operator!;
        var inPlace = symbol.EndsWith('=');
        var key = inPlace ? symbol[..^1] : symbol;
        var op = PythonOperators.Binary[key];
        var (torchOp, inPlaceMethod) = (op.TorchOp, op.InPlaceMethod);
        if (SizeArithmetic(key, left, right) is { } size)
        {
            Push(size);
            return StepResult.Continue;
        }
        if (left is TensorValue || right is TensorValue)
        {
            foreach (var dunder in op.Dunders) _context.TensorTypeLookup(dunder);
            if (torchOp is null) return new StepResult.Break($"operator {symbol} on a tensor is not supported{At(ins)}");
            if (inPlace && left is TensorValue self && inPlaceMethod is not null)
                return PushOrBreak(ins, () => CallMethodOp(self, inPlaceMethod, [ToArg(right)], []));
            return PushOrBreak(ins, () => CallOp(torchOp, [ToArg(left), ToArg(right)], []));
        }
        if (IsUserObject(left) && UserDunder(ins, left, inPlace ? op.Dunders.ElementAt(2) : op.Dunders.First(), [right]) is { } forward)
            return forward;
        if (IsUserObject(left) && inPlace && UserDunder(ins, left, op.Dunders.First(), [right]) is { } fallback)
            return fallback;
        if (IsUserObject(right) && UserDunder(ins, right, op.Dunders.ElementAt(1), [left]) is { } reflected)
            return reflected;
        if (left is SetValue || right is SetValue)
        {
            // |, &, -, ^ on sets of constants (|= and friends update the left set in place)
            var setOp = key switch { "|" => "union", "&" => "intersection", "-" => "difference", "^" => "symmetric_difference", _ => null };
            if (setOp is null || SetItemsOf(left) is not { } a || SetItemsOf(right) is not { } b || left is not (SetValue or ConstValue) || right is not (SetValue or ConstValue))
                return new StepResult.Break($"operator {symbol} on a {Describe(left)} and a {Describe(right)}{At(ins)}");
            // the result has the left operand's type: frozenset | set is a frozenset
            var computed = SetResult(ins, a, setOp, [b], frozen: left is ConstValue);
            if (computed is StepResult.Next && inPlace && left is SetValue target && Pop() is SetValue result)
            {
                _context.SetSetItems(target, result.Items);
                Push(target);
            }
            return computed;
        }
        if (SequenceOperator(key, inPlace, left, right) is { } sequence)
        {
            Push(sequence);
            return StepResult.Continue;
        }
        return RealOperator(ins, inPlace ? op.InPlaceFunction : op.Function, left, right);
    }

    /// <summary>
    /// + and * on tuples and lists (a tuple or a list of graph values): a new sequence; `items += other`
    /// on a list extends that list in place (every holder sees it). Null for anything else.
    /// </summary>
    private SymValue? SequenceOperator(string key, bool inPlace, SymValue left, SymValue right)
    {
        static IReadOnlyList<SymValue>? Items(SymValue v) => v switch { TupleValue t => t.Items, ListValue l => l.Items, _ => null };
        static long? Count(SymValue v) => v is ConstValue { Value.IsInt: true, Value.IsBool: false } c ? c.Value.ToInt64() : null;
        switch (key)
        {
            case "|" when left is DictValue a && right is DictValue b:
                if (!inPlace) return new DictValue(Merged(a.Items, b.Items)) { Type = a.Type, Factory = a.Factory };
                _context.SetDictItems(a, Merged(a.Items, b.Items));
                return a;
            case "+" when left is TupleValue lt && right is TupleValue rt:
                return new TupleValue(lt.Items.Concat(rt.Items).ToList());
            case "+" when left is TupleValue lt && right is ConstValue { Value.IsTuple: true } c:
                return new TupleValue(lt.Items.Concat(ConstItems(c)).ToList());
            case "+" when left is ConstValue { Value.IsTuple: true } c && right is TupleValue rt:
                return new TupleValue(ConstItems(c).Concat(rt.Items).ToList());
            case "+" when left is ListValue ll && Items(right) is { } added && (right is ListValue || inPlace):
                if (!inPlace) return new ListValue(ll.Items.Concat(added).ToList());
                _context.SetItems(ll, ll.Items.Concat(added).ToList());
                return ll;
            case "*":
                var (items, n) = Items(left) is { } l && Count(right) is { } r ? (l, r) : Items(right) is { } l2 && Count(left) is { } r2 ? (l2, r2) : (null, 0L);
                if (items is null || n * items.Count > 4096) return null;
                var repeated = Enumerable.Range(0, (int)Math.Max(0, n)).SelectMany(_ => items).ToList();
                if (left is TupleValue || right is TupleValue) return new TupleValue(repeated);
                if (!inPlace || left is not ListValue list) return new ListValue(repeated);
                _context.SetItems(list, repeated);
                return list;
            default:
                return null;
        }
    }

    private static List<SymValue> ConstItems(ConstValue tuple) =>
        tuple.Value.ToItems().Select(i => (SymValue)new ConstValue(i)).ToList();

    private StepResult Compare(Instruction ins)
    {
        var right = Pop();
        var left = Pop();
        var op = PythonOperators.Comparisons[ins.Operator!];
        if (IsUserObject(left) && UserDunder(ins, left, op.Dunders.First(), [right]) is { } compared)
            return compared;
        if (ins.Operator is "==" or "!=" && left is ObjectValue or UserObjectValue && right is ObjectValue or UserObjectValue or ConstValue && IdentityEquality(left))
        {
            // enum members, plain objects: == is identity (object.__eq__)
            bool same = (left, right) switch
            {
                (ObjectValue a, ObjectValue b) => a.Object.Is(b.Object),
                (ObjectValue a, ConstValue b) => a.Object.Is(b.Value),
                _ => ReferenceEquals(left, right),
            };
            Push(Const(Py.Bool(same == (ins.Operator == "=="))));
            return StepResult.Continue;
        }
        if (SizeComparisonOf(ins.Operator!) is { } comparison && (left is SymIntValue || right is SymIntValue) && AsSize(left) is { } leftSize && AsSize(right) is { } rightSize)
        {
            // a branch on a dynamic size: decided by this call's sizes, and guarded
            Push(Const(Py.Bool(Sizes.Compare(leftSize, comparison, rightSize, "Python compares the sizes"))));
            return StepResult.Continue;
        }
        if (ins.Operator is "==" or "!=" && SizesEqual(left, right) is { } equal)
        {
            // target.size() == input.size() with dynamic sizes: item by item, each decided and guarded
            Push(Const(Py.Bool(equal == (ins.Operator == "=="))));
            return StepResult.Continue;
        }
        if (SizeComparisonOf(ins.Operator!) is { } floatComparison && FloatComparison(floatComparison, left, right) is { } outcome)
        {
            Push(outcome);
            return StepResult.Continue;
        }
        if (left is TensorValue || right is TensorValue)
        {
            foreach (var dunder in op.Dunders) _context.TensorTypeLookup(dunder);
            // 2 < x is x > 2: torch's comparisons take the tensor first
            if (left is not TensorValue && right is TensorValue)
                return PushOrBreak(ins, () => CallOp(op.SwappedTorchOp, [ToArg(right), ToArg(left)], []));
            return PushOrBreak(ins, () => CallOp(op.TorchOp, [ToArg(left), ToArg(right)], []));
        }
        return RealOperator(ins, op.Function, left, right);
    }

    /// <summary>
    /// A comparison of a float a break left on the stack (a <c>.item()</c>) with a number constant:
    /// decided by this call's value, guarding the outcome (<c>S[0] &gt; 0.0</c>), not the value; null
    /// for anything else.
    /// </summary>
    private ConstValue? FloatComparison(SizeComparison comparison, SymValue left, SymValue right)
    {
        var (scalar, other, op) = (left, right) switch
        {
            (ScalarInputValue l, ConstValue r) when r is not ScalarInputValue => (l, r, comparison),
            (ConstValue l, ScalarInputValue r) when l is not ScalarInputValue => (r, l, Swapped(comparison)),
            _ => default,
        };
        if (scalar?.Source is not { } source || other!.Value is not { IsBool: false } bound || !(bound.IsInt || bound.IsFloat)) return null;
        var value = scalar.Peek.ToDouble();
        var limit = bound.ToDouble();
        var holds = op.Holds(value, limit);
        var guard = new FloatRelationGuard(source, op, limit, holds, "a comparison of the value");
        _context.Guards.Add(guard, $"compares {source} with {bound.Repr()} (the outcome is guarded, not the value)");
        return new ConstValue(Py.Bool(holds)) { DependsOn = [guard] };
    }

    /// <summary>
    /// Whether two tuples of sizes (a <c>torch.Size</c> with a symbolic size among ints) are equal, as
    /// Python's == on tuples: same length, then item by item up to the first unequal one, each
    /// comparison decided and guarded; null when neither holds a symbolic size or an item is no size.
    /// </summary>
    private static bool? SizesEqual(SymValue left, SymValue right)
    {
        if (left is not TupleValue a || right is not TupleValue b || !a.Items.Concat(b.Items).Any(i => i is SymIntValue)) return null;
        var sizesA = a.Items.Select(AsSize).ToList();
        var sizesB = b.Items.Select(AsSize).ToList();
        if (sizesA.Concat(sizesB).Any(s => s is null)) return null;
        if (sizesA.Count != sizesB.Count) return false;
        for (var i = 0; i < sizesA.Count; i++)
            if (!Sizes.Equal(sizesA[i]!.Value, sizesB[i]!.Value, "Python compares two shapes")) return false;
        return true;
    }

    private static SizeComparison Swapped(SizeComparison op) => op switch
    {
        SizeComparison.Lt => SizeComparison.Gt,
        SizeComparison.Le => SizeComparison.Ge,
        SizeComparison.Gt => SizeComparison.Lt,
        SizeComparison.Ge => SizeComparison.Le,
        _ => op,
    };

    /// <summary>+, -, *, //, % on a symbolic size and an int (or another symbolic size): a symbolic size; null for anything else.</summary>
    private ConstValue? SizeArithmetic(string op, SymValue left, SymValue right)
    {
        if (left is not SymIntValue && right is not SymIntValue || op is not ("+" or "-" or "*" or "//" or "%")) return null;
        if (AsSize(left) is not { } a || AsSize(right) is not { } b) return null;
        SizeExpr result;
        try
        {
            result = op switch
            {
                "+" => a.AsExpr + b.AsExpr,
                "-" => a.AsExpr - b.AsExpr,
                "*" => a.AsExpr * b.AsExpr,
                "//" => SizeExpr.FloorDiv(a.AsExpr, b.AsExpr),
                _ => b.Value is { } d && d > 0 ? SizeExpr.Mod(a.AsExpr, d) : throw new NotSupportedException("a remainder by a symbolic size"),
            };
        }
        catch (Exception e) when (e is NotSupportedException or DivideByZeroException)
        {
            return null; // Python computes it from the values (the sizes specialize)
        }
        if (result.ConstantValue is { } constant) return Const(Py.Int(constant));
        var dim = Dim.Of(result);
        return new SymIntValue(dim, Py.Int(result.Evaluate(_context.Shapes.Hints)), () => Sizes.Value(dim, $"the size {dim} is used as a plain Python int"));
    }

    /// <summary>A symbolic size, or a plain int constant, as a size expression; null for anything else (a bool, a float).</summary>
    private static Dim? AsSize(SymValue value) => value switch
    {
        SymIntValue s => s.Size,
        ConstValue c when c.Value is { IsInt: true, IsBool: false } v => Dim.Of(SizeExpr.Constant(v.ToInt64())),
        _ => null,
    };

    private static SizeComparison? SizeComparisonOf(string op) => op switch
    {
        "==" => SizeComparison.Eq, "!=" => SizeComparison.Ne, "<" => SizeComparison.Lt,
        "<=" => SizeComparison.Le, ">" => SizeComparison.Gt, ">=" => SizeComparison.Ge, _ => null,
    };

    private StepResult IsOp(Instruction ins)
    {
        var right = Pop();
        var left = Pop();
        bool? same = (left, right) switch
        {
            (ConstValue a, ConstValue b) => a.Value.Is(b.Value),
            (ObjectValue a, ObjectValue b) => a.Object.Is(b.Object),
            (ObjectValue a, ConstValue b) => a.Object.Is(b.Value),
            (ConstValue a, ObjectValue b) => a.Value.Is(b.Object),
            (TensorValue a, TensorValue b) => a.Node == b.Node,
            (UserObjectValue a, UserObjectValue b) => ReferenceEquals(a, b),
            (UserObjectValue, ConstValue or TensorValue or TupleValue or ListValue or DictValue) or (ConstValue or TensorValue or TupleValue or ListValue or DictValue, UserObjectValue) => false,
            (ListValue a, ListValue b) => ReferenceEquals(a, b),
            (DictValue a, DictValue b) => ReferenceEquals(a, b),
            (SetValue a, SetValue b) => ReferenceEquals(a, b),
            (SetValue, ConstValue) or (ConstValue, SetValue) => false,
            (TensorValue, ConstValue { Value.IsNone: true }) or (ConstValue { Value.IsNone: true }, TensorValue) => false,
            (TupleValue or ListValue or DictValue or TensorValue, ConstValue) => false,
            _ => null,
        };
        if (same is null) return new StepResult.Break($"'is' between a {Describe(left)} and a {Describe(right)}{At(ins)}");
        Push(Const(Py.Bool(same.Value != (ins.Arg == 1))));
        return StepResult.Continue;
    }

    private StepResult Contains(Instruction ins)
    {
        var container = Pop();
        var item = Pop();
        if (container is TupleValue or ListValue && item is ConstValue c)
        {
            var items = container is TupleValue t ? t.Items : ((ListValue)container).Items;
            if (items.All(i => i is ConstValue))
            {
                var found = items.Cast<ConstValue>().Any(i => i.Value.PyEquals(c.Value));
                Push(Const(Py.Bool(found != (ins.Arg == 1))));
                return StepResult.Continue;
            }
        }
        if (container is ObjectValue { Kind: ObjectKind.NnModule, Source: { } moduleSource } md && item is ConstValue { Value.IsStr: true } name
            && ModuleContainer(md, "__contains__") == "ModuleDict")
        {
            // "a" in self.heads: its keys, guarded
            using var modules = md.Object.GetAttr("_modules");
            using var keys = modules.CallMethod("keys");
            var names = keys.Iterate().Select(k => { using (k) return k.AsString(); }).ToList();
            _context.Guards.Add(new DictKeysGuard(new AttrSource(moduleSource, "_modules"), names));
            Push(Const(Py.Bool(names.Contains(name.Value.AsString()) != (ins.Arg == 1))));
            return StepResult.Continue;
        }
        if (container is DictValue or SetValue && KeyOf(item) is { } key)
        {
            var found = container is DictValue d ? d.Find(key) is not null : ((SetValue)container).Items.Contains(key);
            Push(Const(Py.Bool(found != (ins.Arg == 1))));
            return StepResult.Continue;
        }
        if (container is ConstValue && item is ConstValue)
            return RealOperator(ins, ins.Arg == 1 ? "not_contains" : "contains", container, item);
        return new StepResult.Break($"'in' on a {Describe(container)}{At(ins)}");
    }

    private StepResult Unary(Instruction ins)
    {
        var value = Pop();
        if (IsUserObject(value) && ins.Opcode != Opcode.UNARY_NOT
            && UserDunder(ins, value, "__" + PythonOperators.UnaryFunction(ins.UnarySymbol!) + "__", []) is { } unary)
            return unary;
        if (value is TensorValue t)
        {
            if (ins.Opcode != Opcode.UNARY_NOT) _context.TensorTypeLookup("__" + PythonOperators.UnaryFunction(ins.UnarySymbol!) + "__");
            return ins.Opcode switch
            {
                Opcode.UNARY_NEGATIVE => PushOrBreak(ins, () => CallOp(Ops.Neg, [new RefArg(t.Node)], [])),
                Opcode.UNARY_POSITIVE => Do(() => Push(t)),
                Opcode.UNARY_INVERT when t.Meta.DType == DType.Bool => PushOrBreak(ins, () => CallOp(Ops.LogicalNot, [new RefArg(t.Node)], [])),
                Opcode.UNARY_NOT => new StepResult.Break($"data-dependent branch: `not` on a tensor{At(ins)}"),
                _ => new StepResult.Break($"{ins.OpName} on a {t.Meta.DType.TorchName()} tensor is not supported{At(ins)}"),
            };
        }
        if (ins.Opcode == Opcode.UNARY_NOT && Truth(value) is { } truth)
        {
            Push(Derived(Py.Bool(!truth), [value]));
            return StepResult.Continue;
        }
        return RealOperator(ins, PythonOperators.UnaryFunction(ins.UnarySymbol!), value);
    }

    /// <summary>Tensor indexing the registry's getitem does not cover, as an opaque call of torch's own.</summary>
    private const string AdvancedIndex = "torch.Tensor.__getitem__";

    private StepResult Subscript(Instruction ins)
    {
        var index = Pop();
        var container = Pop();
        if (IsUserObject(container) && UserDunder(ins, container, "__getitem__", [index]) is { } item)
            return item;
        switch (container)
        {
            case TensorValue t:
                _context.TensorTypeLookup("__getitem__");
                Arg indexArg;
                try { indexArg = IndexArg(index); }
                catch (ArgumentConversionException e) { return new StepResult.Break($"{e.Message}{At(ins)}"); }
                if (indexArg.References().Any(r => _context.Builder.MetaOf(r) is TensorMeta))
                    // advanced indexing with integer tensors (a gather; a boolean mask's result size depends on values: refused by the fake run)
                    return PushOrBreak(ins, () => CallOp(AdvancedIndex, [new RefArg(t.Node), indexArg], []));
                if (ListOfIntsIndex(indexArg) is { } advanced)
                    return advanced.Outside(t.Meta) is { } outside
                        ? new StepResult.Break($"index {outside} is out of bounds for dimension {advanced.Dim(t.Meta)} with size {t.Meta.Shape[advanced.Dim(t.Meta)]}{At(ins)}")
                        : PushOrBreak(ins, () => IndexByList(t, advanced));
                return PushOrBreak(ins, () =>
                {
                    // what the registry's getitem does not index (lists of lists...) torch indexes as an opaque call
                    try { return CallOp(Ops.GetItem, [new RefArg(t.Node), indexArg], []); }
                    catch (NotSupportedException) { return CallOp(AdvancedIndex, [new RefArg(t.Node), indexArg], []); }
                });
            case TupleValue or ListValue when index is ConstValue c && (c.Value.IsInt || c.Value.TypeName == "slice"):
                var items = container is TupleValue tv ? tv.Items : ((ListValue)container).Items;
                if (c.Value.IsInt)
                {
                    var i = c.Value.ToInt64();
                    if (i < -items.Count || i >= items.Count) return new StepResult.Break($"index {i} out of range{At(ins)}");
                    Push(items[(int)(i < 0 ? i + items.Count : i)]);
                    return StepResult.Continue;
                }
                using (var range = Py.Eval($"range({items.Count})"))
                using (var picked = range.GetItem(c.Value))
                {
                    var selected = picked.Iterate().Select(p => { using (p) return items[(int)p.ToInt64()]; }).ToList();
                    Push(container is TupleValue ? new TupleValue(selected) : new ListValue(selected));
                }
                return StepResult.Continue;
            case DictValue d when KeyOf(index) is { } key:
                if (d.Find(key) is { } found)
                {
                    Push(found);
                    return StepResult.Continue;
                }
                if (d.Factory is null) return new StepResult.Break($"KeyError {key}{At(ins)}");
                // a defaultdict's missing key: default_factory() is stored under it and returned
                if (DefaultOf(d.Factory) is not { } made) return new StepResult.Break($"defaultdict with the factory {d.Factory.QualifiedName}{At(ins)}");
                _context.SetDictItems(d, [.. d.Items, new(key, made)]);
                Push(made);
                return StepResult.Continue;
            case ConstValue when index is ConstValue:
                return RealOperator(ins, "getitem", container, index);
            case ObjectValue { Kind: ObjectKind.NnModule, Source: { } source } m when index is ConstValue ci && ModuleContainer(m, "__getitem__") is { } kind:
                // self.layers[0], self.layers[1:3], self.heads["a"]: the container's own __getitem__ over _modules
                if (kind == "ModuleDict")
                {
                    if (!ci.Value.IsStr) break;
                    var modulesSource = new AttrSource(source, "_modules");
                    using var modules = m.Object.GetAttr("_modules");
                    var name = ci.Value.AsString();
                    using var present = modules.CallMethod("__contains__", ci.Value);
                    if (!present.IsTrue()) return new StepResult.Break($"KeyError '{name}' in a ModuleDict{At(ins)}");
                    using var child = modules.GetItem(ci.Value);
                    Push(_context.Wrap(child, new KeySource(modulesSource, name)));
                    return StepResult.Continue;
                }
                var children = kind == "ParameterList" ? ParameterItems(m, source) : Children(m, source);
                if (ci.Value.IsInt && !ci.Value.IsBool)
                {
                    var i = ci.Value.ToInt64();
                    if (i < -children.Count || i >= children.Count) return new StepResult.Break($"index {i} out of range of a {kind}{At(ins)}");
                    Push(children[(int)(i < 0 ? i + children.Count : i)]);
                    return StepResult.Continue;
                }
                if (ci.Value.TypeName != "slice" || kind == "ParameterList") break;
                using (var range = Py.Eval($"range({children.Count})"))
                using (var picked = range.GetItem(ci.Value))
                    Push(new ListValue(picked.Iterate().Select(p => { using (p) return children[(int)p.ToInt64()]; }).ToList()));
                return StepResult.Continue;
        }
        return new StepResult.Break($"subscript of a {Describe(container)} with a {Describe(index)}{At(ins)}");
    }

    /// <summary>
    /// An index with one list of ints among ints, slices, None and ... (x[:, [-1], :], x[[0, 2]]): the
    /// basic part with the list taken as a full slice, and which dim of that result the list picks from.
    /// </summary>
    private sealed record ListIndex(EquatableList<Arg> Basic, int Position, IReadOnlyList<long> Picks)
    {
        /// <summary>The dim of the basic result the list indexes: one per slice or None before it, an int none, ... the dims it spans.</summary>
        public int Dim(TensorMeta t)
        {
            var consumed = Basic.Count(a => a is IntArg or SliceArg);
            var dim = 0;
            for (var i = 0; i < Position; i++)
                dim += Basic[i] switch { IntArg => 0, EllipsisArg => t.Rank - consumed, _ => 1 };
            return dim;
        }

        /// <summary>The first pick outside the picked dim (eager raises IndexError), or null.</summary>
        public long? Outside(TensorMeta t)
        {
            // the list's dim in the input: ints before it consume dims too, None adds none
            var consumed = Basic.Count(a => a is IntArg or SliceArg);
            var inputDim = 0;
            for (var i = 0; i < Position; i++)
                inputDim += Basic[i] switch { NoneArg => 0, EllipsisArg => t.Rank - consumed, _ => 1 };
            if (inputDim >= t.Rank || t.Shape[inputDim] is not { IsConcrete: true } size) return null;
            var n = size.Concrete("an index");
            return Picks.Cast<long?>().FirstOrDefault(p => p < -n || p >= n);
        }
    }

    private static ListIndex? ListOfIntsIndex(Arg index)
    {
        static bool IsPicks(Arg a) => a is ListArg { IsTuple: false, Items.Count: > 0 } l && l.Items.All(i => i is IntArg);
        if (IsPicks(index)) index = new ListArg(new[] { index }.ToEquatableList(), IsTuple: true);
        if (index is not ListArg { IsTuple: true } tuple) return null;
        var lists = tuple.Items.Select((a, i) => (a, i)).Where(p => p.a is ListArg).ToList();
        if (lists.Count != 1 || !IsPicks(lists[0].a) || tuple.Items.Any(a => a is not (ListArg or IntArg or SliceArg or NoneArg or EllipsisArg))) return null;
        var position = lists[0].i;
        var basic = tuple.Items.Select((a, i) => i == position ? new SliceArg(NoneArg.Instance, NoneArg.Instance, NoneArg.Instance) : a).ToEquatableList();
        return new ListIndex(basic, position, ((ListArg)lists[0].a).Items.Select(i => ((IntArg)i).Value).ToList());
    }

    /// <summary>
    /// x[..., [i, j], ...] as torch computes it, a new tensor: the basic indexing, then the picked
    /// positions along the list's dim, each a narrow, joined by cat.
    /// </summary>
    private SymValue IndexByList(TensorValue t, ListIndex index)
    {
        var basic = index.Basic.All(a => a is SliceArg { Start: NoneArg, Stop: NoneArg, Step: NoneArg } or EllipsisArg)
            ? t
            : (TensorValue)CallOp(Ops.GetItem, [new RefArg(t.Node), new ListArg(index.Basic, IsTuple: true)], []);
        var dim = index.Dim(t.Meta);
        var size = basic.Meta.Shape[dim];
        // a negative pick counts from the end (of a dynamic size: a symbolic start, size - 1 for [-1])
        Arg Start(long p) => p >= 0 || !Sizes.Compare(Dim.Of(-p), SizeComparison.Le, size, "a list index within the size") ? new IntArg(p) : Arg.Size(size - Dim.Of(-p));
        var parts = index.Picks.Select(p => (Arg)new RefArg(((TensorValue)CallOp(Ops.Narrow, [new RefArg(basic.Node), new IntArg(dim), Start(p), new IntArg(1)], [])).Node)).ToEquatableList();
        return CallOp(Ops.Cat, [new ListArg(parts), new IntArg(dim)], []);
    }

    /// <summary>Runs an operator-module function on constants for real: Python's exact semantics.</summary>
    private StepResult RealOperator(Instruction ins, string function, params SymValue[] operands)
    {
        if (!operands.All(o => o is ConstValue))
            return new StepResult.Break($"operator {ins.Operator ?? ins.OpName} on a {string.Join(" and a ", operands.Select(Describe))}{At(ins)}");
        try
        {
            Push(Derived(PythonOperators.Apply(function, operands.Cast<ConstValue>().Select(o => o.Value).ToArray()), operands));
            return StepResult.Continue;
        }
        catch (PythonException e)
        {
            // The real instruction will raise the same error with the user's line.
            return new StepResult.Break($"{e.PythonType} from {ins.Operator ?? ins.OpName} on constants{At(ins)}");
        }
    }

    /// <summary>Python truthiness where it is known at capture time; null for tensors.</summary>
    private static bool? Truth(SymValue value) => value switch
    {
        ConstValue c => c.Value.IsTrue(),
        TupleValue t => t.Items.Count > 0,
        ListValue l => l.Items.Count > 0,
        DictValue d => d.Items.Count > 0,
        SetValue s => s.Items.Count > 0,
        ObjectValue o => o.Object.IsTrue(),
        TensorMethodValue or GradModeValue => true,
        _ => null,
    };

    /// <summary>
    /// container[index] = value: on a tensor an in-place setitem node; on a list a mutation (replayed
    /// after the graph when the list is the caller's). Dicts and other objects are a break.
    /// </summary>
    private StepResult StoreSubscript(Instruction ins)
    {
        var index = Pop();
        var container = Pop();
        var value = Pop();
        switch (container)
        {
            case TensorValue t when index is TensorValue { Meta.DType: DType.Bool } mask && mask.Meta.Shape == t.Meta.Shape
                && value is ConstValue { Value.IsInt: true } or ConstValue { Value.IsFloat: true } or TensorValue { Meta.Rank: 0 }:
                // x[mask] = v with a mask of x's shape and one value: x.masked_fill_(mask, v), what it does
                _context.TensorTypeLookup("__setitem__");
                var filled = PushOrBreak(ins, () => CallMethodOp(t, "masked_fill_", [new RefArg(mask.Node), ToArg(value)], []));
                if (filled is StepResult.Next) Pop();
                return filled;
            case TensorValue t:
                _context.TensorTypeLookup("__setitem__");
                try
                {
                    var op = Ops.SetItem;
                    _context.Builder.Call(op, [new RefArg(t.Node), IndexArg(index), ToArg(value)]);
                    _context.Mutations++;
                    return StepResult.Continue;
                }
                catch (Exception e) when (e is ShapeError or NotSupportedException or ArgumentConversionException)
                {
                    return new StepResult.Break($"{e.Message}{At(ins)}");
                }
            case ListValue list when index is ConstValue { Value.IsInt: true } c:
                var i = c.Value.ToInt64();
                if (i < 0) i += list.Items.Count;
                if (i < 0 || i >= list.Items.Count) return new StepResult.Break($"list assignment index out of range{At(ins)}");
                var items = list.Items.ToList();
                items[(int)i] = value;
                _context.SetItems(list, items);
                return StepResult.Continue;
            case ListValue list when index is ConstValue { Value.TypeName: "slice" } s && IterableItems(value) is { } replacement:
                // items[1:] = [...]: Python's own slice assignment on positions, then the values placed
                if (SlicePositions(list.Items.Count, s.Value) is not { } positions || positions.Step != 1)
                    return new StepResult.Break($"extended slice assignment on a list{At(ins)}");
                var spliced = list.Items.Take(positions.Start).Concat(replacement).Concat(list.Items.Skip(Math.Max(positions.Start, positions.Stop))).ToList();
                _context.SetItems(list, spliced);
                return StepResult.Continue;
            case DictValue dict when KeyOf(index) is { } key:
                _context.SetDictItems(dict, dict.With(key, value));
                return StepResult.Continue;
            default:
                return new StepResult.Break($"item assignment on a {Describe(container)}{At(ins)}");
        }
    }

    /// <summary>del container[index]: an item of a list (by position) or of a dict made during the capture.</summary>
    private StepResult DeleteSubscript(Instruction ins)
    {
        var index = Pop();
        var container = Pop();
        switch (container)
        {
            case ListValue list when index is ConstValue { Value.IsInt: true } c:
                var i = c.Value.ToInt64();
                if (i < 0) i += list.Items.Count;
                if (i < 0 || i >= list.Items.Count) return new StepResult.Break($"list assignment index out of range{At(ins)}");
                _context.SetItems(list, list.Items.Where((_, k) => k != i).ToList());
                return StepResult.Continue;
            case DictValue dict when KeyOf(index) is { } key && dict.Find(key) is not null:
                _context.SetDictItems(dict, dict.Without(key));
                return StepResult.Continue;
            default:
                return new StepResult.Break($"del of an item of a {Describe(container)}{At(ins)}");
        }
    }

    /// <summary>What a defaultdict's factory makes for a missing key: list() a new list, int() 0...; null for other factories.</summary>
    private SymValue? DefaultOf(ObjectValue factory) => factory.QualifiedName switch
    {
        "builtins.list" => new ListValue([]),
        "builtins.dict" => new DictValue([]),
        "builtins.set" => new SetValue([]),
        "builtins.int" or "builtins.float" or "builtins.str" or "builtins.bool" or "builtins.tuple" or "builtins.frozenset" => Const(factory.Object.Call()),
        _ => null,
    };

    /// <summary>A slice's start, stop and step over a sequence of <paramref name="length"/> items (slice.indices), or null.</summary>
    private static (int Start, int Stop, int Step)? SlicePositions(int length, PyObject slice)
    {
        using var n = Py.Int(length);
        using var indices = slice.CallMethod("indices", n);
        var parts = indices.ToItems();
        try { return ((int)parts[0].ToInt64(), (int)parts[1].ToInt64(), (int)parts[2].ToInt64()); }
        finally { foreach (var p in parts) p.Dispose(); }
    }
}
