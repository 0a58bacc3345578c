using System.Text;

namespace Capture.Graphs;

/// <summary>Graphviz DOT: one box per node (name, target, metadata), an edge per use; with a fusion
/// plan, each kernel's nodes share a fill colour and its name.</summary>
public static class DotPrinter
{
    // light fills that stay readable with black text, cycled over kernels
    private static readonly string[] GroupColours =
        ["#fde68a", "#bfdbfe", "#bbf7d0", "#fbcfe8", "#ddd6fe", "#fed7aa", "#a5f3fc", "#e9d5ff", "#d9f99d", "#fecaca"];

    public static string Print(Graph graph, string name = "forward", FusionPlan? fusion = null)
    {
        var text = new StringBuilder();
        text.Append("digraph ").Append(Quote(name)).Append(" {\n");
        text.Append("  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
        Body(text, graph, "", "  ", fusion);
        text.Append("}\n");
        return text.ToString();
    }

    private static void Body(StringBuilder text, Graph graph, string prefix, string indent, FusionPlan? fusion = null)
    {
        foreach (var node in graph.Nodes)
        {
            var id = Quote(prefix + node.Name);
            var label = node switch
            {
                Placeholder => $"{node.Name}\\n{MetaText.Format(node.Meta)}",
                Output => "output",
                _ => $"{node.Name} = {Escape(Target(node))}\\n{MetaText.Format(node.Meta)}",
            };
            var style = node switch
            {
                Placeholder => ", style=filled, fillcolor=\"#dbeafe\"",
                Output => ", style=filled, fillcolor=\"#dcfce7\"",
                GetAttr => ", style=filled, fillcolor=\"#fef9c3\"",
                _ when fusion?.GroupOf(node.Name) is { } g => $", style=filled, fillcolor=\"{GroupColours[(g.Id - 1) % GroupColours.Length]}\", xlabel=\"g{g.Id}\"",
                _ => "",
            };
            text.Append(indent).Append(id).Append(" [label=\"").Append(label).Append('"').Append(style).Append("];\n");
            foreach (var input in node.Inputs.Distinct())
                text.Append(indent).Append(Quote(prefix + input)).Append(" -> ").Append(id).Append(";\n");
            foreach (var (label2, sub) in Subgraphs(node))
            {
                var cluster = prefix + node.Name + "_" + label2;
                text.Append(indent).Append("subgraph ").Append(Quote("cluster_" + cluster)).Append(" {\n");
                text.Append(indent).Append("  label=").Append(Quote(cluster)).Append(";\n");
                Body(text, sub, cluster + ".", indent + "  ");
                text.Append(indent).Append("}\n");
                text.Append(indent).Append(Quote(cluster + ".output")).Append(" -> ").Append(id).Append(" [style=dashed];\n");
            }
        }
    }

    private static IEnumerable<(string, Graph)> Subgraphs(Node node) => node switch
    {
        Cond c => [("true", c.TrueGraph), ("false", c.FalseGraph)],
        WhileLoop w => [("cond", w.CondGraph), ("body", w.BodyGraph)],
        _ => [],
    };

    private static string Target(Node node) => node switch
    {
        CallOp c => c.IsMethod ? "." + c.Op.MethodName : c.Op.Name,
        GetAttr g => "self." + g.Target,
        CallModule m => "self." + m.Target,
        _ => node.OpCode,
    };

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"");

    private static string Quote(string s) => "\"" + Escape(s) + "\"";
}
