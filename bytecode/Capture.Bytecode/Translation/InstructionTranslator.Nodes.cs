namespace Capture.Bytecode;

// Graph nodes: torch ops added through the builder, with the arguments Python values become.
public sealed partial class InstructionTranslator
{
    private StepResult PushOrBreak(Instruction ins, Func<SymValue> make)
    {
        try
        {
            Push(make());
            return StepResult.Continue;
        }
        catch (ShapeError e)
        {
            // torch would raise here too: the real instruction raises it with the user's line.
            return new StepResult.Break($"{e.Message}{At(ins)}");
        }
        catch (NotSupportedException e)
        {
            return new StepResult.Break($"{e.Message}{At(ins)}");
        }
        catch (ArgumentConversionException e)
        {
            return new StepResult.Break($"{e.Message}{At(ins)}");
        }
    }

    private SymValue CallOp(string name, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs) => CallOp(OpRegistry.GetOrOpaque(name), args, kwargs);

    private SymValue CallOp(OpDef op, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs)
    {
        if (op.IsInPlace) _context.Mutations++;
        if (op.Category != OpCategory.Opaque)
        {
            try { return Named(op, FromNode(_context.Builder.Call(op, args, kwargs))); }
            catch (NotSupportedException) when (!op.IsInPlace && op.Name.StartsWith("torch.", StringComparison.Ordinal))
            {
                // a form of a registry op its rule does not cover (max_pool2d with return_indices=True):
                // torch runs it as an opaque call, its metadata from fake tensors
                try { return CallOp(OpDef.Opaque(SameFunction + op.Name), args, kwargs); }
                catch (Exception e) when (e is NotSupportedException or ShapeError) { }
                throw;
            }
        }
        var inferred = _context.Torch.InferOpaque(op.Name, args, kwargs, _context.Builder.MetaOf);
        var result = FromNode(_context.Builder.Call(OpDef.Opaque(op.Name, inferred), args, kwargs, opaqueMeta: inferred.Meta));
        return result is TupleValue tuple && inferred.TupleType is { } type ? tuple with { NamedType = ReturnType(type) } : result;
    }

    /// <summary>The prefix that names torch's function of a registry op as a distinct opaque op (capture/_same.py).</summary>
    private const string SameFunction = "capture._same.";

    private static PyObject ReturnType(string qualifiedName)
    {
        using var types = Py.Import("torch.return_types");
        return types.GetAttr(qualifiedName["torch.return_types.".Length..]);
    }

    // torch.max(x, dim) returns torch.return_types.max(values, indices), not a plain tuple
    private static SymValue Named(OpDef op, SymValue result)
    {
        if (result is not TupleValue tuple || (op != Ops.Max && op != Ops.Min)) return result;
        using var torch = Py.Import("torch");
        using var types = torch.GetAttr("return_types");
        return tuple with { NamedType = types.GetAttr(op.Name[6..]) };
    }

    private SymValue CallMethodOp(TensorValue self, string method, IReadOnlyList<Arg> args, IReadOnlyList<Kwarg> kwargs)
    {
        var op = OpRegistry.TryGetMethod(method, out var found) ? found : throw new NotSupportedException($"Tensor.{method} is not in Capture's op registry");
        if (op.IsInPlace && op.MutatedArg == 0 && op.FunctionalName is { } functionalName and not ("copy" or "fill" or "zero")
            && OpRegistry.TryGet(functionalName, out var functional) && functional.MethodName is not null && _context.IsWritableBuffer(self))
        {
            // a module buffer written in place (num_batches_tracked.add_(1)): computed functionally, copied back after the graph
            var value = FromNode(_context.Builder.Call(functional, args.Prepend(new RefArg(self.Node)).ToList(), kwargs, method: true));
            if (value is TensorValue t && t.Meta.DType != self.Meta.DType)
                value = FromNode(_context.Builder.Call(Ops.To, [new RefArg(t.Node), new DTypeArg(self.Meta.DType)], method: true));
            if (value is TensorValue written && written.Meta.Shape == self.Meta.Shape) return _context.CopyBack(self, written);
            throw new NotSupportedException($"Tensor.{method} on the buffer {self.Source} changes its shape or gives no tensor");
        }
        if (op.IsInPlace) _context.Mutations++;
        return Named(op, FromNode(_context.Builder.Call(op, args.Prepend(new RefArg(self.Node)).ToList(), kwargs, method: true)));
    }

    private SymValue FromNode(RefArg node) => _context.Builder.MetaOf(node) switch
    {
        TensorMeta t => new TensorValue(node.Name, t),
        // an item that is None (a fused op's optional result) is the constant None, not a graph value
        TupleMeta tuple => new TupleValue(Enumerable.Range(0, tuple.Items.Count)
            .Select(i => tuple.Items[i] is NoneMeta ? Const(Py.None) : FromNode(_context.Builder.Call(Ops.GetItem, node, (long)i))).ToList()),
        var other => throw new NotSupportedException($"an op returning {MetaText.Format(other)} cannot be used in a graph yet"),
    };

    private Arg ToArg(SymValue value) => value switch
    {
        TensorValue t => new RefArg(t.Node),
        SymIntValue size => Arg.Size(size.Size),
        ScalarInputValue scalar => new RefArg(scalar.Input()),
        SliceValue slice => new SliceArg(ToArg(slice.Start), ToArg(slice.Stop), ToArg(slice.Step)),
        ConstValue c => ConstArg(c.Value),
        TupleValue t => new ListArg(t.Items.Select(ToArg).ToEquatableList(), IsTuple: true),
        ListValue l => new ListArg(l.Items.Select(ToArg).ToEquatableList()),
        // a slice or other constant made during capture (slice(1, 3))
        ObjectValue { Source: null } o when ConstantArgs.Of(o.Object, _context.Torch) is { } constant => constant,
        // a torch.device or dtype the caller passed (held under its identity guard)
        ObjectValue o when o.Object.TypeName is "torch.device" or "torch.dtype" && ConstantArgs.Of(o.Object, _context.Torch) is { } held => held,
        _ => throw new ArgumentConversionException($"a {Describe(value)} cannot be an argument of a graph op"),
    };

    private Arg ConstArg(PyObject value) => ConstantArgs.Of(value, _context.Torch)
        ?? throw new ArgumentConversionException($"a {value.TypeName} constant cannot be an argument of a graph op");

    private Arg IndexArg(SymValue index) => ToArg(index);
}

/// <summary>A value that cannot be passed to a graph op (a graph break, not a bug).</summary>
internal sealed class ArgumentConversionException(string message) : Exception(message);
