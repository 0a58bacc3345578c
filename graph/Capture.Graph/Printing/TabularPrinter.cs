using System.Text;

namespace Capture.Graphs;

/// <summary>FX's print_tabular: one row per node (opcode, name, target, args, kwargs), plus metadata.</summary>
public static class TabularPrinter
{
    public static string Print(Graph graph)
    {
        string[] header = ["opcode", "name", "target", "args", "kwargs", "meta"];
        var rows = graph.Nodes.Select(Row).ToList();
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var text = new StringBuilder();
        void Line(IReadOnlyList<string> cells) =>
            text.Append(string.Join("  ", cells.Select((c, i) => c.PadRight(widths[i]))).TrimEnd()).Append('\n');
        Line(header);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var row in rows) Line(row);
        return text.ToString();
    }

    private static string[] Row(Node node)
    {
        var (target, args, kwargs) = node switch
        {
            Placeholder p => (p.Name, "()", "{}"),
            GetAttr g => (g.Target, "()", "{}"),
            Constant k => ("capture.constant", $"(<{k.Value.Count} values, sha256 {k.Value.Digest}>,)", "{}"),
            CallOp c => (c.IsMethod ? c.Op.MethodName! : c.Op.Name, Tuple(c.Args), Dict(c.Kwargs)),
            CallModule m => (m.Target, Tuple(m.Args), Dict(m.Kwargs)),
            Cond c => ("capture.cond", Tuple(c.Operands.Prepend(c.Predicate)), "{}"),
            WhileLoop w => ("capture.while_loop", Tuple(w.Operands), "{}"),
            Output o => ("output", $"({o.Value},)", "{}"),
            _ => throw new ArgumentOutOfRangeException(nameof(node)),
        };
        return [node.OpCode, node.Name, target, args, kwargs, MetaText.Format(node.Meta)];
    }

    private static string Tuple(IEnumerable<Arg> args) => new ListArg(args.ToEquatableList(), IsTuple: true).ToString();

    private static string Dict(IEnumerable<Kwarg> kwargs) => "{" + string.Join(", ", kwargs.Select(k => $"'{k.Name}': {k.Value}")) + "}";
}
