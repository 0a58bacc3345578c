using System.Text;
using System.Text.RegularExpressions;

namespace Capture.Graphs;

/// <summary>
/// Prints a graph as Python, one line per node, metadata as annotations:
///
///     def forward(self, x: "f32[8, 16]", w: "f32[16, 32]"):
///         matmul: "f32[8, 32]" = torch.matmul(x, w)  # model.py:12:11
///         return matmul
///
/// Subgraphs of cond / while_loop print as nested defs just before their use. The text is also
/// Capture's IR text format: <see cref="CodeParser"/> reads it back into an equal graph.
/// </summary>
public static partial class CodePrinter
{
    public static string Print(Graph graph, string name = "forward", bool sourceComments = true)
    {
        var text = new StringBuilder();
        PrintGraph(text, graph, name, "", sourceComments);
        return text.ToString();
    }

    private static void PrintGraph(StringBuilder text, Graph graph, string name, string indent, bool sources)
    {
        var parameters = graph.Placeholders.Select(p => $"{p.Name}: \"{MetaText.Format(p.Meta)}\"").Prepend("self");
        text.Append(indent).Append("def ").Append(name).Append('(').AppendJoin(", ", parameters).Append("):\n");
        var body = indent + "    ";
        foreach (var node in graph.Nodes)
        {
            switch (node)
            {
                case Placeholder:
                    continue;
                case Cond c:
                    PrintGraph(text, c.TrueGraph, c.Name + "_true", body, sources);
                    PrintGraph(text, c.FalseGraph, c.Name + "_false", body, sources);
                    break;
                case WhileLoop w:
                    PrintGraph(text, w.CondGraph, w.Name + "_cond", body, sources);
                    PrintGraph(text, w.BodyGraph, w.Name + "_body", body, sources);
                    break;
            }
            text.Append(body);
            if (node is Output o) text.Append("return ").Append(o.Value);
            else text.Append(node.Name).Append(": \"").Append(MetaText.Format(node.Meta)).Append("\" = ").Append(Expression(node));
            if (sources && node.Source is { } s) text.Append("  # ").Append(s);
            text.Append('\n');
        }
    }

    /// <summary>The right-hand side of a node's line.</summary>
    public static string Expression(Node node) => node switch
    {
        CallOp { IsMethod: true } c => $"{c.Args[0]}.{c.Op.MethodName}({Arguments(c.Args.Skip(1), c.Kwargs)})",
        CallOp c => $"{c.Op.Name}({Arguments(c.Args, c.Kwargs)})",
        GetAttr g => SelfPath(g.Target),
        Constant k => ConstantExpression(k),
        CallModule m => $"{SelfPath(m.Target)}({Arguments(m.Args, m.Kwargs)})",
        Cond c => $"capture.cond({c.Predicate}, {c.Name}_true, {c.Name}_false, {new ListArg(c.Operands, IsTuple: true)})",
        WhileLoop w => $"capture.while_loop({w.Name}_cond, {w.Name}_body, {new ListArg(w.Operands, IsTuple: true)})",
        Output o => o.Value.ToString()!,
        Placeholder p => p.Name,
        _ => throw new ArgumentOutOfRangeException(nameof(node)),
    };

    /// <summary>capture.constant([1.0, 2.0]) with the values when few; with a digest when many (that text does not parse back).</summary>
    private static string ConstantExpression(Constant k) => k.Value.Count <= Constant.PrintedElements
        ? "capture.constant([" + string.Join(", ", Enumerable.Range(0, (int)k.Value.Count).Select(i => k.Value.Format(i))) + "])"
        : $"capture.constant(sha256='{k.Value.Digest}')";

    private static string Arguments(IEnumerable<Arg> args, IEnumerable<Kwarg> kwargs) =>
        string.Join(", ", args.Select(a => a.ToString()).Concat(kwargs.Select(k => k.ToString())));

    /// <summary>self.a.b, or self.get_submodule('layers.0') style when a part is not an identifier.</summary>
    internal static string SelfPath(string target) =>
        target.Split('.').All(p => Identifier().IsMatch(p)) ? "self." + target : $"operator.attrgetter('{target}')(self)";

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex Identifier();
}
