using System.Globalization;

namespace Capture.Graphs;

// The expression half of the parser: a tokenizer for the Python subset graphs print, a small
// expression tree, and its reading as node arguments or as a node.
public static partial class CodeParser
{
    private abstract record Expr;
    private sealed record NameExpr(string Name) : Expr;
    private sealed record AttrExpr(Expr Target, string Name) : Expr;
    private sealed record CallExpr(Expr Function, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr;
    private sealed record LiteralExpr(Arg Value) : Expr;
    private sealed record SequenceExpr(List<Expr> Items, bool IsTuple) : Expr;

    private static string? DottedPath(Expr e) => e switch
    {
        NameExpr n => n.Name,
        AttrExpr a => DottedPath(a.Target) is { } p ? p + "." + a.Name : null,
        _ => null,
    };

    private static void ParseAssignment(Line line, GraphBuilder builder, Dictionary<string, Graph> subgraphs)
    {
        var t = new Tokens(line.Text, line.Number);
        var name = t.Name();
        ValueMeta? annotated = null;
        if (t.Accept(":")) annotated = ParseMeta(t.String(), line);
        t.Expect("=");
        var rhs = t.Expression();
        t.End();
        var node = ToNode(name, rhs, annotated, builder, subgraphs, line) with { Source = line.Source };
        if (annotated is not null && !annotated.Equals(node.Meta))
            throw Error(line, $"annotation \"{MetaText.Format(annotated)}\" disagrees with the shape rule's \"{MetaText.Format(node.Meta)}\"");
        builder.Add(node);
    }

    private static Constant ParseConstant(string name, CallExpr call, ValueMeta meta, GraphBuilder builder, Line line)
    {
        if (meta is not TensorMeta { Shape.IsConcrete: true } t) throw Error(line, "a constant's annotation must be a tensor of known shape");
        if (call.Args is not [SequenceExpr] || call.Kwargs.Count > 0)
            throw Error(line, $"the values of this constant are not in the text (it has {t.Shape.NumElements()} elements; only constants of up to {Constant.PrintedElements} print their values)");
        var values = ToArg(call.Args[0], builder, line) is ListArg l ? l.Items : throw Error(line, "capture.constant takes a list of values");
        if (values.Count != t.Shape.NumElements()) throw Error(line, $"the constant has {values.Count} values, its shape {t.Shape} needs {t.Shape.NumElements()}");
        try { return new Constant(name, TensorData.FromValues(t.DType, values), t); }
        catch (FormatException e) { throw Error(line, e.Message, e); }
    }

    private static Node ToNode(string name, Expr rhs, ValueMeta? annotated, GraphBuilder builder, Dictionary<string, Graph> subgraphs, Line line)
    {
        ValueMeta Annotated(string what) => annotated ?? throw Error(line, $"{what} needs a metadata annotation (name: \"f32[...]\" = ...)");
        Graph Subgraph(Expr e) => e is NameExpr n && subgraphs.TryGetValue(n.Name, out var g) ? g : throw Error(line, $"no nested def named {e}");
        IReadOnlyList<Arg> Operands(Expr e) => ToArg(e, builder, line) is ListArg l ? l.Items : throw Error(line, "operands must be a tuple");

        if (rhs is AttrExpr && DottedPath(rhs) is { } attrPath && attrPath.StartsWith("self.", StringComparison.Ordinal))
            return new GetAttr(name, attrPath[5..], Annotated("get_attr"));
        if (AttrGetterTarget(rhs) is { } getter) return new GetAttr(name, getter, Annotated("get_attr"));
        if (rhs is not CallExpr call) throw Error(line, "expected a call, an attribute of self, or a constant");
        var path = DottedPath(call.Function);
        switch (path)
        {
            case "capture.cond" when call.Args.Count == 4:
                var trueGraph = Subgraph(call.Args[1]);
                return new Cond(name, ToArg(call.Args[0], builder, line), trueGraph, Subgraph(call.Args[2]), Operands(call.Args[3]).ToEquatableList(), trueGraph.Output.Meta);
            case "capture.constant":
                return ParseConstant(name, call, Annotated("a constant"), builder, line);
            case "capture.while_loop" when call.Args.Count == 3:
                var operands = Operands(call.Args[2]);
                return new WhileLoop(name, Subgraph(call.Args[0]), Subgraph(call.Args[1]), operands.ToEquatableList(),
                    new TupleMeta(operands.Select(builder.MetaOf).ToEquatableList()));
        }
        var args = call.Args.Select(a => ToArg(a, builder, line)).ToList();
        var kwargs = call.Kwargs.Select(k => new Kwarg(k.Name, ToArg(k.Value, builder, line))).ToList();
        if (AttrGetterTarget(call.Function) is { } moduleTarget || path?.StartsWith("self.", StringComparison.Ordinal) == true && (moduleTarget = path[5..]) is not null)
            return new CallModule(name, moduleTarget, args.ToEquatableList(), kwargs.ToEquatableList(), Annotated("call_module"));
        OpDef op;
        var method = false;
        if (call.Function is AttrExpr { Target: NameExpr self } attr && IsValue(builder, self.Name))
        {
            if (!OpRegistry.TryGetMethod(attr.Name, out op)) throw Error(line, $"unknown Tensor method '{attr.Name}'");
            args.Insert(0, new RefArg(self.Name));
            method = true;
        }
        else op = OpRegistry.GetOrOpaque(path ?? throw Error(line, "cannot call this expression"));
        try
        {
            var meta = op.Category == OpCategory.Opaque ? Annotated($"opaque op {op.Name}") : GradModeRule.Apply(op, OpCall.Bind(op, args, kwargs, builder.MetaOf).Infer(), builder.GradEnabled);
            return new CallOp(name, op, args.ToEquatableList(), kwargs.ToEquatableList(), meta, method);
        }
        catch (Exception e) when (e is ShapeError or NotSupportedException or KeyNotFoundException)
        {
            throw Error(line, e.Message, e);
        }
    }

    private static string? AttrGetterTarget(Expr e) =>
        e is CallExpr { Function: CallExpr { Args: [LiteralExpr { Value: StrArg target }] } getter, Args: [NameExpr { Name: "self" }] }
        && DottedPath(getter.Function) == "operator.attrgetter" ? target.Value : null;

    private static bool IsValue(GraphBuilder builder, string name)
    {
        try { builder.MetaOf(name); return true; }
        catch (KeyNotFoundException) { return false; }
    }

    private static Arg ToArg(Expr e, GraphBuilder builder, Line line) => e switch
    {
        LiteralExpr l => l.Value,
        NameExpr { Name: "True" } => new BoolArg(true),
        NameExpr { Name: "False" } => new BoolArg(false),
        NameExpr { Name: "None" } => NoneArg.Instance,
        NameExpr n => IsValue(builder, n.Name) ? new RefArg(n.Name) : throw Error(line, $"'{n.Name}' is not defined"),
        SequenceExpr s => new ListArg(s.Items.Select(i => ToArg(i, builder, line)).ToEquatableList(), s.IsTuple),
        AttrExpr when DottedPath(e) is { } p && p.StartsWith("torch.", StringComparison.Ordinal) && DTypeNames.FromTorchName(p[6..]) is { } d => new DTypeArg(d),
        CallExpr { Function: NameExpr { Name: "slice" }, Args.Count: 3 } c =>
            new SliceArg(ToArg(c.Args[0], builder, line), ToArg(c.Args[1], builder, line), ToArg(c.Args[2], builder, line)),
        CallExpr { Function: AttrExpr { Target: NameExpr { Name: "capture" }, Name: "size" }, Args: [LiteralExpr { Value: StrArg size }] } => Arg.Size(Dim.Of(SizeExpr.Parse(size.Value))),
        CallExpr { Function: NameExpr { Name: "float" }, Args: [LiteralExpr { Value: StrArg s }] } =>
            new FloatArg(double.Parse(s.Value.Replace("inf", "Infinity"), CultureInfo.InvariantCulture)),
        _ => throw Error(line, $"not an argument: {e}"),
    };

    private sealed class Tokens(string text, int line)
    {
        private int _i;

        private void Skip() { while (_i < text.Length && text[_i] == ' ') _i++; }

        public bool Accept(string token)
        {
            Skip();
            if (string.CompareOrdinal(text, _i, token, 0, token.Length) != 0) return false;
            var end = _i + token.Length;
            if (char.IsLetter(token[0]) && end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] == '_')) return false;
            _i = end;
            return true;
        }

        public void Expect(string token)
        {
            if (!Accept(token)) throw Error(line, $"expected '{token}' at column {_i + 1}");
        }

        public void End()
        {
            Skip();
            if (_i != text.Length) throw Error(line, $"unexpected '{text[_i..]}'");
        }

        public string Name()
        {
            Skip();
            var start = _i;
            while (_i < text.Length && (char.IsLetterOrDigit(text[_i]) || text[_i] == '_')) _i++;
            if (start == _i || char.IsDigit(text[start])) throw Error(line, $"expected a name at column {start + 1}");
            return text[start.._i];
        }

        public string String()
        {
            Skip();
            if (_i >= text.Length || text[_i] is not ('"' or '\'')) throw Error(line, $"expected a string at column {_i + 1}");
            var quote = text[_i++];
            var value = new System.Text.StringBuilder();
            while (_i < text.Length && text[_i] != quote)
            {
                if (text[_i] == '\\' && _i + 1 < text.Length) _i++;
                value.Append(text[_i++]);
            }
            if (_i >= text.Length) throw Error(line, "unterminated string");
            _i++;
            return value.ToString();
        }

        public Expr Expression()
        {
            var e = Atom();
            while (true)
            {
                if (Accept(".")) e = new AttrExpr(e, Name());
                else if (Accept("(")) e = CallRest(e);
                else return e;
            }
        }

        private Expr CallRest(Expr function)
        {
            var args = new List<Expr>();
            var kwargs = new List<(string, Expr)>();
            while (!Accept(")"))
            {
                if (args.Count + kwargs.Count > 0) Expect(",");
                if (Accept(")")) break;
                var save = _i;
                Skip();
                if (_i < text.Length && (char.IsLetter(text[_i]) || text[_i] == '_'))
                {
                    var name = Name();
                    if (Accept("=")) { kwargs.Add((name, Expression())); continue; }
                }
                _i = save;
                args.Add(Expression());
            }
            return new CallExpr(function, args, kwargs);
        }

        private Expr Atom()
        {
            Skip();
            if (_i >= text.Length) throw Error(line, "unexpected end of line");
            var ch = text[_i];
            if (Accept("...")) return new LiteralExpr(EllipsisArg.Instance);
            if (ch is '"' or '\'') return new LiteralExpr(new StrArg(String()));
            if (char.IsDigit(ch) || ch == '-' || ch == '.') return new LiteralExpr(Number());
            if (Accept("(")) return Sequence(")", isTuple: true);
            if (Accept("[")) return Sequence("]", isTuple: false);
            return new NameExpr(Name());
        }

        private Expr Sequence(string close, bool isTuple)
        {
            var items = new List<Expr>();
            var trailingComma = false;
            while (!Accept(close))
            {
                if (items.Count > 0) { Expect(","); trailingComma = true; if (Accept(close)) break; }
                items.Add(Expression());
                trailingComma = false;
            }
            // (x) is x; (x,) is a one-tuple
            return isTuple && items.Count == 1 && !trailingComma ? items[0] : new SequenceExpr(items, isTuple);
        }

        private Arg Number()
        {
            var start = _i;
            if (text[_i] == '-') _i++;
            while (_i < text.Length && (char.IsDigit(text[_i]) || text[_i] is '.' or 'e' or 'E' || (text[_i] is '-' or '+' && text[_i - 1] is 'e' or 'E'))) _i++;
            var s = text[start.._i];
            if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i)) return new IntArg(i);
            if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return new FloatArg(d);
            throw Error(line, $"bad number '{s}'");
        }
    }
}
