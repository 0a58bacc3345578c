namespace Capture.Bytecode;

// Jumps decide on values known at capture time; a branch on a tensor's value is a graph break.
// Loops over values known at capture time are unrolled (FOR_ITER over an IteratorValue).
public sealed partial class InstructionTranslator
{
    private StepResult JumpIf(Instruction ins, bool jumpWhen)
    {
        var value = Pop();
        if (value is TensorValue)
            return new StepResult.Break($"data-dependent branch on a tensor's value{At(ins)}");
        if (Truth(value) is not { } truth) return new StepResult.Break($"branch on a {Describe(value)}{At(ins)}");
        NoteBranch(ins, value);
        return truth == jumpWhen ? new StepResult.Jump(ins.JumpTarget!.Value) : StepResult.Continue;
    }

    /// <summary>A branch decided at capture: the guards behind its value are explained by this line's condition.</summary>
    private void NoteBranch(Instruction ins, SymValue value)
    {
        if (value is not ConstValue { DependsOn.Count: > 0 } c) return;
        var why = GuardUse.BranchOn(LineText(ins.Location), ins.Location?.Line ?? 0);
        foreach (var guard in c.DependsOn) _context.Guards.Use(guard, ins.Location, why);
    }

    private static string? LineText(SourceLocation? at)
    {
        if (at is null) return null;
        using var linecache = Py.Import("linecache");
        using var file = Py.Str(at.File);
        using var number = Py.Int(at.Line);
        using var line = linecache.CallMethod("getline", file, number);
        return line.IsStr ? line.AsString() : null;
    }

    private StepResult JumpIfNone(Instruction ins, bool jumpWhenNone)
    {
        var value = Pop();
        var isNone = value is ConstValue { Value.IsNone: true };
        return isNone == jumpWhenNone ? new StepResult.Jump(ins.JumpTarget!.Value) : StepResult.Continue;
    }

    private StepResult JumpOrPop(Instruction ins, bool jumpWhen)
    {
        var value = Peek();
        if (value is TensorValue) return new StepResult.Break($"data-dependent `and`/`or` on a tensor's value{At(ins)}");
        if (Truth(value) is not { } truth) return new StepResult.Break($"`and`/`or` on a {Describe(value)}{At(ins)}");
        NoteBranch(ins, value);
        if (truth == jumpWhen) return new StepResult.Jump(ins.JumpTarget!.Value);
        Pop();
        return StepResult.Continue;
    }

    private StepResult GetIter(Instruction ins)
    {
        var value = Pop();
        if (value is UserObjectValue && UserDunder(ins, value, "__iter__", []) is { } iterated)
            return iterated; // what the class's __iter__ returns (iter(self.items): an iterator of the capture's)
        if (value is IteratorValue iterator)
        {
            Push(iterator); // iter(it) is it
            return StepResult.Continue;
        }
        var items = value is ObjectValue { Kind: ObjectKind.NnModule, Source: { } source } m && ModuleContainer(m, "__iter__") is { } kind
            ? kind switch
            {
                "Sequential" or "ModuleList" => Children(m, source),
                "ParameterList" => ParameterItems(m, source),
                _ => null, // a ModuleDict iterates its keys
            }
            : IterableItems(value);
        if (items is null) return new StepResult.Break($"iteration over a {Describe(value)} is not supported");
        Push(new IteratorValue(items));
        return StepResult.Continue;
    }

    /// <summary>
    /// Whether iterating the module yields its submodules in order: a Sequential or ModuleList, or a
    /// subclass of one (torchvision's Conv2dNormActivation) that keeps the container's __iter__. The
    /// lookup of __iter__ through the class is guarded, so a class that later defines its own
    /// recompiles.
    /// </summary>
    private bool IteratesChildren(ObjectValue module) => ModuleContainer(module, "__iter__") is "Sequential" or "ModuleList";

    /// <summary>
    /// Which of torch's containers (Sequential, ModuleList, ModuleDict, ParameterList) the module is,
    /// when its class keeps that container's <paramref name="dunder"/> (the lookup through the class
    /// is guarded, so a class that later defines its own recompiles); null otherwise.
    /// </summary>
    private string? ModuleContainer(ObjectValue module, string dunder)
    {
        using var nn = Py.Import("torch.nn");
        foreach (var container in (string[])["Sequential", "ModuleList", "ModuleDict", "ParameterList"])
        {
            using var type = nn.GetAttr(container);
            if (!module.Object.IsInstance(type)) continue;
            if (!type.HasAttr(dunder)) return null;
            using var own = type.GetAttr(dunder);
            using var moduleType = module.Object.Type;
            using var found = moduleType.GetAttr(dunder);
            if (!found.Is(own)) return null;
            _context.Namespaces.TypeAttribute(moduleType, dunder);
            return container;
        }
        return null;
    }

    /// <summary>A ParameterList's parameters in order, each from L['self']._parameters['k'].</summary>
    private List<SymValue> ParameterItems(ObjectValue container, Source source)
    {
        var parametersSource = new AttrSource(source, "_parameters");
        using var parameters = container.Object.GetAttr("_parameters");
        using var keys = parameters.CallMethod("keys");
        var names = keys.Iterate().Select(k => { using (k) return k.AsString(); }).ToList();
        _context.Guards.Add(new DictKeysGuard(parametersSource, names));
        return names.Select(name =>
        {
            using var key = Py.Str(name);
            using var item = parameters.GetItem(key);
            return _context.Wrap(item, new KeySource(parametersSource, name));
        }).ToList();
    }

    /// <summary>The submodules of a Sequential / ModuleList in order, each from L['self']._modules['k'].</summary>
    private List<SymValue> Children(ObjectValue container, Source source)
    {
        var modulesSource = new AttrSource(source, "_modules");
        using var modules = container.Object.GetAttr("_modules");
        _context.Guards.Add(new LengthMatchGuard(modulesSource, modules.Length));
        using var keys = modules.CallMethod("keys");
        return keys.Iterate().Select(k =>
        {
            using (k)
            {
                using var child = modules.GetItem(k);
                return _context.Wrap(child, new KeySource(modulesSource, k.AsString()));
            }
        }).ToList();
    }

    private StepResult ForIter(Instruction ins)
    {
        if (Peek() is not IteratorValue it)
            return new StepResult.Break($"a for loop over a {Describe(Peek())} resumed after a graph break inside it: each step of the loop runs in Python{At(ins)}");
        if (_context.Consume(it, 1) is not [var next])
        {
            Pop();
            return new StepResult.Jump(ins.JumpTarget!.Value);
        }
        Push(next);
        return StepResult.Continue;
    }

    /// <summary>
    /// `with torch.no_grad():` and `with torch.enable_grad():` put grad-mode nodes in the graph; the
    /// block's normal exit calls the pushed __exit__, which restores the mode. Other context managers
    /// are a break (their frame then runs eagerly: it has an exception table).
    /// </summary>
    private StepResult BeforeWith(Instruction ins)
    {
        if (Peek() is UserObjectValue manager)
        {
            // a user's context manager: its __exit__ bound (called when the block ends), then __enter__ inlined
            _context.Namespaces.TypeAttribute(manager.Type.Object, "__exit__");
            if (TypeFunction(manager.Type.Object, "__exit__") is not { } exit || TypeFunction(manager.Type.Object, "__enter__") is not { } enter)
                return new StepResult.Break($"with block over a {manager.Type.QualifiedName} without plain __enter__ and __exit__ methods{At(ins)}");
            enter.Dispose();
            Pop();
            Push(new BoundMethodValue(manager, exit, "__exit__", manager.Type.Source is { } s ? new AttrSource(s, "__exit__") : null));
            var entered = UserDunder(ins, manager, "__enter__", []);
            if (entered is StepResult.Next) return entered;
            Pop();
            Push(manager);
            return entered ?? new StepResult.Break($"with block over a {manager.Type.QualifiedName}{At(ins)}");
        }
        if (Peek() is not GradModeValue mode) return new StepResult.Break($"with block over a {Describe(Peek())}{At(ins)}");
        Pop();
        var previous = _context.Builder.GradEnabled;
        SetGradMode(mode.Enabled);
        Push(new GradModeExitValue(previous));
        Push(Const(Py.None)); // what __enter__ returns
        return StepResult.Continue;
    }

    private void SetGradMode(bool enabled)
    {
        if (_context.Builder.GradEnabled != enabled)
            _context.Builder.Call(Ops.SetGradEnabled, [new BoolArg(enabled)]);
    }
}
