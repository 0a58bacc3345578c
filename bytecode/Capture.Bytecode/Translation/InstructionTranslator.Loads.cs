using Capture.Graph;
using Capture.Python;

namespace Capture.Bytecode;

// Loads of locals, globals and attributes.
public sealed partial class InstructionTranslator
{
    private StepResult LoadLocal(Instruction ins)
    {
        var name = ins.Name!;
        if (!_locals.TryGetValue(name, out var value))
        {
            // The frame's own locals are wrapped (and guarded) on first read, not before.
            if (_depth > 0 || !_unread.Contains(name))
                return new StepResult.Break($"local variable '{name}' is read before it is assigned{At(ins)}");
            using var real = _context.Frame.Local(name);
            value = _context.Wrap(real, new LocalSource(name));
            _locals[name] = value;
            _unread.Remove(name);
        }
        Push(value);
        return StepResult.Continue;
    }

    private StepResult LoadGlobal(Instruction ins)
    {
        if ((ins.Arg!.Value & 1) == 1) Push(NullValue.Instance);
        var name = ins.Name!;
        var source = _globalsSource is null ? (Source)new GlobalSource(name) : new KeySource(_globalsSource, name);
        PyObject value;
        try
        {
            using var key = Py.Str(name);
            using var inGlobals = _globals.CallMethod("__contains__", key);
            value = inGlobals.ToBoolean() ? _globals.GetItem(key) : _context.Frame.Builtins.GetItem(key);
        }
        catch (PythonException)
        {
            return new StepResult.Break($"name '{name}' is not defined{At(ins)}");
        }
        using (value) Push(_context.Wrap(value, source));
        return StepResult.Continue;
    }

    private StepResult LoadAttr(Instruction ins, bool method)
    {
        var owner = Pop();
        var name = ins.Name!;
        if (method) Push(NullValue.Instance);
        switch (owner)
        {
            case TensorValue t:
                var attr = TensorAttribute(t, name);
                if (attr is null) return new StepResult.Break($"tensor attribute '{name}' is not supported in graphs{At(ins)}");
                Push(attr);
                return StepResult.Continue;
            case ObjectValue { Kind: ObjectKind.NnModule } m when ClassFunction(m.Object, name) is { } function:
                // a fresh bound-method object on every access: keep (function, self) instead and inline it
                Push(new ModuleMethodValue(m, function, name));
                return StepResult.Continue;
            case ObjectValue o:
                PyObject value;
                try { value = o.Object.GetAttr(name); }
                catch (PythonException e) { return new StepResult.Break($"reading {o.QualifiedName}.{name} raised {e.PythonType}{At(ins)}"); }
                using (value)
                {
                    if (o.Kind == ObjectKind.NnModule && o.Source is null) return new StepResult.Break($"attribute of an nn.Module made during capture{At(ins)}");
                    Push(_context.WrapAttribute(o, name, value));
                }
                return StepResult.Continue;
            case ListValue list when list.Source is null && name is "append" or "extend":
                Push(new ListMethodValue(list, name));
                return StepResult.Continue;
            case ConstValue c:
                try
                {
                    using var value2 = c.Value.GetAttr(name);
                    Push(new ConstValue(value2.NewReference()));
                    return StepResult.Continue;
                }
                catch (PythonException e) { return new StepResult.Break($"reading .{name} of a constant raised {e.PythonType}{At(ins)}"); }
            default:
                return new StepResult.Break($"attribute '{name}' of a {Describe(owner)} is not supported{At(ins)}");
        }
    }

    /// <summary>A plain Python function defined on the object's class (not shadowed by the instance), or null.</summary>
    private static PyObject? ClassFunction(PyObject obj, string name)
    {
        using var type = obj.Type;
        using var inspect = Py.Import("inspect");
        using var getattrStatic = inspect.GetAttr("getattr_static");
        using var key = Py.Str(name);
        using var none = Py.None;
        using var found = getattrStatic.Call(obj, key, none);
        return found.TypeName == "function" ? found.NewReference() : null;
    }

    /// <summary>Tensor attributes known from metadata (shape, dtype...), views (T), or a bound method.</summary>
    private SymValue? TensorAttribute(TensorValue t, string name) => name switch
    {
        "shape" => Size(t.Meta),
        "ndim" => Const(Py.Int(t.Meta.Rank)),
        "dtype" => new ConstValue(_context.Torch.DTypeObject(t.Meta.DType)),
        "requires_grad" => Const(Py.Bool(t.Meta.RequiresGrad)),
        "is_cuda" => Const(Py.Bool(false)),
        "T" => CallOp("torch.permute", [new RefArg(t.Node), Arg.Ints(Enumerable.Range(0, t.Meta.Rank).Reverse().Select(i => (long)i))], []),
        "mT" => CallOp("torch.transpose", [new RefArg(t.Node), -2L, -1L], []),
        "data" or "grad" or "grad_fn" or "_version" or "device" => null,
        _ => new TensorMethodValue(t, name),
    };

    /// <summary>x.shape / x.size(): a real torch.Size, as eager code gets (it prints and compares as one).</summary>
    private ConstValue Size(TensorMeta meta)
    {
        if (!meta.Shape.IsConcrete) throw new InlineBreakException("symbolic sizes cannot be read as Python ints yet");
        using var torch = Py.Import("torch");
        using var size = torch.GetAttr("Size");
        using var dims = Py.IntTuple(meta.Shape.Concrete());
        return new ConstValue(size.Call(dims));
    }

    private static ConstValue Const(PyObject value) => new(value);

    private static string Describe(SymValue value) => value switch
    {
        TensorValue => "tensor",
        ConstValue c => c.Value.TypeName,
        TupleValue => "tuple",
        ListValue => "list",
        DictValue => "dict",
        ObjectValue o => o.QualifiedName,
        TensorMethodValue m => $"tensor method {m.Name}",
        _ => value.GetType().Name,
    };
}
