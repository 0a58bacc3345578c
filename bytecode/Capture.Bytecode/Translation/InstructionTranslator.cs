namespace Capture.Bytecode;

/// <summary>
/// Symbolically executes a function's bytecode from an entry instruction: tensor operations become
/// graph nodes, Python values are tracked with their sources, and guards are installed for what the
/// capture depends on. It stops at RETURN_VALUE or at a graph break. One partial class, split by
/// opcode family (Loads, Operators, Calls, ControlFlow, Containers); <see cref="Step"/> dispatches.
/// </summary>
public sealed partial class InstructionTranslator
{
    private const int MaxSteps = 100_000;
    private const int MaxInlineDepth = 16;

    private readonly CodeInfo _code;
    private readonly CaptureContext _context;
    private readonly Dictionary<string, SymValue> _locals;
    private readonly List<SymValue> _stack;
    private readonly PyObject _globals;
    private readonly Source? _globalsSource; // null: the frame's own globals (G['x'])
    private readonly int _depth;
    private readonly HashSet<string> _unread = [];
    private readonly Dictionary<string, CellValue> _freeCells = [];
    private List<SymValue>? _yields; // set while a generator's body runs inlined
    private bool _resumable = true;
    private PyObject? _kwNames;
    private int _pc;

    private InstructionTranslator(CodeInfo code, CaptureContext context, Dictionary<string, SymValue> locals, List<SymValue> stack,
        PyObject globals, Source? globalsSource, int depth, int entry)
    {
        _code = code;
        _context = context;
        _locals = locals;
        _stack = stack;
        _globals = globals;
        _globalsSource = globalsSource;
        _depth = depth;
        _pc = entry;
    }

    /// <summary>
    /// Captures from <paramref name="entry"/> with the frame's real values: each local and stack value
    /// is wrapped (tensors become graph inputs, Python values constants under guards).
    /// </summary>
    /// <param name="resumable">
    /// False for frames captured only as a whole: a break there means the frame runs eagerly, so the
    /// capture does not describe how to rebuild the frame at the break.
    /// </param>
    public static CaptureResult Capture(CodeInfo code, FrameState frame, int entry, ITorchBridge torch, bool resumable = true, DynamicDims? dynamic = null)
    {
        // A dim known to vary is symbolic even at size 1 when the capture does not rely on the 1 (a
        // batch of 1 in a sweep of batch sizes): the graph serves every size. Where it does rely on it
        // (squeeze, broadcasting, a branch), or fails with it, it is captured again with the 1 specialized.
        var ones = new OnesProbe();
        try
        {
            var capture = Capture(code, frame, entry, torch, resumable, dynamic, ones);
            if (!ones.Relied) return capture;
        }
        catch (Exception) when (ones.Made) { }
        return Capture(code, frame, entry, torch, resumable, dynamic, ones: null);
    }

    /// <summary>Whether a capture made a symbol of size 1, and whether it relied on its being 1.</summary>
    private sealed class OnesProbe
    {
        public bool Made { get; set; }
        public bool Relied { get; set; }
    }

    private static CaptureResult Capture(CodeInfo code, FrameState frame, int entry, ITorchBridge torch, bool resumable, DynamicDims? dynamic, OnesProbe? ones)
    {
        var context = new CaptureContext(torch, frame, dynamic, symbolicOnes: ones is not null);
        using var shapes = ShapeEnv.Enter(context.Shapes);
        context.Guards.Add(new GradModeGuard(torch.IsGradEnabled()));
        context.Guards.Add(GlobalStateGuard.DefaultDType(context.Torch));
        var stack = frame.Stack.Select((v, i) => v is null ? NullValue.Instance : context.Wrap(v, new StackSource(i))).ToList();
        var translator = new InstructionTranslator(code, context, [], stack, frame.Globals, null, 0, entry) { _resumable = resumable };
        translator._unread.UnionWith(frame.Locals.Keys);
        try
        {
            var result = translator.Run();
            if (ones is not null) ones.Relied = context.ReliesOnOnes;
            return result;
        }
        finally
        {
            if (ones is not null) ones.Made = context.Shapes.Hints.Values.Contains(1);
            context.ReleaseInputs();
        }
    }

    private CaptureResult Run()
    {
        var entry = _pc;
        for (var steps = 0; steps < MaxSteps; steps++)
        {
            var instruction = _code.Instructions[_pc];
            var startStack = _stack.ToList();
            var startLocals = new Dictionary<string, SymValue>(_locals);
            var mark = _context.Builder.Mark();
            var undo = _context.UndoMark;
            _context.Builder.Source = instruction.Location;
            _context.Guards.Site = instruction.Location;
            if (instruction.Location is { } location) _context.Lines.Add((location.File, location.Line));
            StepResult result;
            try
            {
                result = Step(instruction);
            }
            catch (InlineBreakException e)
            {
                result = new StepResult.Break(e.Message, Enumerable.Reverse(e.Frames).ToList());
            }
            switch (result)
            {
                case StepResult.Next:
                    _pc++;
                    break;
                case StepResult.Jump j:
                    _pc = j.Target;
                    break;
                case StepResult.Return r:
                    return _context.Finish(entry, outputs => new ExitPlan.Return(outputs.Spec(r.Value)));
                case StepResult.Break b:
                    // ops the breaking instruction added (a partly inlined call) would run twice
                    _context.Builder.Truncate(mark);
                    _context.RollBack(undo);
                    var cause = new GraphBreak(b.Reason, instruction.Index, instruction.Location,
                        [Frame(_code, instruction), .. b.Inner ?? []]);
                    // The breaking instruction runs for real on the frame as it was before it; locals
                    // the capture never read are re-read from the frame.
                    var unread = _unread.ToList();
                    if (!_resumable)
                        return _context.Finish(entry, _ => new ExitPlan.Break(cause, new Dictionary<string, ValueSpec>(), []));
                    try
                    {
                        return _context.Finish(entry, outputs => new ExitPlan.Break(cause,
                        startLocals.ToDictionary(p => p.Key, p => outputs.Spec(p.Value))
                            .Concat(unread.Where(n => !startLocals.ContainsKey(n)).Select(n => new KeyValuePair<string, ValueSpec>(n, new ValueSpec.FromSource(new LocalSource(n)))))
                            .ToDictionary(p => p.Key, p => p.Value),
                        startStack.Select(outputs.Spec).ToList()));
                    }
                    catch (NotSupportedException e)
                    {
                        throw new UnresumableBreakException(cause, e.Message, e);
                    }
            }
        }
        throw new NotSupportedException($"capture of {_code.Name} did not finish in {MaxSteps} instructions");
    }

    /// <summary>
    /// Captures an inlined call: the callee's code with its own locals, sharing the graph and guards.
    /// A generator's body runs to its end and the call returns an iterator over what it yielded; that
    /// is only the same as running it lazily when the body has no side effects, so one with side
    /// effects is a break.
    /// </summary>
    private SymValue Inline(CodeInfo callee, Dictionary<string, SymValue> locals, IReadOnlyDictionary<string, CellValue> freeCells, PyObject globals, Source? globalsSource)
    {
        if (_depth + 1 > MaxInlineDepth) throw new InlineBreakException($"inlining deeper than {MaxInlineDepth} calls");
        var child = new InstructionTranslator(callee, _context, locals, [], globals, globalsSource, _depth + 1, 0);
        foreach (var (name, cell) in freeCells) child._freeCells[name] = cell;
        var mutations = _context.Mutations;
        if (callee.IsGenerator) child._yields = [];
        for (var steps = 0; steps < MaxSteps; steps++)
        {
            var instruction = callee.Instructions[child._pc];
            _context.Builder.Source = instruction.Location;
            StepResult result;
            try
            {
                result = child.Step(instruction);
            }
            catch (InlineBreakException e)
            {
                e.Frames.Add(Frame(callee, instruction));
                throw;
            }
            switch (result)
            {
                case StepResult.Next: child._pc++; break;
                case StepResult.Jump j: child._pc = j.Target; break;
                case StepResult.Return r when child._yields is { } yields:
                    if (_context.Mutations != mutations)
                        throw new InlineBreakException($"generator {callee.Name} has side effects (it cannot run ahead of its consumer)");
                    return new IteratorValue(yields) { Returned = r.Value };
                case StepResult.Return r: return r.Value;
                case StepResult.Break b:
                    var inner = new InlineBreakException(b.Reason);
                    inner.Frames.Add(Frame(callee, instruction));
                    throw inner;
            }
        }
        throw new InlineBreakException($"inlined call to {callee.Name} did not finish");
    }

    /// <summary>One line of a break's user stack: the function and where in it.</summary>
    private static string Frame(CodeInfo code, Instruction at) =>
        at.Location is { } l ? $"{code.Name} ({l.File}:{l.Line})" : code.Name;

    private StepResult Yield(Instruction ins)
    {
        if (_yields is null) return new StepResult.Break($"yield outside an inlined generator{At(ins)}");
        _yields.Add(Pop());
        Push(Const(Py.None)); // what next() sends
        return StepResult.Continue;
    }

    /// <summary>The Python construct an opcode the translator does not handle comes from, in the user's words.</summary>
    private static string Construct(Opcode opcode, string name) => opcode switch
    {
        Opcode.GET_AWAITABLE or Opcode.ASYNC_GEN_WRAP => "await / async code",
        Opcode.LOAD_BUILD_CLASS => "a class statement",
        Opcode.MATCH_CLASS or Opcode.MATCH_MAPPING or Opcode.MATCH_SEQUENCE or Opcode.MATCH_KEYS or Opcode.GET_LEN => "a match statement",
        Opcode.SETUP_ANNOTATIONS => "a variable annotation at module level",
        Opcode.PRINT_EXPR => "an expression statement echoed in interactive mode",
        Opcode.STORE_GLOBAL => "assigning a global variable",
        Opcode.DELETE_ATTR => "del of an attribute",
        Opcode.DELETE_FAST or Opcode.DELETE_DEREF => "del of a local variable",
        Opcode.PUSH_EXC_INFO or Opcode.POP_EXCEPT or Opcode.CHECK_EXC_MATCH or Opcode.RERAISE or Opcode.WITH_EXCEPT_START => "try/except (exception handling)",
        _ => $"the Python construct compiled to {name}",
    };

    /// <summary>GET_YIELD_FROM_ITER: `yield from items` over an inlined generator (already an iterator) or a sequence the capture knows.</summary>
    private StepResult GetYieldFromIter(Instruction ins)
    {
        if (Peek() is IteratorValue) return StepResult.Continue;
        var value = Pop();
        if (value is TensorValue || IterableItems(value) is not { } items) return new StepResult.Break($"yield from a {Describe(value)}{At(ins)}");
        Push(new IteratorValue(items));
        return StepResult.Continue;
    }

    /// <summary>SEND (yield from): the sub-iterator's next item, or, when it is exhausted, its return value (None) and a jump past the loop.</summary>
    private StepResult Send(Instruction ins)
    {
        var sent = Pop();
        if (Peek() is not IteratorValue receiver || sent is not ConstValue { Value.IsNone: true })
            return new StepResult.Break($"yield from with a value sent in{At(ins)}");
        var next = _context.Consume(receiver, 1);
        if (next.Count == 1)
        {
            Push(next[0]);
            return StepResult.Continue;
        }
        _stack[^1] = receiver.Returned ?? Const(Py.None);
        return new StepResult.Jump(ins.JumpTarget!.Value);
    }

    private SymValue Pop()
    {
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private List<SymValue> PopN(int n)
    {
        var items = _stack.GetRange(_stack.Count - n, n);
        _stack.RemoveRange(_stack.Count - n, n);
        return items;
    }

    private void Push(SymValue value) => _stack.Add(value);

    /// <summary>A constant computed from others: it depends on what they depended on.</summary>
    private static ConstValue Derived(PyObject result, IEnumerable<SymValue> from) =>
        new(result) { DependsOn = from.OfType<ConstValue>().SelectMany(c => c.DependsOn).Distinct().ToList() };

    /// <summary>Tags a constant just read from a tensor's metadata with the guards it follows from.</summary>
    private SymValue FromMetadata(SymValue value, TensorValue tensor, string what) =>
        value is ConstValue { DependsOn.Count: 0 } c ? c with { DependsOn = _context.GuardsBehind(tensor, what) } : value;

    private SymValue Peek(int depth = 1) => _stack[^depth];

    private StepResult Step(Instruction ins) => ins.Opcode switch
    {
        Opcode.NOP or Opcode.RESUME or Opcode.CACHE or Opcode.PRECALL or Opcode.EXTENDED_ARG or Opcode.MAKE_CELL or Opcode.COPY_FREE_VARS => StepResult.Continue,
        Opcode.POP_TOP => Do(() => Pop()),
        Opcode.PUSH_NULL => Do(() => Push(NullValue.Instance)),
        Opcode.COPY => Do(() => Push(Peek(ins.Arg!.Value))),
        Opcode.SWAP => Do(() => (_stack[^1], _stack[^ins.Arg!.Value]) = (_stack[^ins.Arg!.Value], _stack[^1])),
        Opcode.LOAD_FAST => LoadLocal(ins),
        Opcode.LOAD_DEREF => LoadDeref(ins),
        Opcode.LOAD_CLOSURE => LoadClosure(ins),
        Opcode.STORE_FAST => Do(() => WriteVariable(ins.Name!, Pop())),
        Opcode.STORE_DEREF => StoreDeref(ins),
        Opcode.MAKE_FUNCTION => MakeFunction(ins),
        Opcode.RETURN_GENERATOR => Do(() => Push(Const(Py.None))),
        Opcode.YIELD_VALUE => Yield(ins),
        Opcode.GET_YIELD_FROM_ITER => GetYieldFromIter(ins),
        Opcode.SEND => Send(ins),
        Opcode.DELETE_FAST => Do(() => { _unread.Remove(ins.Name!); _locals.Remove(ins.Name!); }),
        Opcode.LOAD_CONST => Do(() => Push(new ConstValue(ins.Constant!.NewReference()))),
        Opcode.LOAD_GLOBAL => LoadGlobal(ins),
        Opcode.LOAD_ATTR => LoadAttr(ins, method: false),
        Opcode.LOAD_METHOD => LoadAttr(ins, method: true),
        Opcode.STORE_ATTR => StoreAttr(ins),
        Opcode.KW_NAMES => Do(() => _kwNames = ins.Constant),
        Opcode.CALL => Call(ins),
        Opcode.CALL_FUNCTION_EX => CallEx(ins),
        Opcode.BINARY_OP => BinaryOp(ins),
        Opcode.COMPARE_OP => Compare(ins),
        Opcode.IS_OP => IsOp(ins),
        Opcode.CONTAINS_OP => Contains(ins),
        Opcode.UNARY_NEGATIVE or Opcode.UNARY_POSITIVE or Opcode.UNARY_NOT or Opcode.UNARY_INVERT => Unary(ins),
        Opcode.BINARY_SUBSCR => Subscript(ins),
        Opcode.STORE_SUBSCR => StoreSubscript(ins),
        Opcode.DELETE_SUBSCR => DeleteSubscript(ins),
        Opcode.MAP_ADD => MapAdd(ins),
        Opcode.BUILD_SET => BuildSet(ins),
        Opcode.SET_ADD or Opcode.SET_UPDATE => SetAdd(ins),
        Opcode.IMPORT_NAME => ImportName(ins),
        Opcode.IMPORT_FROM => ImportFrom(ins),
        Opcode.UNPACK_EX => UnpackEx(ins),
        Opcode.BUILD_TUPLE => Do(() => Push(new TupleValue(PopN(ins.Arg!.Value)))),
        Opcode.BUILD_LIST => Do(() => Push(new ListValue(PopN(ins.Arg!.Value)))),
        Opcode.BUILD_MAP or Opcode.BUILD_CONST_KEY_MAP => BuildMap(ins),
        Opcode.BUILD_SLICE => BuildSlice(ins),
        Opcode.BUILD_STRING => BuildString(ins),
        Opcode.LIST_APPEND or Opcode.LIST_EXTEND => ListAdd(ins),
        Opcode.LIST_TO_TUPLE => ListToTuple(),
        Opcode.DICT_MERGE or Opcode.DICT_UPDATE => DictMerge(ins),
        Opcode.UNPACK_SEQUENCE => Unpack(ins),
        Opcode.FORMAT_VALUE => FormatValue(ins),
        Opcode.GET_ITER => GetIter(ins),
        Opcode.FOR_ITER => ForIter(ins),
        Opcode.JUMP_FORWARD or Opcode.JUMP_BACKWARD or Opcode.JUMP_BACKWARD_NO_INTERRUPT => new StepResult.Jump(ins.JumpTarget!.Value),
        Opcode.POP_JUMP_FORWARD_IF_TRUE or Opcode.POP_JUMP_BACKWARD_IF_TRUE => JumpIf(ins, jumpWhen: true),
        Opcode.POP_JUMP_FORWARD_IF_FALSE or Opcode.POP_JUMP_BACKWARD_IF_FALSE => JumpIf(ins, jumpWhen: false),
        Opcode.POP_JUMP_FORWARD_IF_NONE or Opcode.POP_JUMP_BACKWARD_IF_NONE => JumpIfNone(ins, jumpWhenNone: true),
        Opcode.POP_JUMP_FORWARD_IF_NOT_NONE or Opcode.POP_JUMP_BACKWARD_IF_NOT_NONE => JumpIfNone(ins, jumpWhenNone: false),
        Opcode.JUMP_IF_TRUE_OR_POP => JumpOrPop(ins, jumpWhen: true),
        Opcode.JUMP_IF_FALSE_OR_POP => JumpOrPop(ins, jumpWhen: false),
        Opcode.RETURN_VALUE => new StepResult.Return(Pop()),
        Opcode.BEFORE_WITH => BeforeWith(ins),
        _ => new StepResult.Break($"{Construct(ins.Opcode, ins.OpName)} is not captured yet{At(ins)}"),
    };

    private static StepResult Do(Action action)
    {
        action();
        return StepResult.Continue;
    }

    private StepResult Do(Func<object?> action)
    {
        action();
        return StepResult.Continue;
    }

    private string At(Instruction ins) => ins.Location is { } l ? $" at line {l.Line}" : "";
}
