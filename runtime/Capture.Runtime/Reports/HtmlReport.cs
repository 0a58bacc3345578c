using System.Net;
using System.Text;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Reports;

/// <summary>
/// The HTML form of reports: one self-contained file (inline CSS and SVG, no script, no network
/// resource). An index of compiled frames, then per frame the annotated source, the breaks, each
/// graph as code and as a picture (nodes coloured by fusion group), its guards with the lines
/// behind them, compile phases, the generated code (collapsible), and recompiles; the
/// AST-versus-bytecode comparison when given.
/// </summary>
public static class HtmlReport
{
    /// <summary>One function compared on both paths: its name and the rows (label, AST, bytecode), plus both sides' details as text.</summary>
    public sealed record Comparison(string Function, IReadOnlyList<(string Label, string Ast, string Bytecode)> Rows, string Details);

    public static string Render(string title, IReadOnlyList<FrameReport> frames, IReadOnlyList<Comparison>? comparisons = null)
    {
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
        h.Append($"<title>{E(title)}</title>\n<style>{Css}</style>\n</head>\n<body>\n");
        h.Append($"<header><h1>{E(title)}</h1><p class=\"meta\">Capture {E(CaptureSession.Version)} · {frames.Count} compiled frame(s) · {frames.Sum(f => f.Graphs.Count)} graph(s) · {frames.Sum(f => f.Breaks.Count)} graph break(s) · {frames.Sum(f => f.Recompiles.Count)} recompile(s)</p></header>\n");
        Index(h, frames, comparisons);
        foreach (var (frame, i) in frames.Select((f, i) => (f, i + 1))) Frame(h, frame, i);
        if (comparisons is { Count: > 0 }) Compare(h, comparisons);
        h.Append("</body>\n</html>\n");
        return h.ToString();
    }

    private static void Index(StringBuilder h, IReadOnlyList<FrameReport> frames, IReadOnlyList<Comparison>? comparisons)
    {
        h.Append("<nav id=\"index\"><h2>Compiled frames</h2>\n<table><thead><tr><th>frame</th><th>path</th><th>backend</th><th>graphs</th><th>ops</th><th>breaks</th><th>guards</th><th>recompiles</th><th>ran eagerly</th></tr></thead><tbody>\n");
        foreach (var (f, i) in frames.Select((f, i) => (f, i + 1)))
            h.Append($"<tr><td><a href=\"#frame-{i}\">{E(f.Name)}</a> <span class=\"dim\">{E(Path.GetFileName(f.File))}:{f.FirstLine}</span></td><td>{f.ModeName}</td><td>{E(f.Backend)}</td>"
                + $"<td>{f.Graphs.Count}</td><td>{f.Graphs.Sum(g => g.OpCount)}</td><td>{f.Breaks.Count}</td><td>{f.Graphs.Sum(g => g.Guards.Count)}</td><td>{f.Recompiles.Count}</td>"
                + $"<td>{(f.EagerReasons.Count > 0 || f.Diagnostics.Count > 0 ? "yes" : "no")}</td></tr>\n");
        h.Append("</tbody></table>\n");
        if (comparisons is { Count: > 0 }) h.Append("<p><a href=\"#compare\">AST path versus bytecode path</a></p>\n");
        h.Append("</nav>\n");
    }

    private static void Frame(StringBuilder h, FrameReport f, int index)
    {
        h.Append($"<section class=\"frame\" id=\"frame-{index}\">\n<h2>{E(f.Name)} <span class=\"dim\">{E(f.File)}:{f.FirstLine} · {f.ModeName} path · {E(f.Backend)} backend · {E(f.Purpose)}</span></h2>\n");
        h.Append("<section class=\"source\"><h3>Source</h3>\n<p class=\"legend\"><span class=\"m-captured\">captured</span> <span class=\"m-break\">graph break</span> <span class=\"m-eager\">ran eagerly</span> <span class=\"m-refused\">refused by the AST path</span></p>\n");
        if (f.Listing.Count == 0) h.Append($"<p class=\"dim\">The source of {E(f.File)} is not available.</p>\n");
        else
        {
            h.Append("<table class=\"listing\">\n");
            foreach (var line in f.Listing)
            {
                var (label, _) = TextReport.MarkText(line.Mark);
                var cls = line.Mark switch { LineMark.Captured => "m-captured", LineMark.GraphBreak => "m-break", LineMark.Eager => "m-eager", LineMark.Refused => "m-refused", _ => "m-none" };
                h.Append($"<tr class=\"{cls}\"><td class=\"no\">{line.Number}</td><td class=\"mark\">{E(label)}</td><td><pre>{E(line.Text)}</pre>");
                foreach (var note in line.Notes) h.Append($"<div class=\"note\">{E(note)}</div>");
                h.Append("</td></tr>\n");
            }
            h.Append("</table>\n");
        }
        h.Append("</section>\n");
        if (f.EagerReasons.Count > 0)
            h.Append("<section class=\"eager\"><h3>Ran eagerly</h3><ul>" + string.Concat(f.EagerReasons.Select(r => $"<li>{E(r)}</li>")) + "</ul></section>\n");
        if (f.Diagnostics.Count > 0)
            h.Append("<section class=\"diagnostics\"><h3>Refused by the AST path</h3>" + string.Concat(f.Diagnostics.Select(d => $"<pre class=\"refused\">{E(d.ToString())}</pre>")) + "</section>\n");
        h.Append("<section class=\"breaks\"><h3>Graph breaks</h3>\n");
        if (f.Breaks.Count == 0) h.Append("<p class=\"dim\">None.</p>\n");
        else
        {
            h.Append("<table><thead><tr><th>#</th><th>reason</th><th>where</th><th>user stack</th></tr></thead><tbody>\n");
            foreach (var (b, i) in f.Breaks.Select((b, i) => (b, i + 1)))
                h.Append($"<tr><td>{i}</td><td>{E(b.Reason)}<br><small>to avoid it: {E(BreakHints.For(b.Reason))}</small></td><td>{E(b.Kind)} at {E(Path.GetFileName(b.File ?? "?"))}:{b.Line}</td><td>{string.Join("<br>", b.UserStack.Select(E))}</td></tr>\n");
            h.Append("</tbody></table>\n");
        }
        h.Append("</section>\n");
        foreach (var graph in f.Graphs) Graph(h, graph, index);
        h.Append("<section class=\"recompiles\"><h3>Recompiles</h3>\n");
        if (f.Recompiles.Count == 0) h.Append("<p class=\"dim\">None.</p>\n");
        else h.Append("<ul>" + string.Concat(f.Recompiles.Select(r => $"<li>graph {r.Graph}: {E(r.Reason)}</li>")) + "</ul>\n");
        h.Append("</section>\n</section>\n");
    }

    private static void Graph(StringBuilder h, GraphEntry g, int frame)
    {
        h.Append($"<section class=\"graph\" id=\"frame-{frame}-graph-{g.Number}\">\n<h3>Graph {g.Number} <span class=\"dim\">from {E(g.Entry)} · {g.OpCount} ops{E(TextReport.CodeSize(g))}</span></h3>\n");
        if (g.Event.RecompileReason is { } reason) h.Append($"<p class=\"recompiled\">Recompiled because {E(reason)}</p>\n");
        h.Append($"<pre class=\"code\">{E(CodePrinter.Print(g.Graph))}</pre>\n");
        var optimized = g.Optimized;
        var dot = optimized is null ? DotPrinter.Print(g.Graph, $"graph{g.Number}") : DotPrinter.Print(optimized.Graph, $"graph{g.Number}", optimized.Fusion);
        var svg = Graphviz.ToSvg(dot, out var failure);
        h.Append("<figure class=\"picture\">");
        h.Append(svg ?? $"<pre>{E(dot)}</pre>");
        h.Append($"<figcaption>{(svg is null ? E(failure ?? "") : optimized is null ? "The captured graph." : $"The optimized graph: {optimized.Fusion.Groups.Count} fusion group(s), one colour per kernel (g1, g2, ...).")}</figcaption></figure>\n");
        h.Append("<h4>Guards</h4>\n<table class=\"guards\"><thead><tr><th>value</th><th>guard</th><th>kind</th><th>why</th></tr></thead><tbody>\n");
        foreach (var guard in g.Guards)
            h.Append($"<tr><td>{E(guard.Group)}</td><td><code>{E(guard.Text)}</code></td><td>{E(guard.Kind)}</td><td>{string.Join("<br>", guard.Uses.Select(u => E(u.At is null ? $"for the whole graph: {u.Why}" : $"guarded because line {u.At.Line} {u.Why}")))}</td></tr>\n");
        h.Append("</tbody></table>\n");
        h.Append("<h4>Compile time</h4>\n<table class=\"timings\"><thead><tr><th>phase</th><th>ms</th><th>note</th></tr></thead><tbody>\n");
        h.Append($"<tr><td>capture</td><td>{g.Event.CaptureTime.TotalMilliseconds:0.00}</td><td></td></tr>\n");
        foreach (var p in g.Trace?.Phases ?? []) h.Append($"<tr><td>{E(p.Name)}</td><td>{p.Time.TotalMilliseconds:0.00}</td><td>{E(p.Note ?? "")}</td></tr>\n");
        h.Append("</tbody></table>\n");
        h.Append($"<h4>Autograd</h4>\n<p class=\"dim autograd\">{E(AutogradSummary.Status(g.Trace))}</p>\n");
        if (g.Trace?.Split?.Partition is { } partition)
        {
            h.Append("<ul class=\"saved\">").Append(string.Concat(AutogradSummary.Saved(partition).Select(s => $"<li><code>{E(s)}</code></li>"))).Append("</ul>\n");
            h.Append($"<details class=\"forward\"><summary>Forward graph</summary><pre class=\"code\">{E(CodePrinter.Print(partition.Forward))}</pre></details>\n");
            h.Append($"<details class=\"backward\"><summary>Backward graph</summary><pre class=\"code\">{E(CodePrinter.Print(partition.Backward))}</pre></details>\n");
        }
        if (g.Trace is { Source: { } source, Language: { } language })
            h.Append($"<details class=\"generated\"><summary>Generated {language} ({source.Split('\n').Length} lines)</summary><pre class=\"code\">{E(source)}</pre></details>\n");
        h.Append("</section>\n");
    }

    private static void Compare(StringBuilder h, IReadOnlyList<Comparison> comparisons)
    {
        h.Append("<section id=\"compare\" class=\"compare\"><h2>AST path versus bytecode path</h2>\n");
        foreach (var c in comparisons)
        {
            h.Append($"<h3>{E(c.Function)}</h3>\n<table><thead><tr><th></th><th>AST</th><th>bytecode</th></tr></thead><tbody>\n");
            foreach (var (label, ast, bytecode) in c.Rows) h.Append($"<tr><th>{E(label)}</th><td>{E(ast)}</td><td>{E(bytecode)}</td></tr>\n");
            h.Append($"</tbody></table>\n<details><summary>Both paths' graphs, diagnostics and guards</summary><pre class=\"code\">{E(c.Details)}</pre></details>\n");
        }
        h.Append("</section>\n");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private const string Css = """
        body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#1f2937;padding:0 1em}
        h1{margin-bottom:0}h2{border-bottom:2px solid #e5e7eb;padding-bottom:.2em;margin-top:2em}
        .dim,.meta{color:#6b7280;font-weight:normal;font-size:.9em}
        table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #e5e7eb;padding:.25em .6em;text-align:left;vertical-align:top}
        th{background:#f9fafb}pre{margin:0;font-family:ui-monospace,monospace;font-size:.85em;white-space:pre-wrap}
        pre.code{background:#f8fafc;border:1px solid #e5e7eb;padding:.6em;overflow-x:auto}
        table.listing{width:100%}table.listing td{border:none;padding:0 .5em}table.listing td.no{color:#9ca3af;text-align:right;width:3em}
        table.listing td.mark{width:5.5em;font-size:.8em;color:#374151}
        .m-captured{background:#ecfdf5}.m-break{background:#fef2f2}.m-eager{background:#fffbeb}.m-refused{background:#fdf2f8}
        .legend span{padding:.1em .5em;margin-right:.5em;border:1px solid #e5e7eb}
        .note{font-size:.8em;color:#4b5563;padding-left:1.5em}
        figure.picture{overflow-x:auto;border:1px solid #e5e7eb;padding:.5em;margin:.5em 0}figure.picture svg{max-width:100%;height:auto}
        details summary{cursor:pointer;color:#1d4ed8}
        """;
}
