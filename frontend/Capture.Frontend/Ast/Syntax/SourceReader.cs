using System.Text.Json;
using System.Text.Json.Nodes;

namespace Capture.Frontend;

/// <summary>
/// Gets a function's source with `inspect.getsourcelines`, parses it with CPython's `ast`, and turns
/// the tree into <see cref="Stmt"/>/<see cref="Expr"/> records. Python (capture/_source.py)
/// serializes the tree to JSON in one call (positions already moved back to the user's file: the
/// source is dedented before parsing, so columns get the indent back); C# reads the JSON.
/// </summary>
public static class SourceReader
{
    /// <summary>Reads and parses <paramref name="function"/>'s source (GIL held).</summary>
    /// <exception cref="AstCaptureException">no source, a syntax error, or not a def statement.</exception>
    public static ParsedFunction Read(PyObject function)
    {
        using var helper = Py.Import("capture._source");
        using var read = helper.GetAttr("read");
        using var text = read.Call(function);
        var json = JsonNode.Parse(text.AsString(), documentOptions: new JsonDocumentOptions { MaxDepth = MaxDepth })!.AsObject();
        var file = (string?)json["file"] ?? "<unknown>";
        if (json["error"] is { } error)
        {
            var at = new Span(file, (int?)json["line"] ?? 0, (int?)json["col"] ?? 1);
            var message = (string)error!;
            if (json["deep"] is not null) throw TooDeep(at, null);
            throw new AstCaptureException([message.StartsWith("syntax error", StringComparison.Ordinal)
                ? new Diagnostic(at, "syntax", message, "fix the syntax error", null)
                : new Diagnostic(at, "source", $"the function's source is not available ({message})",
                    "define the function in a .py file (the AST path reads its source), or use mode='bytecode'", null)]);
        }
        var lines = json["lines"]!.AsArray().Select(l => (string)l!).ToList();
        var first = (int)json["first"]!;
        if (json["tree"] is not JsonObject tree || (string?)tree["_t"] != "FunctionDef")
        {
            var kind = (string?)json["kind"];
            throw new AstCaptureException([new Diagnostic(new Span(file, first, 1), kind == "Lambda" || lines.FirstOrDefault()?.Contains("lambda") == true ? "lambda" : "source",
                "the AST path captures functions defined with def, not lambdas or other callables",
                "define the function with def", lines.FirstOrDefault()?.TrimEnd())]);
        }
        var reader = new TreeReader(file);
        try { return new ParsedFunction((FunctionDef)reader.Statement(tree), file, first, lines); }
        catch (InsufficientExecutionStackException) { throw TooDeep(new Span(file, reader.Deepest?.Line ?? first, reader.Deepest?.Column ?? 1), null); }
    }

    /// <summary>How deep the JSON of a tree may nest (capture/_source.py's _DEPTH levels of recursion make at most twice as many).</summary>
    public const int MaxDepth = 40_000;

    /// <summary>The error for expressions nested deeper than this thread's stack lets the AST path walk.</summary>
    public static AstCaptureException TooDeep(Span at, string? line) =>
        new([new Diagnostic(at, "nesting", "the expressions here nest too deeply for the AST path (a chain of thousands of calls or operators)",
            "split the expression with intermediate variables, or use mode='bytecode'", line)]);

    private sealed class TreeReader(string file)
    {
        /// <summary>The last position read: where a walk too deep for the stack stopped.</summary>
        public Span? Deepest { get; private set; }

        private Span At(JsonObject o) => Deepest = new(file, (int?)o["_l"] ?? 0, (int?)o["_c"] ?? 1);

        private IReadOnlyList<Stmt> Body(JsonNode? list) => list is JsonArray a ? a.Select(s => Statement(s!.AsObject())).ToList() : [];

        public Stmt Statement(JsonObject o)
        {
            var at = At(o);
            return (string)o["_t"]! switch
            {
                "FunctionDef" => new FunctionDef(at, (string)o["name"]!, Parameters(o["args"]!.AsObject()), Body(o["body"])),
                "Return" => new ReturnStmt(at, OptionalExpr(o["value"])),
                "Assign" => new AssignStmt(at, o["targets"]!.AsArray().Select(t => Expression(t!.AsObject())).ToList(), Expression(o["value"]!.AsObject())),
                "AugAssign" => new AugAssignStmt(at, Expression(o["target"]!.AsObject()), Operator((string)o["op"]!), Expression(o["value"]!.AsObject())),
                "AnnAssign" => new AnnAssignStmt(at, Expression(o["target"]!.AsObject()), OptionalExpr(o["value"])),
                "Expr" => new ExprStmt(at, Expression(o["value"]!.AsObject())),
                "If" => new IfStmt(at, Expression(o["test"]!.AsObject()), Body(o["body"]), Body(o["orelse"])),
                "For" => new ForStmt(at, Expression(o["target"]!.AsObject()), Expression(o["iter"]!.AsObject()), Body(o["body"]), Body(o["orelse"])),
                "While" => new WhileStmt(at, Expression(o["test"]!.AsObject()), Body(o["body"]), Body(o["orelse"])),
                "With" => new WithStmt(at, o["items"]!.AsArray().Select(i => new WithItem(Expression(i!["context_expr"]!.AsObject()), OptionalExpr(i["optional_vars"]))).ToList(), Body(o["body"])),
                "Assert" => new AssertStmt(at, Expression(o["test"]!.AsObject()), OptionalExpr(o["msg"])),
                "Pass" => new PassStmt(at),
                "Break" => new BreakStmt(at),
                "Continue" => new ContinueStmt(at),
                "Global" or "Nonlocal" => new UnsupportedStmt(at, (string)o["_t"]!, o["names"]!.AsArray().Select(n => (string)n!).ToList()),
                var kind => new UnsupportedStmt(at, kind, []),
            };
        }

        private Parameters Parameters(JsonObject args)
        {
            static IEnumerable<string> Names(JsonNode? list) => list is JsonArray a ? a.Select(x => (string)x!["arg"]!) : [];
            return new Parameters(Names(args["posonlyargs"]).Concat(Names(args["args"])).ToList(), (string?)args["vararg"]?["arg"],
                Names(args["kwonlyargs"]).ToList(), (string?)args["kwarg"]?["arg"]);
        }

        private Expr? OptionalExpr(JsonNode? node) => node is JsonObject o ? Expression(o) : null;

        private IReadOnlyList<Expr> Expressions(JsonNode? list) => list is JsonArray a ? a.Select(e => Expression(e!.AsObject())).ToList() : [];

        public Expr Expression(JsonObject o)
        {
            System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
            var at = At(o);
            switch ((string)o["_t"]!)
            {
                case "Name": return new NameExpr(at, (string)o["id"]!);
                case "Constant": return new ConstantExpr(at, Enum.Parse<ConstantKind>((string)o["ckind"]!), (string)o["ctext"]!);
                case "BinOp": return new BinaryExpr(at, Expression(o["left"]!.AsObject()), Operator((string)o["op"]!), Expression(o["right"]!.AsObject()));
                case "UnaryOp": return new UnaryExpr(at, Operator((string)o["op"]!), Expression(o["operand"]!.AsObject()));
                case "BoolOp": return new BoolExpr(at, Operator((string)o["op"]!), Expressions(o["values"]));
                case "Compare":
                    return new CompareExpr(at, Expression(o["left"]!.AsObject()), o["ops"]!.AsArray().Select(x => Operator((string)x!)).ToList(), Expressions(o["comparators"]));
                case "Call":
                    return new CallExpr(at, Expression(o["func"]!.AsObject()), Expressions(o["args"]),
                        o["keywords"]!.AsArray().Select(k => new Keyword(At(k!.AsObject()), (string?)k["arg"], Expression(k["value"]!.AsObject()))).ToList());
                case "Attribute": return new AttributeExpr(at, Expression(o["value"]!.AsObject()), (string)o["attr"]!);
                case "Subscript": return new SubscriptExpr(at, Expression(o["value"]!.AsObject()), Expression(o["slice"]!.AsObject()));
                case "Slice": return new SliceExpr(at, OptionalExpr(o["lower"]), OptionalExpr(o["upper"]), OptionalExpr(o["step"]));
                case "Tuple": return new TupleExpr(at, Expressions(o["elts"]));
                case "List": return new ListExpr(at, Expressions(o["elts"]));
                case "IfExp": return new IfExpr(at, Expression(o["test"]!.AsObject()), Expression(o["body"]!.AsObject()), Expression(o["orelse"]!.AsObject()));
                case "Starred": return new StarredExpr(at, Expression(o["value"]!.AsObject()));
                case "JoinedStr": return new FStringExpr(at, o["values"]!.AsArray().Select(v => Part(v!.AsObject())).ToList());
                case "ListComp" or "GeneratorExp":
                    return new ComprehensionExpr(at, (string)o["_t"]! == "ListComp", Expression(o["elt"]!.AsObject()),
                        o["generators"]!.AsArray().Select(g => new ComprehensionFor(Expression(g!["target"]!.AsObject()), Expression(g["iter"]!.AsObject()),
                            Expressions(g["ifs"]))).ToList());
                case var kind: return new UnsupportedExpr(at, kind);
            }
        }

        private FStringPart Part(JsonObject o) => (string)o["_t"]! switch
        {
            "Constant" => new FStringPart((string)o["ctext"]!, null, null, null),
            _ => new FStringPart(null, Expression(o["value"]!.AsObject()), (int)o["conversion"]! is var c && c >= 0 ? (char)c : null, OptionalExpr(o["format_spec"])),
        };

        private static string Operator(string name) => name switch
        {
            "Add" => "+", "Sub" => "-", "Mult" => "*", "Div" => "/", "FloorDiv" => "//", "Mod" => "%", "Pow" => "**",
            "MatMult" => "@", "BitAnd" => "&", "BitOr" => "|", "BitXor" => "^", "LShift" => "<<", "RShift" => ">>",
            "USub" => "-", "UAdd" => "+", "Not" => "not", "Invert" => "~", "And" => "and", "Or" => "or",
            "Lt" => "<", "LtE" => "<=", "Eq" => "==", "NotEq" => "!=", "Gt" => ">", "GtE" => ">=",
            "Is" => "is", "IsNot" => "is not", "In" => "in", "NotIn" => "not in",
            _ => throw new InvalidOperationException($"unknown Python operator {name}"),
        };
    }
}
