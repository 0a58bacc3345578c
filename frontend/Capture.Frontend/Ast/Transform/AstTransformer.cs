using System.Collections.Frozen;

namespace Capture.Frontend;

/// <summary>
/// The AST path: transforms a Python function's syntax tree into one graph, in the style of
/// TorchScript's script. Parameters become placeholders; Python values (constants, shapes, modules,
/// globals) are resolved at capture time and assumed for later calls; calls to user functions and
/// nn.Modules are transformed from their own source; `if`/`while` on tensors become cond and
/// while_loop nodes whose branches are subgraphs, `if` on Python values is decided now, and loops
/// over known ranges are unrolled. What it cannot express is an <see cref="AstCaptureException"/>
/// with the user's file:line:col, the construct, and a suggestion.
/// Split by concern: statements here, expressions, calls and control flow in the partial files.
/// </summary>
public sealed partial class AstTransformer
{
    private const int MaxInlineDepth = 32;
    private const int MaxUnrolledIterations = 4096;

    private readonly ITorchBridge _torch;
    private readonly GraphScope _root;
    private GraphScope _scope;
    private Frame? _frameOrNull;

    private Frame _frame
    {
        get => _frameOrNull ?? throw new InvalidOperationException("no function is being transformed");
        set => _frameOrNull = value;
    }
    private readonly GuardSet _guards = new();
    private readonly NamespaceReads _namespaces = new();
    private readonly List<CaptureDecision> _decisions = [];
    private readonly HashSet<(string File, int Line)> _lines = [];
    private Span? _current;
    private readonly HashSet<string> _assumed = [];
    private readonly List<Source> _inputs = [];
    private readonly Dictionary<string, TensorVal> _inputTensors = [];
    private readonly List<(PyObject Tensor, Source Path, TensorVal Value)> _inputObjects = [];
    private readonly Dictionary<nint, ParsedFunction> _parsed = [];
    private int _depth;

    private AstTransformer(ITorchBridge torch)
    {
        _torch = torch;
        _root = _scope = new GraphScope(null, torch.IsGradEnabled());
    }

    /// <summary>
    /// Captures <paramref name="function"/> called with <paramref name="arguments"/> (parameter and
    /// closure values by name, as the caller bound them), GIL held.
    /// </summary>
    /// <exception cref="AstCaptureException">what the AST path cannot express, with the user's line.</exception>
    public static CaptureResult Capture(PyObject function, IReadOnlyDictionary<string, PyObject> arguments, PyObject globals, PyObject builtins, ITorchBridge torch)
    {
        var parsed = SourceReader.Read(function);
        SyntaxCheck.Check(parsed);
        var transformer = new AstTransformer(torch);
        transformer._guards.Add(new GradModeGuard(torch.IsGradEnabled()));
        transformer._guards.Add(GlobalStateGuard.DefaultDType(torch));
        try { return transformer.Run(parsed, function, arguments, globals, builtins); }
        finally
        {
            foreach (var input in transformer._inputObjects) input.Tensor.Dispose();
            transformer._frameOrNull?.Globals.Dispose();
            transformer._frameOrNull?.Builtins.Dispose();
        }
    }

    private CaptureResult Run(ParsedFunction parsed, PyObject function, IReadOnlyDictionary<string, PyObject> arguments, PyObject globals, PyObject builtins)
    {
        At(parsed.Definition.At); // what arguments refuse points at the def
        var locals = new Dictionary<string, AstValue>();
        foreach (var (name, argument) in arguments) locals[name] = Wrap(argument, new LocalSource(name), $"argument '{name}'");
        _frame = new Frame(parsed, function, locals, globals.NewReference(), builtins.NewReference(), name => new GlobalSource(name), null);
        var flow = ExecBlock(parsed.Definition.Body, []);
        var value = flow.Kind == FlowKind.Returned ? flow.Value! : None(parsed.Definition.At);
        var outputs = new List<string>();
        var result = Spec(value, outputs, parsed.Definition.At);
        _root.Builder.Source = null;
        var graph = _root.Builder.Output(new ListArg(outputs.Select(o => (Arg)new RefArg(o)).ToEquatableList(), IsTuple: true));
        _guards.Site = null;
        foreach (var guard in _namespaces.Guards()) _guards.Add(guard, at: null);
        foreach (var decision in _decisions) ExplainDecision(decision);
        return new CaptureResult(0, graph, _inputs, _guards, new ExitPlan.Return(result)) { Lines = _lines };
    }

    /// <summary>One function being transformed: its source, locals, and where its globals are read from.</summary>
    private sealed record Frame(ParsedFunction Parsed, PyObject Function, Dictionary<string, AstValue> Locals, PyObject Globals, PyObject Builtins,
        Func<string, Source?> GlobalPath, Frame? Caller)
    {
        public string Name => Parsed.Definition.Name;
    }

    private enum FlowKind { Normal, Returned, Break, Continue }

    private sealed record Flow(FlowKind Kind, AstValue? Value = null, Span? At = null)
    {
        public static readonly Flow Normal = new(FlowKind.Normal);
    }

    // ---- statements ----

    /// <summary>
    /// Runs statements in order. <paramref name="after"/> holds the statements that follow this block
    /// up to the end of the function (a tensor `if` that returns takes them into both branches); it
    /// is null inside loops, where such an `if` cannot be expressed.
    /// </summary>
    private Flow ExecBlock(IReadOnlyList<Stmt> statements, IReadOnlyList<Stmt>? after)
    {
        for (var i = 0; i < statements.Count; i++)
        {
            var rest = after is null ? null : statements.Skip(i + 1).Concat(after).ToList();
            var flow = Exec(statements[i], rest);
            if (flow.Kind != FlowKind.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Exec(Stmt statement, IReadOnlyList<Stmt>? rest)
    {
        At(statement.At);
        switch (statement)
        {
            case AssignStmt a:
            {
                var value = Eval(a.Value);
                foreach (var target in a.Targets) Assign(target, value);
                return Flow.Normal;
            }
            case AugAssignStmt a:
                AugAssign(a);
                return Flow.Normal;
            case AnnAssignStmt { Value: { } value } a:
                Assign(a.Target, Eval(value));
                return Flow.Normal;
            case AnnAssignStmt:
            case PassStmt:
                return Flow.Normal;
            case ExprStmt e:
                if (e.Value is ConstantExpr { Kind: ConstantKind.Str }) return Flow.Normal; // a docstring
                Eval(e.Value);
                return Flow.Normal;
            case ReturnStmt r:
                return new Flow(FlowKind.Returned, r.Value is null ? None(r.At) : Eval(r.Value));
            case IfStmt s:
                return If(s, rest);
            case ForStmt f:
                return For(f);
            case WhileStmt w:
                return While(w);
            case BreakStmt b:
                return new Flow(FlowKind.Break, At: b.At);
            case ContinueStmt c:
                return new Flow(FlowKind.Continue, At: c.At);
            case AssertStmt a:
                Assert(a);
                return Flow.Normal;
            case WithStmt w:
                return With(w);
            case FunctionDef d:
                throw Error(d.At, "nested def", $"a function defined inside the captured function ('{d.Name}') cannot be captured",
                    "define it at module level and call it");
            case UnsupportedStmt u:
                throw Unsupported(u);
            default:
                throw new InvalidOperationException($"unknown statement {statement}");
        }
    }

    /// <summary>
    /// `with torch.no_grad():` / `with torch.enable_grad():` / `with torch.set_grad_enabled(b):` put
    /// grad-mode nodes in the graph around the body (the mode is restored however the body ends); so
    /// does `with self.clone():` on one of them, which is how torch's decorators (@torch.no_grad()) run
    /// the function they wrap. Other context managers are refused.
    /// </summary>
    private Flow With(WithStmt w)
    {
        if (w.Items is not [{ Context: CallExpr call, Target: null }] || GradModeOf(call) is not { } enabled)
            throw Error(w.At, "with", "with blocks other than `with torch.no_grad():`, `with torch.enable_grad():` and `with torch.set_grad_enabled(b):` cannot be captured by the AST path",
                "call the captured function inside the with block, or use mode='bytecode'");
        var previous = _scope.Builder.GradEnabled;
        SetGradMode(enabled);
        var flow = ExecBlock(w.Body, null);
        SetGradMode(previous);
        return flow;
    }

    /// <summary>The grad mode a with statement's context sets, or null when it is not a grad-mode context.</summary>
    private bool? GradModeOf(CallExpr call)
    {
        // a decorator's `with self.clone():` (torch.autograd.grad_mode._DecoratorContextManager)
        if (call.Function is AttributeExpr { Attr: "clone" } clone && call.Args.Count == 0 && Eval(clone.Value) is ObjVal { Object: var instance })
        {
            using var type = instance.Type;
            using var module = type.GetAttr("__module__");
            using var name = type.GetAttr("__name__");
            if (module.AsString() == "torch.autograd.grad_mode")
                switch (name.AsString())
                {
                    case "no_grad": return false;
                    case "enable_grad": return true;
                    case "set_grad_enabled":
                        using (var flag = instance.GetAttr("mode")) return flag.IsTrue();
                    case "inference_mode":
                        throw Error(call.At, "inference_mode", "torch.inference_mode cannot be captured by the AST path (its tensors are inference tensors, not only grad-free)",
                            "use @torch.no_grad(), or mode='bytecode'");
                }
        }
        var function = Eval(call.Function);
        if (call.Args.Count == 0 && call.Keywords.Count == 0 && function is ObjVal { Name: "torch.no_grad" or "torch.enable_grad" or "torch.autograd.grad_mode.no_grad" or "torch.autograd.grad_mode.enable_grad" } mode)
            return mode.Name.EndsWith("enable_grad", StringComparison.Ordinal);
        if (function is ObjVal { Name: "torch.set_grad_enabled" or "torch.autograd.grad_mode.set_grad_enabled" } && call.Args.Count == 1 && call.Keywords.Count == 0)
            return Eval(call.Args[0]) is ConstVal { Value.IsBool: true } flag ? flag.Value.IsTrue()
                : throw Error(call.At, "with", "torch.set_grad_enabled takes a bool known at capture time here", "pass True or False");
        return null;
    }

    private void SetGradMode(bool enabled)
    {
        if (_scope.Builder.GradEnabled != enabled)
            _scope.Builder.Call(Ops.SetGradEnabled, [new BoolArg(enabled)]);
    }

    private void Assert(AssertStmt a)
    {
        var test = EvalTest(a.Test);
        if (test is TensorVal)
            throw Error(a.At, "assert on a tensor", "assert on a tensor needs the tensor's value while the graph runs",
                "assert on shapes or Python values, or use torch._assert outside the captured function");
        if (!Truth(test, a.Test.At))
            throw Error(a.At, "assert", "this assert fails for the example inputs", "fix the inputs or the assertion");
    }

    private void Assign(Expr target, AstValue value)
    {
        switch (target)
        {
            case NameExpr n:
                _frame.Locals[n.Id] = value;
                return;
            case TupleExpr or ListExpr:
            {
                var targets = target is TupleExpr t ? t.Items : ((ListExpr)target).Items;
                var items = Unpack(value, target.At);
                var star = targets.ToList().FindIndex(x => x is StarredExpr);
                if (star < 0)
                {
                    if (items.Count != targets.Count)
                        throw Error(target.At, "unpacking", $"cannot unpack {items.Count} values into {targets.Count} names", "match the number of names to the values");
                    for (var i = 0; i < targets.Count; i++) Assign(targets[i], items[i]);
                    return;
                }
                var after = targets.Count - star - 1;
                if (items.Count < targets.Count - 1)
                    throw Error(target.At, "unpacking", $"not enough values to unpack ({items.Count} for {targets.Count - 1} names and a starred one)", "match the names to the values");
                for (var i = 0; i < star; i++) Assign(targets[i], items[i]);
                Assign(((StarredExpr)targets[star]).Value, new ListVal(items.Skip(star).Take(items.Count - star - after).ToList(), _scope));
                for (var i = 0; i < after; i++) Assign(targets[star + 1 + i], items[items.Count - after + i]);
                return;
            }
            case SubscriptExpr s:
                SetItem(Eval(s.Value), s.Index, value, s.At);
                return;
            case AttributeExpr a:
                throw Error(a.At, "attribute store", $"assigning to '.{a.Attr}' changes an object outside the graph",
                    "return the value instead, or use mode='bytecode' (which replays attribute stores)");
            default:
                throw Error(target.At, "assignment", "this assignment target is not supported", "assign to names, tuples of names, or tensor items");
        }
    }

    private void AugAssign(AugAssignStmt a)
    {
        var current = Eval(a.Target);
        var value = Eval(a.Value);
        // x += y on a tensor is in place (Tensor.__iadd__): every name bound to x sees it
        var result = current is TensorVal t && InPlaceMethods.TryGetValue(a.Op, out var method)
            ? CallTensorMethod(t, method, [value], [], a.At)
            : Binary(a.Op, current, value, a.At);
        switch (a.Target)
        {
            case NameExpr n:
                _frame.Locals[n.Id] = result;
                break;
            case SubscriptExpr s when current is TensorVal && result is TensorVal:
                // x[i] += y: the item was updated in place through the view; store it back as Python does
                SetItem(Eval(s.Value), s.Index, result, s.At);
                break;
            default:
                Assign(a.Target, result);
                break;
        }
    }

    private static readonly FrozenDictionary<string, string> InPlaceMethods = new Dictionary<string, string>
    {
        ["+"] = "add_", ["-"] = "sub_", ["*"] = "mul_", ["/"] = "div_", ["**"] = "pow_",
    }.ToFrozenDictionary();

    // try, global and nonlocal never get here: SyntaxCheck refuses them in every function first
    private Exception Unsupported(UnsupportedStmt u) => u.Kind switch
    {
        // reached outside any tensor-dependent branch or loop: eager raises for these inputs too, and the
        // runner calls the function for real so that the caller gets that exception from its line
        "Raise" when ReferenceEquals(_scope, _root) => Error(u.At, "raised", "this raise is reached for these inputs (the function raises, as in eager)",
            "check inputs before calling the captured function"),
        "Raise" => Error(u.At, "raise", "a raise inside a branch or loop that a tensor decides cannot be captured: a graph cannot raise",
            "check the condition outside the captured function, or use mode='bytecode'"),
        "AsyncWith" => Error(u.At, "async", "async with cannot be captured", "capture a plain def"),
        "Delete" => Error(u.At, "del", "del cannot be captured", "drop the del: names go out of scope at the end of the function"),
        "Import" or "ImportFrom" => Error(u.At, "import", "imports inside the captured function cannot be captured", "import at module level"),
        "ClassDef" => Error(u.At, "class", "a class defined inside the captured function cannot be captured", "define it at module level"),
        "AsyncFunctionDef" or "AsyncFor" => Error(u.At, "async", "async code cannot be captured", "capture a plain def"),
        _ => Error(u.At, u.Kind.ToLowerInvariant(), $"the {u.Kind} statement cannot be captured by the AST path", "rewrite it with assignments, if, for and while"),
    };

    // ---- diagnostics ----

    private void At(Span at)
    {
        _scope.Builder.Source = new SourceLocation(at.File, at.Line, at.Column);
        _current = at;
        _lines.Add((at.File, at.Line));
    }

    /// <summary>A test decided at capture (kept once per line: an unrolled loop tests its condition every iteration).</summary>
    private bool Decided(string kind, Span at, bool taken)
    {
        if (!_decisions.Any(d => d.At.File == at.File && d.At.Line == at.Line && d.Taken == taken))
            _decisions.Add(new CaptureDecision(at, kind, LineText(at), taken));
        return taken;
    }

    private AstCaptureException Error(Span at, string construct, string message, string suggestion) =>
        new([new Diagnostic(at, construct, message, suggestion, LineText(at))]);

    private string? LineText(Span at)
    {
        for (var f = _frameOrNull; f is not null; f = f.Caller)
            if (f.Parsed.File == at.File && f.Parsed.LineText(at.Line) is { } text) return text;
        return null;
    }
}
