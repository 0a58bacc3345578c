namespace Capture.Frontend;

/// <summary>Where a syntax node is in the user's file: 1-based line and column, as editors count them.</summary>
public sealed record Span(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>
/// CPython's `ast` as C# records: one closed hierarchy of expressions and one of statements, each
/// node with its position in the user's file. Constructs the AST path does not express are kept as
/// <see cref="UnsupportedExpr"/> / <see cref="UnsupportedStmt"/> with CPython's node name, so a
/// diagnostic can point at them.
/// </summary>
public abstract record Expr(Span At);

public sealed record NameExpr(Span At, string Id) : Expr(At);

/// <summary>A literal: int, float, bool, str, None, ... (Ellipsis), complex or bytes.</summary>
public sealed record ConstantExpr(Span At, ConstantKind Kind, string Text) : Expr(At);

public enum ConstantKind { Int, Float, Bool, Str, None, Ellipsis, Other }

/// <summary>Operators spelled as in Python: "+", "-", "*", "/", "//", "%", "**", "@", "&", "|", "^", "&lt;&lt;", "&gt;&gt;".</summary>
public sealed record BinaryExpr(Span At, Expr Left, string Op, Expr Right) : Expr(At);

/// <summary>"-", "+", "not", "~".</summary>
public sealed record UnaryExpr(Span At, string Op, Expr Operand) : Expr(At);

/// <summary>"and" / "or" over two or more values.</summary>
public sealed record BoolExpr(Span At, string Op, IReadOnlyList<Expr> Values) : Expr(At);

/// <summary>A (chained) comparison: "&lt;", "&lt;=", "==", "!=", "&gt;", "&gt;=", "is", "is not", "in", "not in".</summary>
public sealed record CompareExpr(Span At, Expr Left, IReadOnlyList<string> Ops, IReadOnlyList<Expr> Comparators) : Expr(At);

public sealed record Keyword(Span At, string? Name, Expr Value);

public sealed record CallExpr(Span At, Expr Function, IReadOnlyList<Expr> Args, IReadOnlyList<Keyword> Keywords) : Expr(At);

public sealed record AttributeExpr(Span At, Expr Value, string Attr) : Expr(At);

public sealed record SubscriptExpr(Span At, Expr Value, Expr Index) : Expr(At);

public sealed record SliceExpr(Span At, Expr? Lower, Expr? Upper, Expr? Step) : Expr(At);

public sealed record TupleExpr(Span At, IReadOnlyList<Expr> Items) : Expr(At);

public sealed record ListExpr(Span At, IReadOnlyList<Expr> Items) : Expr(At);

/// <summary>body if test else orelse.</summary>
public sealed record IfExpr(Span At, Expr Test, Expr Body, Expr OrElse) : Expr(At);

public sealed record StarredExpr(Span At, Expr Value) : Expr(At);

/// <summary>[element for target in iter if cond ...] (a list) or (element for ...) (a generator), with its for clauses in order.</summary>
public sealed record ComprehensionExpr(Span At, bool IsList, Expr Element, IReadOnlyList<ComprehensionFor> Generators) : Expr(At);

public sealed record ComprehensionFor(Expr Target, Expr Iter, IReadOnlyList<Expr> Ifs);

/// <summary>An f-string: literal text and formatted values in order.</summary>
public sealed record FStringExpr(Span At, IReadOnlyList<FStringPart> Parts) : Expr(At);

/// <summary>Literal text, or a value with its conversion ('r', 's', 'a' or none) and format spec.</summary>
public sealed record FStringPart(string? Text, Expr? Value, char? Conversion, Expr? FormatSpec);

/// <summary>An expression the AST path does not express (Lambda, SetComp, DictComp, Yield, Await, JoinedStr, Dict...).</summary>
public sealed record UnsupportedExpr(Span At, string Kind) : Expr(At);

public abstract record Stmt(Span At);

/// <summary>A function definition: the captured function itself, or one nested in it.</summary>
public sealed record FunctionDef(Span At, string Name, Parameters Parameters, IReadOnlyList<Stmt> Body) : Stmt(At);

/// <summary>Parameter names in order (positional-only, positional, *args, keyword-only, **kwargs).</summary>
public sealed record Parameters(IReadOnlyList<string> Positional, string? VarArgs, IReadOnlyList<string> KeywordOnly, string? VarKeywords)
{
    public IEnumerable<string> All =>
        Positional.Concat(VarArgs is null ? [] : [VarArgs]).Concat(KeywordOnly).Concat(VarKeywords is null ? [] : [VarKeywords]);
}

public sealed record ReturnStmt(Span At, Expr? Value) : Stmt(At);

public sealed record AssignStmt(Span At, IReadOnlyList<Expr> Targets, Expr Value) : Stmt(At);

public sealed record AugAssignStmt(Span At, Expr Target, string Op, Expr Value) : Stmt(At);

/// <summary>x: T = value (the annotation is ignored, as TorchScript uses it only for types).</summary>
public sealed record AnnAssignStmt(Span At, Expr Target, Expr? Value) : Stmt(At);

public sealed record ExprStmt(Span At, Expr Value) : Stmt(At);

public sealed record IfStmt(Span At, Expr Test, IReadOnlyList<Stmt> Body, IReadOnlyList<Stmt> OrElse) : Stmt(At);

public sealed record ForStmt(Span At, Expr Target, Expr Iter, IReadOnlyList<Stmt> Body, IReadOnlyList<Stmt> OrElse) : Stmt(At);

public sealed record WhileStmt(Span At, Expr Test, IReadOnlyList<Stmt> Body, IReadOnlyList<Stmt> OrElse) : Stmt(At);

/// <summary>with context [as target], ...: body.</summary>
public sealed record WithStmt(Span At, IReadOnlyList<WithItem> Items, IReadOnlyList<Stmt> Body) : Stmt(At);

public sealed record WithItem(Expr Context, Expr? Target);

public sealed record AssertStmt(Span At, Expr Test, Expr? Message) : Stmt(At);

public sealed record PassStmt(Span At) : Stmt(At);

public sealed record BreakStmt(Span At) : Stmt(At);

public sealed record ContinueStmt(Span At) : Stmt(At);

/// <summary>A statement the AST path does not express (Try, Raise, Global, Nonlocal, Delete, Import, ClassDef...).</summary>
public sealed record UnsupportedStmt(Span At, string Kind, IReadOnlyList<string> Names) : Stmt(At);

/// <summary>A parsed function: its definition and the source lines of its file region (for diagnostics).</summary>
public sealed record ParsedFunction(FunctionDef Definition, string File, int FirstLine, IReadOnlyList<string> Lines)
{
    /// <summary>The text of a line of the user's file, or null outside the function.</summary>
    public string? LineText(int line) => line - FirstLine is var i && i >= 0 && i < Lines.Count ? Lines[i].TrimEnd('\r', '\n') : null;
}
