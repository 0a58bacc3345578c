using System.Collections.Frozen;

namespace Capture.Frontend;

/// <summary>
/// Constructs that change what a whole function means (it becomes a generator, it writes outside
/// variables, it catches exceptions) are refused before transforming, all at once, wherever they
/// are — even in a branch the example inputs would not take.
/// </summary>
internal static class SyntaxCheck
{
    public static void Check(ParsedFunction function)
    {
        var found = new List<Diagnostic>();
        foreach (var s in function.Definition.Body) Statement(s, function, found);
        if (found.Count > 0) throw new AstCaptureException(found);
    }

    private static void Statement(Stmt s, ParsedFunction f, List<Diagnostic> found)
    {
        switch (s)
        {
            case UnsupportedStmt u when Refused.TryGetValue(u.Kind, out var r): Refuse(found, f, u.At, r); break;
            case UnsupportedStmt { Kind: "Global" or "Nonlocal" } u:
            {
                var keyword = u.Kind.ToLowerInvariant();
                var names = string.Join(", ", u.Names);
                Refuse(found, f, u.At, keyword,
                    $"'{keyword} {names}' lets the function assign a variable outside it; the AST path captures functions that only return values",
                    $"return the new value of {names} and assign it where the function is called");
                break;
            }
            case FunctionDef d: Block(d.Body, f, found); break; // refused anyway; its nonlocal is the clearer reason
            case AssignStmt a: Expressions(a.Targets.Append(a.Value), f, found); break;
            case AugAssignStmt a: Expressions([a.Target, a.Value], f, found); break;
            case AnnAssignStmt { Value: { } v }: Expression(v, f, found); break;
            case ExprStmt e: Expression(e.Value, f, found); break;
            case ReturnStmt { Value: { } v }: Expression(v, f, found); break;
            case IfStmt i: Expression(i.Test, f, found); Block(i.Body, f, found); Block(i.OrElse, f, found); break;
            case ForStmt l: Expression(l.Iter, f, found); Block(l.Body, f, found); Block(l.OrElse, f, found); break;
            case WhileStmt w: Expression(w.Test, f, found); Block(w.Body, f, found); Block(w.OrElse, f, found); break;
            case WithStmt w: Expressions(w.Items.Select(i => i.Context), f, found); Block(w.Body, f, found); break;
        }
    }

    private static void Refuse(List<Diagnostic> found, ParsedFunction f, Span at, string construct, string message, string suggestion) =>
        found.Add(new Diagnostic(at, construct, message, suggestion, f.LineText(at.Line)));

    private static void Refuse(List<Diagnostic> found, ParsedFunction f, Span at, (string Construct, string Message, string Suggestion) r) =>
        Refuse(found, f, at, r.Construct, r.Message, r.Suggestion);

    private static readonly (string, string, string) Try = ("try", "try/except cannot be captured: a graph has no exceptions",
        "move the try/except out of the captured function, or use mode='bytecode' (which runs such frames eagerly)");

    private static readonly (string, string, string) Yield = ("yield", "a generator (yield) cannot be captured: a graph returns once, with all its values",
        "collect the values in a list or tuple and return it");

    /// <summary>Syntax refused wherever it stands, by its ast node kind: the construct, why, and what to do instead.</summary>
    private static readonly FrozenDictionary<string, (string Construct, string Message, string Suggestion)> Refused =
        new Dictionary<string, (string, string, string)>
        {
            ["Try"] = Try, ["TryStar"] = Try, ["Yield"] = Yield, ["YieldFrom"] = Yield,
            ["Await"] = ("await", "await cannot be captured", "capture a plain def"),
        }.ToFrozenDictionary();

    private static void Block(IEnumerable<Stmt> body, ParsedFunction f, List<Diagnostic> found)
    {
        foreach (var s in body) Statement(s, f, found);
    }

    private static void Expressions(IEnumerable<Expr> exprs, ParsedFunction f, List<Diagnostic> found)
    {
        foreach (var e in exprs) Expression(e, f, found);
    }

    private static void Expression(Expr e, ParsedFunction f, List<Diagnostic> found)
    {
        if (!System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack()) throw SourceReader.TooDeep(e.At, null);
        switch (e)
        {
            case UnsupportedExpr u when Refused.TryGetValue(u.Kind, out var r): Refuse(found, f, u.At, r); break;
            case BinaryExpr b: Expressions([b.Left, b.Right], f, found); break;
            case UnaryExpr u: Expression(u.Operand, f, found); break;
            case BoolExpr b: Expressions(b.Values, f, found); break;
            case CompareExpr c: Expressions(c.Comparators.Prepend(c.Left), f, found); break;
            case CallExpr c: Expressions(c.Args.Prepend(c.Function).Concat(c.Keywords.Select(k => k.Value)), f, found); break;
            case AttributeExpr a: Expression(a.Value, f, found); break;
            case SubscriptExpr s: Expressions([s.Value, s.Index], f, found); break;
            case TupleExpr t: Expressions(t.Items, f, found); break;
            case ListExpr l: Expressions(l.Items, f, found); break;
            case IfExpr i: Expressions([i.Test, i.Body, i.OrElse], f, found); break;
            case StarredExpr s: Expression(s.Value, f, found); break;
            case ComprehensionExpr c:
                Expression(c.Element, f, found);
                foreach (var g in c.Generators) Expressions(g.Ifs.Prepend(g.Iter), f, found);
                break;
        }
    }
}
