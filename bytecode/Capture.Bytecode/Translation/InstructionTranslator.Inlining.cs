namespace Capture.Bytecode;

// Calls of Python functions, methods and nn.Modules: inlined into the same graph, their arguments
// bound as CPython binds them (defaults guarded through the function's source).
public sealed partial class InstructionTranslator
{
    private StepResult InlineFunction(Instruction ins, SymValue callee, PyObject function, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs, SymValue? self,
        string method = "forward", Source? knownSource = null)
    {
        if (FunctionMarks.IsDisabled(function))
            return new StepResult.Break($"a call to {FunctionName(function)}, which capture.disable keeps out of graphs: it runs as plain Python{At(ins)}");
        if (PythonObjects.UntracedStdlibModule(function) is { } stdlib)
            return new StepResult.Break($"call to {FunctionName(function)}: Python's standard library ({stdlib}) is not traced; the call runs as plain Python between graphs{At(ins)}");
        CodeInfo code;
        try { code = InstructionDecoder.Decode(function); }
        catch (PythonException e) { return new StepResult.Break($"cannot read the bytecode of the called function: {e.Message}{At(ins)}"); }
        // the capture ran this code with these defaults: fn.__code__ = other.__code__ recompiles
        _context.Guards.Add(FunctionGuard.Of(function));
        var source = callee.Source;
        // where the function itself is found: f, or type(self).method as self.method.__func__
        var functionSource = knownSource ?? (source is null ? null : self is null ? source : new AttrSource(new AttrSource(source, method), "__func__"));
        var trustedCells = functionSource is null && code.FreeVars.Count > 0 && PythonObjects.IsTrusted(function);
        if (code.FreeVars.Count > 0 && functionSource is null && !OnlyClassCell(code, function) && !trustedCells)
            return new StepResult.Break($"call to the closure {code.Name}, made where Capture cannot re-read the variables it captured on later calls{At(ins)}");
        var (defaults, kwDefaults) = RealDefaults(function, functionSource);
        var locals = BindArguments(code, self is null ? args : args.Prepend(self).ToList(), kwargs, defaults, kwDefaults);
        if (locals is null) return new StepResult.Break($"call to {code.Name} with arguments that do not match its signature{At(ins)}");
        if (code.FreeVars.Count > 0)
        {
            using var closure = function.GetAttr("__closure__");
            for (var i = 0; i < code.FreeVars.Count; i++)
            {
                using var cell = closure.GetItem(i);
                if (!cell.HasAttr("cell_contents")) continue; // an empty cell: reading it is the error it is in Python
                using var contents = cell.GetAttr("cell_contents");
                locals[code.FreeVars[i]] = functionSource is null
                    // a method's __class__ cell (for zero-argument super()), or a cell of torch's own helpers
                    // (torch.nn.modules.utils._pair's n): fixed once the function is made, read now
                    ? _context.Constant(contents)
                    : _context.Wrap(contents, new AttrSource(new ItemSource(new AttrSource(functionSource, "__closure__"), i), "cell_contents"));
            }
        }
        using var globals = function.GetAttr("__globals__");
        Source? globalsSource = globals.Is(_context.Frame.Globals) ? null
            : _context.TrustedModuleOf(globals) is { } trusted ? new TrustedModuleSource(trusted)
            : functionSource is null ? null : new AttrSource(functionSource, "__globals__");
        if (!globals.Is(_context.Frame.Globals) && globalsSource is null)
            return new StepResult.Break($"call to {code.Name} of another module, reached through a value Capture cannot re-read on later calls{At(ins)}");
        Push(Inline(code, locals, new Dictionary<string, CellValue>(), globals, globalsSource));
        return StepResult.Continue;
    }

    /// <summary>Whether the function's only free variable is the __class__ cell zero-argument super() reads, holding a class.</summary>
    private static bool OnlyClassCell(CodeInfo code, PyObject function)
    {
        if (code.FreeVars is not ["__class__"]) return false;
        using var closure = function.GetAttr("__closure__");
        using var cell = closure.GetItem(0);
        if (!cell.HasAttr("cell_contents")) return false;
        using var contents = cell.GetAttr("cell_contents");
        using var builtins = Py.Builtins;
        using var typeType = builtins.GetAttr("type");
        return contents.IsInstance(typeType);
    }

    private static string FunctionName(PyObject function)
    {
        using var name = function.GetAttr("__qualname__");
        return name.AsString();
    }

    /// <summary>A function made during capture: its defaults and cells are symbolic already.</summary>
    private StepResult InlineMade(Instruction ins, FunctionValue f, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs)
    {
        var locals = BindArguments(f.Code, args, kwargs, f.Defaults, f.KwDefaults);
        if (locals is null) return new StepResult.Break($"call to {f.Code.Name} with arguments that do not match its signature{At(ins)}");
        var cells = f.Code.FreeVars.Select((name, i) => (name, cell: f.Closure[i])).ToDictionary(p => p.name, p => p.cell);
        Push(Inline(f.Code, locals, cells, f.Globals, f.GlobalsSource));
        return StepResult.Continue;
    }

    /// <summary>A real function's defaults: guarded through its source when it has one, constants otherwise.</summary>
    private (List<SymValue> Defaults, List<KeyValuePair<string, SymValue>> KwDefaults) RealDefaults(PyObject function, Source? functionSource)
    {
        SymValue Wrap(PyObject value, Func<Source, Source> at)
        {
            if (functionSource is not null) return _context.Wrap(value, at(functionSource));
            if (_context.Torch.IsTensor(value)) throw new InlineBreakException("a tensor default argument of a function reached through a value Capture cannot re-read on later calls");
            return new ConstValue(value.NewReference());
        }
        using var defaults = function.GetAttr("__defaults__");
        var positional = new List<SymValue>();
        if (!defaults.IsNone)
        {
            var items = defaults.ToItems();
            for (var i = 0; i < items.Count; i++)
            {
                var index = i;
                using (items[i]) positional.Add(Wrap(items[i], s => new ItemSource(new AttrSource(s, "__defaults__"), index)));
            }
        }
        using var kwDefaults = function.GetAttr("__kwdefaults__");
        var keywords = new List<KeyValuePair<string, SymValue>>();
        if (!kwDefaults.IsNone)
            foreach (var (k, v) in kwDefaults.ToDictItems())
            {
                using (k)
                using (v)
                {
                    var name = k.AsString();
                    keywords.Add(new(name, Wrap(v, s => new KeySource(new AttrSource(s, "__kwdefaults__"), name))));
                }
            }
        return (positional, keywords);
    }

    /// <summary>Binds call arguments to a function's parameters, defaults included; null if they do not fit.</summary>
    private static Dictionary<string, SymValue>? BindArguments(CodeInfo code, List<SymValue> args, List<KeyValuePair<string, SymValue>> kwargs,
        IReadOnlyList<SymValue> defaults, IReadOnlyList<KeyValuePair<string, SymValue>> kwDefaults)
    {
        var locals = new Dictionary<string, SymValue>();
        var names = code.VarNames.Take(code.ArgCount + code.KwOnlyArgCount).ToList();
        var positional = code.ArgCount;
        for (var i = 0; i < Math.Min(args.Count, positional); i++) locals[names[i]] = args[i];
        var extra = args.Skip(positional).ToList();
        var next = code.ArgCount + code.KwOnlyArgCount;
        if (code.HasVarArgs) locals[code.VarNames[next++]] = new TupleValue(extra);
        else if (extra.Count > 0) return null;
        var extraKw = new List<KeyValuePair<string, SymValue>>();
        foreach (var (key, value) in kwargs)
        {
            if (names.Contains(key)) { if (!locals.TryAdd(key, value)) return null; }
            else extraKw.Add(new(key, value));
        }
        if (code.HasVarKeywords) locals[code.VarNames[next]] = new DictValue(Keyed(extraKw));
        else if (extraKw.Count > 0) return null;
        for (var i = 0; i < defaults.Count; i++)
            locals.TryAdd(names[positional - defaults.Count + i], defaults[i]);
        foreach (var (name, value) in kwDefaults) locals.TryAdd(name, value);
        return names.All(locals.ContainsKey) ? locals : null;
    }

    private StepResult MakeFunction(Instruction ins)
    {
        var flags = ins.Arg!.Value;
        if (Pop() is not ConstValue codeValue) return new StepResult.Break($"MAKE_FUNCTION without a code object{At(ins)}");
        var closure = (flags & 0x08) != 0 ? Pop() : null;
        if ((flags & 0x04) != 0) Pop(); // annotations do not change what the function computes
        var kwDefaults = (flags & 0x02) != 0 ? Pop() : null;
        var defaults = (flags & 0x01) != 0 ? Pop() : null;
        var code = codeValue.Value;
        var cells = closure switch
        {
            null => [],
            TupleValue t when t.Items.All(i => i is CellValue) => t.Items.Cast<CellValue>().ToList(),
            _ => null,
        };
        var positional = defaults switch
        {
            null => [],
            TupleValue t => t.Items,
            ConstValue c when c.Value.IsTuple => c.Value.ToItems().Select(v => (SymValue)new ConstValue(v)).ToList(),
            _ => null,
        };
        var keywords = kwDefaults switch
        {
            null => [],
            DictValue d => Named(d),
            _ => null,
        };
        if (cells is null || positional is null || keywords is null) return new StepResult.Break($"MAKE_FUNCTION with defaults or cells Capture cannot follow{At(ins)}");
        Push(new FunctionValue(code.NewReference(), InstructionDecoder.Decode(code), positional, keywords, cells, _globals, _globalsSource));
        return StepResult.Continue;
    }
}
