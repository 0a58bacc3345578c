using System.Net;
using System.Text;
using Capture.Runtime.Backends;
using Capture.Runtime.Compile;

namespace Capture.Runtime.Reports;

/// <summary>
/// The HTML form of reports: one self-contained file (inline CSS and SVG, one small inline script
/// allowed by its hash, no network resource). A sidebar with search and a link to every frame and
/// graph (compile ids `[frame/compile]` as Dynamo prints them), an index table, then per frame
/// (collapsible) the annotated source, the breaks, each graph as code and as a picture (nodes
/// coloured by fusion group), its guards with the lines behind them, compile phases, the generated
/// code (collapsible), and recompiles; the AST-versus-bytecode comparison when given.
/// </summary>
public static class HtmlReport
{
    /// <summary>One function compared on both paths and under torch.jit.script: its name and the rows (label, AST, bytecode, TorchScript), plus both paths' details as text.</summary>
    public sealed record Comparison(string Function, IReadOnlyList<(string Label, string Ast, string Bytecode, string TorchScript)> Rows, string Details);

    public static string Render(string title, IReadOnlyList<FrameReport> frames, IReadOnlyList<Comparison>? comparisons = null)
    {
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        h.Append($"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src '{ScriptHash}'\">\n");
        h.Append($"<title>{E(title)}</title>\n<style>{Css}</style>\n</head>\n<body>\n");
        Sidebar(h, title, frames, comparisons);
        h.Append("<main>\n");
        h.Append($"<header><h1>{E(title)}</h1><p class=\"meta\">Capture {E(CaptureSession.Version)} · {frames.Count} compiled frame(s) · {frames.Sum(f => f.Graphs.Count)} graph(s) · {frames.Sum(f => f.Breaks.Count)} graph break(s) · {frames.Sum(f => f.Recompiles.Count)} recompile(s)</p></header>\n");
        Index(h, frames, comparisons);
        foreach (var (frame, i) in frames.Select((f, i) => (f, i + 1))) Frame(h, frame, i);
        if (comparisons is { Count: > 0 }) Compare(h, comparisons);
        h.Append("</main>\n");
        h.Append($"<script>{Script}</script>\n");
        h.Append("</body>\n</html>\n");
        return h.ToString();
    }

    /// <summary>
    /// Dynamo's compile ids: `[F/C]` for the C-th compile (0: the first, each recompile adds one) of the
    /// F-th frame (0-based), per graph of the frame; graphs captured in one compile (after a break) share it.
    /// </summary>
    public static IReadOnlyList<string> CompileIds(FrameReport frame, int frameIndex)
    {
        var (ids, compile) = (new List<string>(), 0);
        foreach (var g in frame.Graphs)
        {
            if (g.Event.RecompileReason is not null) compile++;
            ids.Add($"[{frameIndex - 1}/{compile}]");
        }
        return ids;
    }

    private static void Sidebar(StringBuilder h, string title, IReadOnlyList<FrameReport> frames, IReadOnlyList<Comparison>? comparisons)
    {
        h.Append($"<nav id=\"sidebar\" aria-label=\"frames\"><p class=\"brand\">{E(title)}</p>\n");
        h.Append("<input id=\"search\" type=\"search\" placeholder=\"Search frames, graphs, guards\" aria-label=\"search\"><p id=\"search-count\" class=\"dim\"></p>\n");
        h.Append("<p><a href=\"#index\">Index</a></p>\n<ol class=\"toc\">\n");
        foreach (var (f, i) in frames.Select((f, i) => (f, i + 1)))
        {
            var ids = CompileIds(f, i);
            h.Append($"<li data-frame=\"frame-{i}\"><a href=\"#frame-{i}\">{E(f.Name)}</a> <span class=\"dim\">{E(Path.GetFileName(f.File))}:{f.FirstLine} · {f.ModeName} · {E(f.Backend)}{(f.Purpose == "compiled" ? "" : $" · {E(f.Purpose)}")}</span>");
            if (f.Graphs.Count > 0)
                h.Append("<ul>" + string.Concat(f.Graphs.Select((g, k) => $"<li><a href=\"#frame-{i}-graph-{g.Number}\">{ids[k]} graph {g.Number}</a></li>")) + "</ul>");
            h.Append("</li>\n");
        }
        h.Append("</ol>\n");
        if (comparisons is { Count: > 0 }) h.Append("<p><a href=\"#compare\">AST path versus bytecode path</a></p>\n");
        h.Append("</nav>\n");
    }

    private static void Index(StringBuilder h, IReadOnlyList<FrameReport> frames, IReadOnlyList<Comparison>? comparisons)
    {
        h.Append("<section id=\"index\"><h2>Compiled frames</h2>\n<div class=\"wide\"><table><thead><tr><th>frame</th><th>path</th><th>backend</th><th>graphs</th><th>ops</th><th>breaks</th><th>guards</th><th>recompiles</th><th>ran eagerly</th><th>compile ids</th></tr></thead><tbody>\n");
        foreach (var (f, i) in frames.Select((f, i) => (f, i + 1)))
        {
            var ids = CompileIds(f, i);
            h.Append($"<tr data-frame=\"frame-{i}\"><td><a href=\"#frame-{i}\">{E(f.Name)}</a> <span class=\"dim\">{E(Path.GetFileName(f.File))}:{f.FirstLine}</span></td><td>{f.ModeName}</td><td>{E(f.Backend)}{(f.Purpose == "compiled" ? "" : $" <span class=\"dim\">({E(f.Purpose)})</span>")}</td>"
                + $"<td>{f.Graphs.Count}</td><td>{f.Graphs.Sum(g => g.OpCount)}</td><td>{f.Breaks.Count}</td><td>{f.Graphs.Sum(g => g.Guards.Count)}</td><td>{f.Recompiles.Count}</td>"
                + $"<td>{(f.EagerReasons.Count > 0 || f.Diagnostics.Count > 0 ? "yes" : "no")}</td>"
                + $"<td>{string.Join(" ", f.Graphs.Select((g, k) => $"<a href=\"#frame-{i}-graph-{g.Number}\" title=\"graph {g.Number}\">{ids[k]}&nbsp;g{g.Number}</a>"))}</td></tr>\n");
        }
        h.Append("</tbody></table></div>\n");
        if (comparisons is { Count: > 0 }) h.Append("<p><a href=\"#compare\">AST path versus bytecode path</a></p>\n");
        h.Append("</section>\n");
    }

    private static void Frame(StringBuilder h, FrameReport f, int index)
    {
        h.Append($"<section class=\"frame\" id=\"frame-{index}\">\n<details class=\"frame-body\" open><summary><h2>{E(f.Name)} <span class=\"dim\">{E(f.File)}:{f.FirstLine} · {f.ModeName} path · {E(f.Backend)} backend · {E(f.Purpose)}</span></h2></summary>\n<p class=\"up\"><a href=\"#index\">↑ index</a></p>\n");
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
        var ids = CompileIds(f, index);
        foreach (var (graph, k) in f.Graphs.Select((g, k) => (g, k))) Graph(h, graph, index, ids[k]);
        h.Append("<section class=\"recompiles\"><h3>Recompiles</h3>\n");
        if (f.Recompiles.Count == 0) h.Append("<p class=\"dim\">None.</p>\n");
        else h.Append("<ul>" + string.Concat(f.Recompiles.Select(r => $"<li>graph {r.Graph}: {E(r.Reason)}</li>")) + "</ul>\n");
        h.Append("</section>\n</details>\n</section>\n");
    }

    private static void Graph(StringBuilder h, GraphEntry g, int frame, string compileId)
    {
        h.Append($"<section class=\"graph\" id=\"frame-{frame}-graph-{g.Number}\">\n<h3>{compileId} Graph {g.Number} <span class=\"dim\">from {E(g.Entry)} · {g.OpCount} ops{E(TextReport.CodeSize(g))}</span> <a class=\"up\" href=\"#index\">↑ index</a></h3>\n");
        if (g.Event.RecompileReason is { } reason) h.Append($"<p class=\"recompiled\">Recompiled because {E(reason)}</p>\n");
        h.Append($"<pre class=\"code\">{E(CodePrinter.Print(g.Graph))}</pre>\n");
        var optimized = g.Optimized;
        var dot = optimized is null ? DotPrinter.Print(g.Graph, $"graph{g.Number}") : DotPrinter.Print(optimized.Graph, $"graph{g.Number}", optimized.Fusion);
        var svg = Graphviz.ToSvg(dot, out var failure);
        h.Append("<figure class=\"picture\">");
        h.Append(svg ?? $"<pre>{E(dot)}</pre>");
        h.Append($"<figcaption>{(svg is null ? E(failure ?? "") : optimized is null ? "The captured graph." : $"The optimized graph: {optimized.Fusion.Groups.Count} fusion group(s), one colour per kernel (g1, g2, ...).")}</figcaption></figure>\n");
        h.Append($"<details class=\"guards\"{(g.GuardLines.Count <= 12 ? " open" : "")}><summary>Guards ({g.Guards.Count})</summary>\n<table class=\"guards\"><thead><tr><th>value</th><th>guard</th><th>kind</th><th>why</th></tr></thead><tbody>\n");
        foreach (var guard in g.GuardLines)
            h.Append($"<tr><td>{E(guard.Group)}</td><td><code>{E(guard.Text)}</code></td><td>{E(guard.Count > 1 ? $"{guard.Count} guards: {guard.Kind}" : guard.Kind)}</td><td>{string.Join("<br>", guard.Uses.Select(u => E(u.At is null ? $"for the whole graph: {u.Why}" : $"guarded because line {u.At.Line} {u.Why}")))}</td></tr>\n");
        h.Append("</tbody></table></details>\n");
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
            h.Append($"<h3>{E(c.Function)}</h3>\n<div class=\"wide\"><table><thead><tr><th></th><th>AST</th><th>bytecode</th><th>torch.jit.script</th></tr></thead><tbody>\n");
            foreach (var (label, ast, bytecode, script) in c.Rows) h.Append($"<tr><th>{E(label)}</th><td>{E(ast)}</td><td>{E(bytecode)}</td><td>{E(script)}</td></tr>\n");
            h.Append($"</tbody></table></div>\n<details><summary>Both paths' graphs, diagnostics and guards</summary><pre class=\"code\">{E(c.Details)}</pre></details>\n");
        }
        h.Append("</section>\n");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    /// <summary>The page's script: following a link opens the collapsed frames around its target; search hides the frames (and their index and sidebar rows) whose text lacks the query.</summary>
    private const string Script = """
        (function () {
          var search = document.getElementById('search'), count = document.getElementById('search-count');
          var frames = Array.prototype.slice.call(document.querySelectorAll('section.frame'));
          function reveal() {
            var id = decodeURIComponent(location.hash.slice(1)), target = id && document.getElementById(id);
            if (!target) return;
            for (var d = target.closest('details'); d; d = d.parentElement && d.parentElement.closest('details')) d.open = true;
            target.scrollIntoView();
          }
          window.addEventListener('hashchange', reveal);
          reveal();
          search.addEventListener('input', function () {
            var q = search.value.trim().toLowerCase(), shown = 0;
            frames.forEach(function (f) {
              var hit = !q || f.textContent.toLowerCase().indexOf(q) >= 0;
              if (hit) shown++;
              f.hidden = !hit;
              document.querySelectorAll('[data-frame="' + f.id + '"]').forEach(function (e) { e.hidden = !hit; });
            });
            count.textContent = q ? shown + ' of ' + frames.length + ' frames match' : '';
          });
        })();
        """;

    /// <summary>The script's hash for the page's Content-Security-Policy: that script runs, no other.</summary>
    private static readonly string ScriptHash = "sha256-" + Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Script)));

    private const string Css = """
        body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;display:grid;grid-template-columns:minmax(13rem,17rem) minmax(0,1fr)}
        [hidden]{display:none!important}
        #sidebar{position:sticky;top:0;height:100vh;overflow-y:auto;box-sizing:border-box;padding:.8em;background:#f9fafb;border-right:1px solid #e5e7eb;font-size:.85em}
        #sidebar .brand{font-weight:600;margin-top:0}#sidebar input{width:100%;box-sizing:border-box;padding:.3em;font-size:1em}
        #sidebar ol{padding-left:1.4em;margin:.3em 0}#sidebar ul{list-style:none;padding-left:.4em;margin:.1em 0 .4em}#sidebar li{margin:.15em 0}
        main{min-width:0;max-width:1200px;padding:0 1.5em 3em}
        a{color:#1d4ed8;text-decoration:none}a:hover{text-decoration:underline}a.up,p.up{font-size:.75em;font-weight:normal}
        section[id]{scroll-margin-top:.5em}
        h1{margin-bottom:0}h2{border-bottom:2px solid #e5e7eb;padding-bottom:.2em;margin-top:1.2em;display:inline-block;width:calc(100% - 1.5em)}
        details.frame-body>summary{margin-top:1em}details.frame-body>summary h2{margin:0}
        .dim,.meta{color:#6b7280;font-weight:normal;font-size:.9em}
        .wide{overflow-x:auto}#index table{font-size:.85em}
        table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #e5e7eb;padding:.25em .6em;text-align:left;vertical-align:top}
        th{background:#f9fafb}pre{margin:0;font-family:ui-monospace,monospace;font-size:.85em;white-space:pre-wrap;overflow-wrap:anywhere}
        pre.code{background:#f8fafc;border:1px solid #e5e7eb;padding:.6em;overflow-x:auto}
        table.listing{width:100%}table.listing td{border:none;padding:0 .5em}table.listing td.no{color:#9ca3af;text-align:right;width:3em}
        table.listing td.mark{width:5.5em;font-size:.8em;color:#374151}
        table.guards td{overflow-wrap:anywhere}
        .m-captured{background:#ecfdf5}.m-break{background:#fef2f2}.m-eager{background:#fffbeb}.m-refused{background:#fdf2f8}
        .legend span{padding:.1em .5em;margin-right:.5em;border:1px solid #e5e7eb}
        .note{font-size:.8em;color:#4b5563;padding-left:1.5em}
        figure.picture{overflow-x:auto;border:1px solid #e5e7eb;padding:.5em;margin:.5em 0}figure.picture svg{max-width:100%;height:auto}
        details summary{cursor:pointer;color:#1d4ed8}
        @media (max-width:900px){body{display:block}#sidebar{position:static;height:auto;border-right:none;border-bottom:1px solid #e5e7eb}}
        """;
}
