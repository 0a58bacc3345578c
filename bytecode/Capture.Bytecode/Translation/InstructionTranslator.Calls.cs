namespace Capture.Bytecode;

// CALL and friends: torch functions and Tensor methods become graph nodes, builtins on constants
// run for real (Builtins), user functions and nn.Module.forward are inlined (Inlining); anything
// else is a graph break.
public sealed partial class InstructionTranslator
{
    private StepResult Call(Instruction ins)
    {
        var argc = ins.Arg!.Value;
        var args = PopN(argc);
        var kwNames = _kwNames is null ? [] : _kwNames.ToItems().Select(n => { using (n) return n.AsString(); }).ToList();
        _kwNames = null;
        var second = Pop();
        var first = Pop();
        SymValue callable;
        if (first is NullValue) callable = second;
        else
        {
            callable = first;
            args.Insert(0, second);
        }
        var positional = args.Take(args.Count - kwNames.Count).ToList();
        var keywords = kwNames.Select((n, i) => new KeyValuePair<string, SymValue>(n, args[positional.Count + i])).ToList();
        return CallValue(ins, callable, positional, keywords);
    }

    private StepResult CallEx(Instruction ins)
    {
        var kwargs = (ins.Arg!.Value & 1) == 1 ? Pop() : null;
        var args = Pop();
        var callable = Pop();
        if (_stack.Count > 0 && Peek() is NullValue) Pop();
        var positional = args switch
        {
            TupleValue t => t.Items.ToList(), ListValue l => l.Items.ToList(),
            ConstValue c when c.Value.IsTuple => c.Value.ToItems().Select(i => (SymValue)new ConstValue(i)).ToList(),
            _ => null,
        };
        var keywords = kwargs switch { null => [], DictValue d => Named(d), _ => null };
        if (positional is null || keywords is null) return new StepResult.Break($"call with *args or **kwargs of unknown length{At(ins)}");
        return CallValue(ins, callable, positional, keywords);
    }

    private StepResult CallValue(Instruction ins, SymValue callable, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        switch (callable)
        {
            case TensorMethodValue m:
                var step = TensorMethod(ins, m, args, kwargs);
                if (step is StepResult.Next && _stack.Count > 0) _stack[^1] = FromMetadata(_stack[^1], m.Self, m.Name + "()");
                return step;
            case ObjectValue { Kind: ObjectKind.TorchFunction or ObjectKind.Class } o when o.QualifiedName is "torch.no_grad" or "torch.enable_grad" or "torch.autograd.grad_mode.no_grad" or "torch.autograd.grad_mode.enable_grad":
                Push(new GradModeValue(o.QualifiedName.EndsWith("enable_grad", StringComparison.Ordinal)));
                return StepResult.Continue;
            case ObjectValue { Kind: ObjectKind.TorchFunction or ObjectKind.Class } o when o.QualifiedName is "torch.set_grad_enabled" or "torch.autograd.grad_mode.set_grad_enabled"
                && args is [ConstValue { Value.IsBool: true } mode] && kwargs.Count == 0 && NextOpcode() == Opcode.BEFORE_WITH:
                // `with torch.set_grad_enabled(flag):` (as a plain call it switches the mode at once: not this case)
                Push(new GradModeValue(mode.Value.IsTrue()));
                return StepResult.Continue;
            case ObjectValue o when args.Count == 0 && kwargs.Count == 0 && GradModeClone(o) is { } enabled:
                // what @torch.no_grad() wraps a function in: `with self.clone(): return func(...)`
                Push(new GradModeValue(enabled));
                return StepResult.Continue;
            case ObjectValue o when TorchQuery(ins, o, args, kwargs) is { } answered:
                return answered;
            case ObjectValue o when o.QualifiedName == "torch._assert" && args.Count == 2 && kwargs.Count == 0 && args[0] is ConstValue condition && Truth(condition) is { } holds:
                // torch._assert on a value known at capture (torchvision's shape checks): it holds, or
                // the real call raises the user's AssertionError
                if (!holds) return new StepResult.Break($"torch._assert fails for these inputs{At(ins)}");
                Push(Const(Py.None));
                return StepResult.Continue;
            case ObjectValue o when o.QualifiedName == "torch._C._log_api_usage_once" && args.All(a => a is ConstValue) && kwargs.Count == 0:
                // torchvision's usage logging: a no-op unless a logger is subscribed, and only once per
                // process; Dynamo skips it too
                Push(Const(Py.None));
                return StepResult.Continue;
            case ObjectValue { Kind: ObjectKind.UserFunction } f when f.QualifiedName == "torch.nn.functional.batch_norm" && IsConstant(args, kwargs, 5, "training", true):
                return PushOrBreak(ins, () => BatchNormTraining(args, kwargs));
            case ObjectValue { Kind: ObjectKind.UserFunction } f when f.QualifiedName == "torch.nn.functional.dropout"
                && args.Count >= 1 && args[0] is TensorValue kept && IsConstant(args, kwargs, 3, "inplace", true) && IsConstant(args, kwargs, 2, "training", false):
                // eval-mode dropout in place changes nothing: torch returns its input
                Push(kept);
                return StepResult.Continue;
            case ObjectValue { Kind: ObjectKind.TorchFunction or ObjectKind.Builtin or ObjectKind.Class } o when TorchOpName(o) is { } op:
                return PushOrBreak(ins, () => CallOp(op, args.Select(ToArg).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value))).ToList()));
            case ObjectValue { Kind: ObjectKind.UserFunction } f when f.QualifiedName == "torch.nn.functional.relu"
                && args.Count >= 1 && args[0] is TensorValue input && IsTrue(kwargs, "inplace"):
                // F.relu(x, inplace=True) is x.relu_(): an in-place op on x, as eager torch does it
                return PushOrBreak(ins, () => CallMethodOp(input, "relu_", [], []));
            case ObjectValue { Kind: ObjectKind.UserFunction } f when f.QualifiedName == "torch.nn.functional.silu"
                && args.Count == 1 && args[0] is TensorValue input && IsTrue(kwargs, "inplace") && kwargs.Count == 1:
                // F.silu(x, inplace=True) calls torch._C._nn.silu_(x)
                return PushOrBreak(ins, () => CallOp(Ops.SiluInPlace, [new RefArg(input.Node)], []));
            case ObjectValue { Kind: ObjectKind.UserFunction } f when FunctionMarks.IsAllowedInGraph(f.Object):
                // capture.allow_in_graph: one opaque node that calls the function by module and name
                return FunctionMarks.ResolvableName(f.Object) is { } allowed
                    ? PushOrBreak(ins, () => CallOp(allowed, args.Select(ToArg).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value))).ToList()))
                    : new StepResult.Break($"capture.allow_in_graph({f.QualifiedName}): a graph node calls a function by its module and name, and this one is not reachable so (define it at module level){At(ins)}");
            case ObjectValue { Kind: ObjectKind.UserFunction } f when TorchFunctionalName(f.Object) is { } functional
                && args.Concat(kwargs.Select(k => k.Value)).Any(a => a is TensorValue || IterableItems(a) is { } items && items.Any(i => i is TensorValue)):
                // torch's Python-level functions on tensors (einsum, split, norm, meshgrid, tensordot...): one
                // opaque call each, as the AST path makes them; their bodies read torch internals (_VF)
                return PushOrBreak(ins, () => CallOp(functional, args.Select(ToArg).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value))).ToList()));
            case ObjectValue { Kind: ObjectKind.UserFunction } f when OpRegistry.TryGet(f.QualifiedName, out _):
                // torch.nn.functional's Python functions are registry ops: no need to inline their bodies
                return PushOrBreak(ins, () => CallOp(f.QualifiedName, args.Select(ToArg).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value))).ToList()));
            case ObjectValue o when o.QualifiedName.StartsWith("math.", StringComparison.Ordinal) && args.All(a => a is ConstValue) && kwargs.Count == 0:
                // math's functions are pure: on constants they run for real
                try
                {
                    Push(Derived(o.Object.Call(args.Cast<ConstValue>().Select(c => c.Value).ToArray()), args));
                    return StepResult.Continue;
                }
                catch (PythonException e) { return new StepResult.Break($"{o.QualifiedName}() raised {e.PythonType} on constants{At(ins)}"); }
            case ObjectValue { QualifiedName: "builtins.object.__setattr__" } when args is [UserObjectValue target, ConstValue { Value.IsStr: true } field, var stored] && kwargs.Count == 0:
                // object.__setattr__(self, name, value): what a frozen dataclass's __init__ does
                var set = StoreUserAttribute(ins, target, field.Value.AsString(), stored, throughObject: true);
                if (set is StepResult.Next) Push(Const(Py.None));
                return set;
            case ObjectValue { Kind: ObjectKind.Builtin } o:
                return Builtin(ins, o, args, kwargs);
            case ObjectValue { Kind: ObjectKind.Class } o when o.QualifiedName.StartsWith("builtins.", StringComparison.Ordinal):
                return Builtin(ins, o, args, kwargs);
            case ObjectValue { Kind: ObjectKind.Class } cls when NamedTupleFields(cls) is { } fields:
                return ConstructNamedTuple(ins, cls, fields, args, kwargs);
            case ObjectValue { Kind: ObjectKind.Class } cls when Constructible(cls, out var init):
                return Construct(ins, cls, init, args, kwargs);
            case ObjectValue o when o.QualifiedName.StartsWith("itertools.", StringComparison.Ordinal) && Itertools(o.QualifiedName[10..], args, kwargs) is { } produced:
                Push(produced);
                return StepResult.Continue;
            case ObjectValue { QualifiedName: "collections.OrderedDict" } od when args.Count <= 1 && DictOf(args, kwargs, od) is { } ordered:
                Push(ordered);
                return StepResult.Continue;
            case ObjectValue { QualifiedName: "collections.defaultdict" } dd when kwargs.Count == 0 && args.Count is 1 or 2
                && args[0] is ObjectValue factory && DefaultOf(factory) is not null && (args.Count == 1 || args[1] is DictValue):
                Push(new DictValue(args.Count == 2 ? ((DictValue)args[1]).Items : []) { Type = dd, Factory = factory });
                return StepResult.Continue;
            case ObjectValue { QualifiedName: "functools.wraps" } when args.Count == 1 && kwargs.Count == 0:
                Push(new WrapsValue(args[0]));
                return StepResult.Continue;
            case WrapsValue wraps when args is [FunctionValue wrapper] && kwargs.Count == 0:
                // update_wrapper only copies metadata (__name__, __doc__, __dict__, __wrapped__): the function is the same code
                Push(wrapper with { Wrapped = wraps.Wrapped });
                return StepResult.Continue;
            case ObjectValue { QualifiedName: "functools.update_wrapper" } when args is [FunctionValue wrapper, var wrapped] && kwargs.Count == 0:
                Push(wrapper with { Wrapped = wrapped });
                return StepResult.Continue;
            case NamedTupleMethodValue nm:
                return NamedTupleMethod(ins, nm, args, kwargs);
            case SetMethodValue sm when kwargs.Count == 0:
                return SetMethod(ins, sm, args);
            case ObjectValue { QualifiedName: "functools.partial" } when args.Count >= 1:
                Push(new PartialValue(args[0], args.Skip(1).ToList(), kwargs));
                return StepResult.Continue;
            case PartialValue partial:
                return CallValue(ins, partial.Function, [.. partial.Args, .. args],
                    [.. partial.Kwargs.Where(k => kwargs.All(n => n.Key != k.Key)), .. kwargs]);
            case BoundMethodValue bound:
                return InlineFunction(ins, bound.Self, bound.Function, args, kwargs, self: bound.Self, method: bound.Name, knownSource: bound.FunctionSource);
            case UserObjectValue called when kwargs.Count == 0 && UserDunder(ins, called, "__call__", args) is { } invoked:
                return invoked;
            case GradModeExitValue exit when args.Count == 3 && kwargs.Count == 0:
                SetGradMode(exit.Restore);
                Push(Const(Py.None));
                return StepResult.Continue;
            case ModuleDictMethodValue view when args.Count == 0 && kwargs.Count == 0:
                Push(view.Result);
                return StepResult.Continue;
            case DictMethodValue dm when kwargs.Count == 0:
                return DictMethod(ins, dm, args);
            case DictMethodValue { Name: "move_to_end" } dm when args.Count == 1 && kwargs is [{ Key: "last" } last]:
                return DictMethod(ins, dm, [args[0], last.Value]);
            case DictMethodValue { Name: "update" } dm when args.Count == 0:
                // d.update(key=value, ...)
                return DictMethod(ins, dm, [new DictValue(Keyed(kwargs))]);
            case ConstValue c when IsMethodOfImmutable(c.Value) && args.All(a => a is ConstValue) && kwargs.All(k => k.Value is ConstValue):
                // "s".startswith("x"), size.numel(): methods of immutable constants are pure
                try
                {
                    Push(Derived(c.Value.Call(args.Cast<ConstValue>().Select(a => a.Value).ToList(),
                        kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Key, ((ConstValue)k.Value).Value))), args.Prepend(c)));
                    return StepResult.Continue;
                }
                catch (PythonException e) { return new StepResult.Break($"a method of a constant raised {e.PythonType}{At(ins)}"); }
            case ListMethodValue lm:
                return ListMethod(ins, lm, args, kwargs);
            case ModuleMethodValue { Self.Source: not null } mm when ModuleMembers(mm, args, kwargs) is { } members:
                // self.parameters(), named_buffers(), children(), modules()...: what torch yields, each item
                // read through its own path, under guards on the keys of every dict the walk read
                Push(members);
                return StepResult.Continue;
            case ModuleMethodValue mm:
                return InlineFunction(ins, mm.Self, mm.Function, args, kwargs, self: mm.Self, method: mm.Name);
            case ObjectValue { Kind: ObjectKind.UserFunction } f:
                return InlineFunction(ins, f, f.Object, args, kwargs, self: null);
            case FunctionValue f:
                return InlineMade(ins, f, args, kwargs);
            case ObjectValue { Kind: ObjectKind.NnModule } m:
                using (var type = m.Object.Type)
                using (var forward = type.GetAttr("forward"))
                {
                    if (ModuleHooks.Any(m.Object))
                        return new StepResult.Break($"nn.Module with hooks{At(ins)}");
                    if (!ModuleCall.IsModuleCall(type))
                        return new StepResult.Break($"{m.Object.TypeName} overrides nn.Module.__call__{At(ins)}");
                    ModuleCall.Guard(_context.Namespaces, m.Object, type, m.Source?.ToString() ?? m.QualifiedName);
                    using var own = ModuleCall.InstanceForward(m.Object);
                    if (own is null) return InlineFunction(ins, m, forward, args, kwargs, self: m);
                    // m.forward = f: __call__ runs f, without self
                    if (own.TypeName != "function" || m.Source is null) return new StepResult.Break($"the forward set on {m.QualifiedName} is not a plain function{At(ins)}");
                    return InlineFunction(ins, _context.Wrap(own, new AttrSource(m.Source, "forward")), own, args, kwargs, self: null);
                }
            default:
                return new StepResult.Break($"call to {Describe(callable)} is not supported{At(ins)}");
        }
    }


    /// <summary>
    /// nn.Module's member iterators (parameters, named_parameters, buffers, named_buffers, children,
    /// named_children, modules, named_modules) on a module from the frame: an iterator over what the
    /// real call yields (capture/_frames.py module_members), each item wrapped with the source that
    /// reaches it, and a keys guard on each visited module's _parameters, _buffers and _modules. Null
    /// when the method is overridden or the call is not understood (then it is inlined as before).
    /// </summary>
    private IteratorValue? ModuleMembers(ModuleMethodValue method, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var root = method.Self.Source!;
        var values = args.Select(a => Constant(a, "")).ToList();
        var keywords = kwargs.Select(k => new KeyValuePair<string, PyObject?>(k.Key, Constant(k.Value, ""))).ToList();
        try
        {
            if (values.Any(v => v is null) || keywords.Any(k => k.Value is null)) return null;
            using var helper = Py.Import("capture._frames");
            using var members = helper.GetAttr("module_members");
            using var name = Py.Str(method.Name);
            using var positional = Py.Tuple(values!);
            using var named = Py.Dict(keywords!);
            using var found = members.Call(method.Self.Object, name, positional, named);
            if (found.IsNone) return null;
            using var items = found.GetItem(0);
            using var visited = found.GetItem(1);
            foreach (var entry in visited.ToItems())
                using (entry)
                using (var path = entry.GetItem(0))
                using (var keys = entry.GetItem(1))
                {
                    var at = PathSource(root, path);
                    foreach (var dict in new[] { "_parameters", "_buffers", "_modules" })
                        using (var names = keys.GetItem(dict))
                            _context.Guards.Add(new DictKeysGuard(new AttrSource(at, dict), names.ToItems().Select(n => { using (n) return n.AsString(); }).ToList()));
                }
            var result = new List<SymValue>();
            foreach (var entry in items.ToItems())
                using (entry)
                using (var label = entry.GetItem(0))
                using (var path = entry.GetItem(1))
                using (var value = entry.GetItem(2))
                {
                    var wrapped = _context.Wrap(value, PathSource(root, path));
                    result.Add(label.IsNone ? wrapped : new TupleValue([Const(label.NewReference()), wrapped]));
                }
            return new IteratorValue(result);
        }
        finally
        {
            foreach (var v in values.Concat(keywords.Select(k => k.Value))) v?.Dispose();
        }
    }

    /// <summary>The source of a member reached from <paramref name="root"/> by (dict attribute, key) steps.</summary>
    private static Source PathSource(Source root, PyObject path)
    {
        var source = root;
        foreach (var step in path.ToItems())
            using (step)
            using (var dict = step.GetItem(0))
            using (var key = step.GetItem(1))
                source = new KeySource(new AttrSource(source, dict.AsString()), key.AsString());
        return source;
    }

    /// <summary>
    /// F.batch_norm in training mode, as torch computes it: the batch's mean and biased variance over all
    /// dims but the channels normalize the input; the running statistics (when given: module buffers)
    /// become (1 - momentum) * running + momentum * batch statistic (the variance unbiased), computed in
    /// the graph and copied into the buffers after it (under no_grad, as torch's kernel writes them).
    /// </summary>
    private SymValue BatchNormTraining(List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        SymValue? Get(int position, string name) => args.Count > position ? args[position] : kwargs.FirstOrDefault(k => k.Key == name).Value;
        if (Get(0, "input") is not TensorValue input || input.Meta.Rank < 2 || !input.Meta.DType.IsFloatingPoint())
            throw new NotSupportedException("batch_norm in training mode on a tensor of fewer than 2 dims or not floating point");
        var runningMean = Get(1, "running_mean");
        var runningVar = Get(2, "running_var");
        var weight = Get(3, "weight");
        var bias = Get(4, "bias");
        double Number(SymValue? v, double fallback) => v switch
        {
            null => fallback,
            ConstValue { Value.IsFloat: true } or ConstValue { Value.IsInt: true } => ((ConstValue)v).Value.ToDouble(),
            _ => throw new NotSupportedException("batch_norm with a momentum or eps that is not a Python number"),
        };
        var momentum = Number(Get(6, "momentum"), 0.1);
        var eps = Number(Get(7, "eps"), 1e-5);
        bool Given(SymValue? v) => v is not (null or ConstValue { Value.IsNone: true });
        if (Given(runningMean) != Given(runningVar)) throw new NotSupportedException("batch_norm with only one running statistic");
        var stats = new[] { runningMean, runningVar }.Where(Given).ToList();
        if (stats.Any(s => s is not TensorValue t || !_context.IsWritableBuffer(t)))
            throw new NotSupportedException("batch_norm in training mode updates running statistics that are not a module's buffers");
        var b = _context.Builder;
        var channels = input.Meta.Shape[1].Concrete("batch_norm");
        var count = input.Meta.Shape.NumElements("batch_norm") / channels;
        // torch's own fused kernel without running statistics (so it writes nothing): the normalized
        // output and the batch's mean and 1/sqrt(var + eps); its gradient is torch's fused backward
        // (a per-node autograd call)
        if (CallOp("torch.native_batch_norm", [new RefArg(input.Node), Given(weight) ? ToArg(weight!) : NoneArg.Instance,
                Given(bias) ? ToArg(bias!) : NoneArg.Instance, NoneArg.Instance, NoneArg.Instance, true, momentum, eps], []) is not TupleValue { Items: [TensorValue y, TensorValue mean, TensorValue invstd] })
            throw new NotSupportedException("torch.native_batch_norm did not give (output, mean, invstd)");
        if (stats.Count == 2)
        {
            var batchMean = new RefArg(mean.Node);
            // the biased variance back from 1/sqrt(var + eps)
            var batchVar = b.Call(Ops.Sub, b.Call(Ops.Pow, new RefArg(invstd.Node), -2.0), eps);
            var unbiased = count > 1 ? (double)count / (count - 1) : double.PositiveInfinity;
            var updates = new Arg[]
            {
                b.Call(Ops.Add, b.Call(Ops.Mul, ToArg(runningMean!), 1 - momentum), b.Call(Ops.Mul, batchMean, momentum)),
                b.Call(Ops.Add, b.Call(Ops.Mul, ToArg(runningVar!), 1 - momentum), b.Call(Ops.Mul, batchVar, momentum * unbiased)),
            };
            for (var i = 0; i < 2; i++)
            {
                var buffer = (TensorValue)stats[i]!;
                var value = (RefArg)updates[i];
                if (b.MetaOf(value) is not TensorMeta meta || meta.DType != buffer.Meta.DType || meta.Shape != buffer.Meta.Shape)
                    throw new NotSupportedException("batch_norm running statistics of another dtype or shape than the batch's");
                _context.CopyBack(buffer, new TensorValue(value.Name, meta));
            }
        }
        return y;
    }

    /// <summary>"torch.functional.NAME" for a public function of torch.functional (torch.einsum, torch.split...), else null.</summary>
    private static string? TorchFunctionalName(PyObject function)
    {
        if (!function.HasAttr("__module__") || !function.HasAttr("__name__")) return null;
        using var module = function.GetAttr("__module__");
        using var name = function.GetAttr("__name__");
        return module.IsStr && module.AsString() == "torch.functional" && name.IsStr && !name.AsString().StartsWith('_')
            ? "torch.functional." + name.AsString() : null;
    }

    /// <summary>The opcode of the instruction after the current one, if any.</summary>
    private Opcode? NextOpcode() => _pc + 1 < _code.Instructions.Count ? _code.Instructions[_pc + 1].Opcode : null;

    private static bool IsTrue(List<KeyValuePair<string, SymValue>> kwargs, string name) =>
        kwargs.Any(k => k.Key == name && k.Value is ConstValue c && c.Value.IsTrue());

    /// <summary>Whether the argument at <paramref name="position"/> or keyword <paramref name="name"/> is the constant <paramref name="expected"/>.</summary>
    private static bool IsConstant(List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs, int position, string name, bool expected)
    {
        var value = args.Count > position ? args[position] : kwargs.FirstOrDefault(k => k.Key == name).Value;
        return value is ConstValue { Value.IsBool: true } c && c.Value.IsTrue() == expected;
    }

    /// <summary>
    /// Whether <paramref name="o"/> is the clone method of a torch.no_grad() or torch.enable_grad()
    /// object (exactly those classes, whose clone makes a new one of the same mode): the mode it
    /// enters; null for anything else.
    /// </summary>
    private static bool? GradModeClone(ObjectValue o)
    {
        if (o.Object.TypeName != "method" || !o.Object.HasAttr("__self__")) return null;
        using var name = o.Object.GetAttr("__name__");
        if (!name.IsStr || name.AsString() != "clone") return null;
        using var self = o.Object.GetAttr("__self__");
        using var type = self.Type;
        using var grad = Py.Import("torch.autograd.grad_mode");
        using var noGrad = grad.GetAttr("no_grad");
        using var enableGrad = grad.GetAttr("enable_grad");
        return type.Is(noGrad) ? false : type.Is(enableGrad) ? true : null;
    }

    /// <summary>
    /// torch functions that answer from metadata or global state rather than tensor values: answered
    /// at capture time (global state under a guard). Null when <paramref name="o"/> is not one.
    /// </summary>
    private StepResult? TorchQuery(Instruction ins, ObjectValue o, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        StepResult Answer(PyObject value)
        {
            Push(Const(value));
            return StepResult.Continue;
        }
        var tensor = args is [TensorValue t] && kwargs.Count == 0 ? t : null;
        // torch.overrides re-exports torch._C's functions: one name for both ways of reaching them
        var name = o.QualifiedName.StartsWith("torch.overrides.has_torch_function", StringComparison.Ordinal)
            ? "torch._C._" + o.QualifiedName["torch.overrides.".Length..] : o.QualifiedName;
        switch (name)
        {
            case "torch._C._has_torch_function" or "torch._C._has_torch_function_unary" or "torch._C._has_torch_function_variadic":
                // plain tensors (their type is guarded) and Python scalars do not override torch functions
                var values = name == "torch._C._has_torch_function" && args.Count == 1 ? IterableItems(args[0]) : args;
                if (values is null || kwargs.Count > 0 || values.Any(v => v is not (TensorValue or ConstValue)))
                    return new StepResult.Break($"{o.QualifiedName}() on values that may override torch functions{At(ins)}");
                return Answer(Py.Bool(false));
            case "torch.is_grad_enabled" when args.Count == 0:
                return Answer(Py.Bool(_context.Builder.GradEnabled));
            case "torch.is_autocast_enabled" or "torch.get_default_dtype" or "torch.is_autocast_cpu_enabled" or "torch.are_deterministic_algorithms_enabled" when args.Count == 0:
                var state = o.Object.Call();
                _context.Guards.Add(new GlobalStateGuard($"{o.QualifiedName}()", o.Object.NewReference(), state.NewReference()));
                return Answer(state);
            case "torch._jit_internal.is_scripting" or "torch.jit.is_scripting" or "torch._jit_internal.is_tracing" or "torch.jit.is_tracing" when args.Count == 0:
                return Answer(Py.Bool(false));
            case "torch._C._is_tracing" when args.Count == 0:
                return Answer(Py.Bool(false));
            case "torch.finfo" or "torch.iinfo" when args.All(a => a is ConstValue) && kwargs.All(k => k.Value is ConstValue):
                // dtype facts (finfo(torch.float32).eps): fixed for the dtype
                return Answer(o.Object.Call(args.Cast<ConstValue>().Select(a => a.Value).ToList(),
                    kwargs.Select(k => new KeyValuePair<string, PyObject>(k.Key, ((ConstValue)k.Value).Value))));
            case "torch._C._get_tracing_state" when args.Count == 0:
                return Answer(Py.None);
            case "torch.is_tensor" when args.Count == 1:
                return Answer(Py.Bool(args[0] is TensorValue));
            case "torch.is_floating_point" when tensor is not null:
                return Answer(Py.Bool(tensor.Meta.DType.IsFloatingPoint()));
            case "torch.is_complex" when tensor is not null:
                return Answer(Py.Bool(false));
            case "torch.numel" when tensor is not null:
                return Answer(Py.Int(tensor.Meta.Shape.NumElements("numel")));
        }
        return null;
    }

    /// <summary>The registry name of a torch function value ("torch.add", "torch.nn.functional.gelu"), or an opaque name for other torch callables.</summary>
    private static string? TorchOpName(ObjectValue o) =>
        o.Kind == ObjectKind.Class && o.QualifiedName.StartsWith("torch.", StringComparison.Ordinal)
            && !new[] { "torch.nn.functional.", "torch._C._nn.", "torch._C._VariableFunctions." }.Any(p => o.QualifiedName.StartsWith(p, StringComparison.Ordinal))
            ? null // torch classes (torch.Size, torch.nn.Linear) are not ops
            : OpRegistry.NameForPython(o.QualifiedName);

    private StepResult TensorMethod(Instruction ins, TensorMethodValue m, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var meta = m.Self.Meta;
        switch (m.Name)
        {
            case "size" when kwargs.Count == 0:
                if (args.Count == 0) { Push(Size(meta)); return StepResult.Continue; }
                if (args[0] is ConstValue { Value.IsInt: true } d)
                {
                    Push(SizeValue(meta.Shape[meta.Shape.WrapDim(d.Value.ToInt64(), "size")]));
                    return StepResult.Continue;
                }
                break;
            case "stride" when kwargs.Count == 0 && meta.Strides is { } strides:
                if (args.Count == 0) { Push(Const(Py.IntTuple(strides))); return StepResult.Continue; }
                if (args[0] is ConstValue { Value.IsInt: true } sd)
                {
                    Push(Const(Py.Int(strides[meta.Shape.WrapDim(sd.Value.ToInt64(), "stride")])));
                    return StepResult.Continue;
                }
                break;
            case "element_size" when args.Count == 0:
                Push(Const(Py.Int(meta.DType.ItemSize())));
                return StepResult.Continue;
            case "dim" or "ndimension":
                Push(Const(Py.Int(meta.Rank)));
                return StepResult.Continue;
            case "numel" or "nelement":
                Push(SizeValue(meta.Shape.Elements));
                return StepResult.Continue;
            case "is_contiguous" when args.Count == 0:
                Push(Const(Py.Bool(meta.StrideDims is { } s && Layout.IsContiguous(meta.Shape.Dims, s))));
                return StepResult.Continue;
            case "is_floating_point":
                Push(Const(Py.Bool(meta.DType.IsFloatingPoint())));
                return StepResult.Continue;
            case "item" or "tolist" or "numpy" or "__bool__" or "__int__" or "__float__" or "backward" or "cpu" or "cuda" or "numpy":
                return new StepResult.Break($"Tensor.{m.Name}() needs the tensor's values (data-dependent){At(ins)}");
        }
        if (!OpRegistry.TryGetMethod(m.Name, out _))
        {
            // outside the registry: an opaque call of torch.Tensor.NAME, its metadata from torch's fake tensors
            if (OpaqueMethods.Name(m.Name, out var why) is not { } opaque) return new StepResult.Break($"{why}{At(ins)}");
            return PushOrBreak(ins, () => CallOp(opaque, args.Select(ToArg).Prepend(new RefArg(m.Self.Node)).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value))).ToList()));
        }
        return PushOrBreak(ins, () => CallMethodOp(m.Self, m.Name, args.Select(ToArg).ToList(), kwargs.Select(k => new Kwarg(k.Key, ToArg(k.Value))).ToList()));
    }
}
