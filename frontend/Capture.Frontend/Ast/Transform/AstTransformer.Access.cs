namespace Capture.Frontend;

// Attributes, subscripts, graph-op arguments, and the return value rebuilt from graph outputs.
public sealed partial class AstTransformer
{
    // ---- attributes ----

    private AstValue GetAttribute(AstValue owner, string name, Span at)
    {
        switch (owner)
        {
            case TensorVal t:
                RequireTorchTensorAttribute(name, at);
                return TensorAttribute(t, name, at);
            case ObjVal { Kind: ObjectKind.NnModule } m:
            {
                if (!m.Object.HasAttr(name)) throw Error(at, "attribute", $"{m.Object.TypeName} has no attribute '{name}'", "check the attribute's name");
                using var type = m.Object.Type;
                if (type.HasAttr(name))
                {
                    using var classAttr = type.GetAttr(name);
                    if (classAttr.TypeName == "function")
                    {
                        _namespaces.TypeAttribute(type, name);
                        _namespaces.InstanceAbsent(m.Object, m.Path?.ToString() ?? m.Name, name);
                        return new MethodVal(m, name);
                    }
                }
                var value = m.Object.GetAttr(name);
                return Wrap(value, m.Path is null ? null : new AttrSource(m.Path, name), $"{m.Name}.{name}");
            }
            case ObjVal { Kind: ObjectKind.Module } module:
            {
                if (!module.Object.HasAttr(name)) throw Error(at, "attribute", $"module '{module.Name}' has no attribute '{name}'", "check the name");
                var value = module.Object.GetAttr(name);
                if (IsTrusted(module.Object)) _namespaces.ModuleAttribute(module.Object, name, value); // torch.sigmoid = f recompiles
                return Wrap(value, IsTrusted(module.Object) || module.Path is null ? null : new AttrSource(module.Path, name), $"{module.Name}.{name}");
            }
            case ConstVal c:
            {
                if (!c.Value.HasAttr(name)) throw Error(at, "attribute", $"{c.Value.TypeName} has no attribute '{name}'", "check the attribute's name");
                var value = c.Value.GetAttr(name);
                return value.TypeName is "builtin_function_or_method" or "method-wrapper" ? new ObjVal(value, ObjectKind.Builtin, $"{c.Value.TypeName}.{name}", null) : new ConstVal(value, c.Origin);
            }
            case TupleVal { NamedType: { } type } named when type.HasAttr("_fields"):
            {
                using var fields = type.GetAttr("_fields");
                var index = fields.ToItems().Select(f => { using (f) return f.AsString(); }).ToList().IndexOf(name);
                return index >= 0 ? named.Items[index] : new MethodVal(owner, name);
            }
            case ListVal or TupleVal or DictVal:
                return new MethodVal(owner, name);
            case ObjVal { Kind: ObjectKind.Class or ObjectKind.TorchFunction or ObjectKind.Builtin } o when IsTrusted(o.Object) && o.Object.HasAttr(name):
                return Wrap(o.Object.GetAttr(name), null, $"{o.Name}.{name}");
            default:
                throw ArbitraryObject(owner, $"reading '.{name}' of", at);
        }
    }

    /// <summary>torch.Tensor.name, guarded; refused when user code replaced it (the AST path knows only torch's own).</summary>
    private void RequireTorchTensorAttribute(string name, Span at)
    {
        if (!_namespaces.TensorAttribute(name))
            throw Error(at, "replaced tensor method", $"torch.Tensor.{name} was replaced by user code: the AST path knows only torch's own",
                "call your function directly, or use mode='bytecode' (which runs it as written)");
    }

    private AstCaptureException ArbitraryObject(AstValue value, string what, Span at) =>
        Error(at, "python object", $"{what} {Describe(value)}: the AST path handles tensors, numbers, strings, tuples, lists, torch functions and nn.Modules, not arbitrary Python objects",
            "pass the tensors or numbers it holds as arguments, or use mode='bytecode'");

    private AstValue TensorAttribute(TensorVal t, string name, Span at)
    {
        var meta = t.Meta;
        switch (name)
        {
            case "shape":
            {
                // sizes are specialized (the tensor's guard pins them): a real torch.Size
                using var torch = Py.Import("torch");
                using var size = torch.GetAttr("Size");
                using var sizes = Py.IntTuple(Enumerable.Range(0, meta.Rank).Select(i => meta.Shape[i].Concrete("shape")).ToList());
                return new ConstVal(size.Call(sizes));
            }
            case "dtype": return new ConstVal(DTypeObject(meta.DType));
            case "ndim": return new ConstVal(Py.Int(meta.Rank));
            case "requires_grad": return new ConstVal(Py.Bool(meta.RequiresGrad));
            case "is_cuda" or "is_nested" or "is_sparse" or "is_quantized" or "is_meta" or "is_mkldnn" or "is_complex":
                return new ConstVal(Py.Bool(false)); // captured tensors are dense, real and on the CPU (their guard checks it)
            case "device":
                using (var torch = Py.Import("torch"))
                using (var device = torch.GetAttr("device"))
                using (var text = Py.Str(meta.Device.ToString()))
                    return new ConstVal(device.Call(text));
            case "T": return CallTensorMethod(t, meta.Rank == 2 ? "t" : "permute", meta.Rank == 2 ? [] : [new TupleVal(Enumerable.Range(0, meta.Rank).Reverse().Select(d => (AstValue)new ConstVal(Py.Int(d))).ToList())], [], at);
            case "data" or "grad" or "grad_fn":
                throw Error(at, $"Tensor.{name}", $"Tensor.{name} reaches outside the graph", "use the tensor itself (or x.detach())");
            default:
                if (!TensorMethod(name))
                    throw Error(at, "tensor attribute", $"Tensor.{name} is not supported by the AST path", "use a Tensor method or torch function instead");
                return new MethodVal(t, name);
        }
    }

    /// <summary>Whether torch.Tensor.name is a method (a call through the registry follows), not some other attribute.</summary>
    private static bool TensorMethod(string name)
    {
        using var torch = Py.Import("torch");
        using var tensor = torch.GetAttr("Tensor");
        if (!tensor.HasAttr(name)) return false;
        using var attribute = tensor.GetAttr(name);
        return attribute.TypeName is "method_descriptor" or "function" or "builtin_function_or_method" or "wrapper_descriptor";
    }

    private static PyObject DTypeObject(DType dtype)
    {
        using var torch = Py.Import("torch");
        return torch.GetAttr(dtype.TorchName());
    }

    // ---- subscripts ----

    private AstValue Slice(SliceExpr s)
    {
        var parts = new[] { s.Lower, s.Upper, s.Step }.Select(p => p is null ? new ConstVal(Py.None) : Eval(p)).ToList();
        if (parts.Any(p => p is TensorVal))
            throw Error(s.At, "tensor slice bound", "a slice bound that is a tensor needs its value (data-dependent)", "use Python ints (shapes) as slice bounds");
        using var slice = Py.Builtins.GetAttr("slice");
        return new ConstVal(slice.Call(parts.Select(p => ((ConstVal)p).Value).ToArray()));
    }

    private AstValue GetItem(AstValue container, Expr indexExpr, Span at)
    {
        var index = Eval(indexExpr);
        At(at);
        switch (container)
        {
            case TensorVal t:
                return Op(Ops.GetItem, [Use(t), IndexArg(index, at)], [], at);
            case TupleVal or ListVal when index is ConstVal { Value.IsInt: true } c:
            {
                var items = container is TupleVal tv ? tv.Items : ((ListVal)container).Items;
                var i = c.Value.ToInt64();
                if (i < 0) i += items.Count;
                if (i < 0 || i >= items.Count) throw Error(at, "index", $"index {c.Value.ToInt64()} is out of range for a sequence of {items.Count}", "check the index");
                return items[(int)i];
            }
            case TupleVal or ListVal when index is ConstVal { Value.TypeName: "slice" } c:
            {
                var items = container is TupleVal tv ? tv.Items : ((ListVal)container).Items;
                using var indices = Py.Builtins.GetAttr("range");
                using var length = Py.Int(items.Count);
                using var bounds = c.Value.CallMethod("indices", length);
                using var range = indices.Call(bounds.ToItems().ToArray());
                var picked = range.Iterate().Select(i => { using (i) return items[(int)i.ToInt64()]; }).ToList();
                return container is TupleVal ? new TupleVal(picked) : new ListVal(picked, _scope);
            }
            case ConstVal c when index is ConstVal i:
                return PythonOperator("getitem", at, c, i);
            case ObjVal { Kind: ObjectKind.NnModule } m when index is ConstVal { Value.IsInt: true } i && m.Object.HasAttr("__getitem__"):
            {
                var position = i.Value.ToInt64();
                var item = m.Object.GetItem(position);
                if (position < 0) position += m.Object.Length;
                return Wrap(item, m.Path is null ? null : new ItemSource(m.Path, position), $"{m.Name}[{position}]");
            }
            case DictVal d when index is ConstVal { Value.IsStr: true } key:
                return d.Find(key.Value.AsString()) ?? throw Error(at, "key", $"KeyError: {key.Value.Repr()}", "use a key the dict has");
            case ObjVal { Object.IsDict: true } dict when index is ConstVal key && !dict.Object.CallMethod("__contains__", key.Value).IsTrue():
                // a missing key fails in plain Python too: the real call raises the KeyError
                throw Error(at, "key", $"KeyError: {key.Value.Repr()}", "use a key the dict has");
            default:
                throw Error(at, "subscript", $"indexing {Describe(container)} with {Describe(index)} cannot be captured", "index tensors, tuples and lists");
        }
    }

    private void SetItem(AstValue container, Expr indexExpr, AstValue value, Span at)
    {
        var index = Eval(indexExpr);
        switch (container)
        {
            case TensorVal t:
                Op(Ops.SetItem, [Use(t), IndexArg(index, at), ToArg(value, at)], [], at);
                return;
            case ListVal l when index is ConstVal { Value.IsInt: true } c:
                CheckListWrite(l, at);
                var i = c.Value.ToInt64();
                if (i < 0) i += l.Items.Count;
                if (i < 0 || i >= l.Items.Count) throw Error(at, "index", "list assignment index out of range", "check the index");
                l.Items[(int)i] = value;
                return;
            default:
                throw Error(at, "item assignment", $"item assignment on {Describe(container)} cannot be captured", "assign items of tensors or of lists made in the function");
        }
    }

    private void CheckListWrite(ListVal list, Span at)
    {
        if (list.Owner is null)
            throw Error(at, "list mutation", "this changes a list that comes from outside the function", "build a new list and return it");
        if (list.Owner != _scope)
            throw Error(at, "list mutation", "this changes a list made outside the tensor-dependent branch or loop it is in", "build the list outside, or return the values from the branch");
    }

    private Arg IndexArg(AstValue index, Span at) => index switch
    {
        TupleVal t => new ListArg(t.Items.Select(i => IndexArg(i, at)).ToEquatableList(), IsTuple: true),
        _ => ToArg(index, at),
    };

    // ---- graph arguments and results ----

    private RefArg Use(TensorVal t) => _scope.Use(t);

    private Arg ToArg(AstValue value, Span at) => value switch
    {
        TensorVal t => Use(t),
        ConstVal c => ConstArg(c.Value, at),
        TupleVal t => new ListArg(t.Items.Select(i => ToArg(i, at)).ToEquatableList(), IsTuple: true),
        ListVal l => new ListArg(l.Items.Select(i => ToArg(i, at)).ToEquatableList()),
        UndefinedVal u => throw Error(at, "undefined", u.Why, "assign the variable on every path before using it"),
        _ => throw ArbitraryObject(value, "passing", at),
    };

    private Arg ConstArg(PyObject value, Span at) => ConstantArgs.Of(value, _torch)
        ?? throw (value.IsInt
            ? Error(at, "python error", "RuntimeError: Overflow when unpacking long (an int beyond int64 as a tensor op's argument)", "torch raises this too: use a smaller number")
            : Error(at, "python object", $"a {value.TypeName} cannot be an argument of a graph op", "pass tensors, numbers, strings or dtypes"));

    /// <summary>How the return value is rebuilt; tensors become graph outputs (each once).</summary>
    private ValueSpec Spec(AstValue value, List<string> outputs, Span at)
    {
        switch (value)
        {
            case TensorVal t:
                var node = _root.Use(t).Name;
                var index = outputs.IndexOf(node);
                if (index < 0)
                {
                    outputs.Add(node);
                    index = outputs.Count - 1;
                }
                return new ValueSpec.Output(index);
            case ConstVal c: return new ValueSpec.Constant(c.Value.NewReference());
            case TupleVal t: return new ValueSpec.Tuple(t.Items.Select(i => Spec(i, outputs, at)).ToList()) { NamedType = t.NamedType?.NewReference() };
            case ListVal l: return new ValueSpec.List(l.Items.Select(i => Spec(i, outputs, at)).ToList());
            case ObjVal o: return new ValueSpec.Constant(o.Object.NewReference());
            case UndefinedVal u: throw Error(at, "undefined", u.Why, "assign the variable on every path before returning it");
            default: throw Error(at, "return", $"returning {Describe(value)} cannot be captured", "return tensors, numbers, tuples or lists");
        }
    }

    private static AstValue None(Span at) => new ConstVal(Py.None);

    private static string Describe(AstValue value) => value switch
    {
        TensorVal t => $"a tensor {t.Meta}",
        ConstVal c => $"a {c.Value.TypeName} ({c.Value.Repr()})",
        TupleVal t => $"a tuple of {t.Items.Count}",
        ListVal l => $"a list of {l.Items.Count}",
        DictVal d => $"a dict of {d.Items.Count}",
        ObjVal { Kind: ObjectKind.NnModule } m => $"the module {m.Name} ({m.Object.TypeName})",
        ObjVal o => $"{o.Name} (a {o.Object.TypeName})",
        MethodVal m => $"the method {m.Name}",
        UndefinedVal => "an undefined variable",
        _ => value.GetType().Name,
    };
}
