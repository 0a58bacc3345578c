using System.Net;

namespace Capture.EndToEnd.Tests;

// Issue 10: explain in the terminal, CAPTURE_LOGS, and the HTML report, checked on the pyexamples
// breaks.py, guards.py and control_flow.py (reasons, lines, guard texts and why, recompile reasons).
public sealed class ReportTests
{
    private static string Example(string name) => Path.Combine(CommandRunner.Root, "pyexamples", name);

    private static string TempHtml() => Path.Combine(Directory.CreateTempSubdirectory("capture-report-").FullName, "report.html");

    /// <summary>`capture report ...`, and the report's text with entities decoded (what a reader sees, markup aside).</summary>
    private static (string Path, string Text) Report(string backend, params string[] args)
    {
        var output = TempHtml();
        var at = Array.IndexOf(args, "--");
        string[] arguments = at < 0 ? ["report", .. args, "-o", output] : ["report", .. args[..at], "-o", output, .. args[at..]];
        var run = CommandRunner.CaptureOn(backend, arguments);
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        Assert.Contains($"report written to {output}", run.Stdout);
        var html = File.ReadAllText(output);
        return (output, WebUtility.HtmlDecode(html));
    }

    // an ordinary script without EXAMPLES: run with its arguments (after --), every compiled frame reported
    [Fact]
    public void ExplainAndReportOfAnOrdinaryScriptCoverEveryCompiledFrame()
    {
        var script = Path.Combine(CommandRunner.Root, "tests", "Capture.EndToEnd.Tests", "scripts", "ordinary_script.py");
        var explain = CommandRunner.Capture("explain", script, "--", "3.5");
        Assert.True(explain.ExitCode == 0, explain.Stderr);
        Assert.Contains("scale 3.5", explain.Stdout);
        Assert.Contains("== step (ordinary_script.py:13) — bytecode path, roslyn backend ==", explain.Stdout);
        Assert.Contains("== forward (ordinary_script.py:25) — bytecode path, roslyn backend ==", explain.Stdout);
        Assert.Contains("1x call to print() has effects outside the graph at line 16", explain.Stdout);
        var (_, html) = Report("eager", script, "--", "2");
        Assert.Contains("ordinary_script.py:13", html);
        Assert.Contains("ordinary_script.py:25", html);
    }

    // graph, compare and explain take FILE.py::fn of a script: fn captured on the arguments of its first
    // call in the run; --json output alone on stdout; an unknown name lists what the run compiled
    [Fact]
    public void GraphCompareAndExplainTakeAFunctionOfAnOrdinaryScript()
    {
        var script = Path.Combine(CommandRunner.Root, "tests", "Capture.EndToEnd.Tests", "scripts", "ordinary_script.py");
        var graph = CommandRunner.Capture("graph", script + "::step", "--", "2");
        Assert.True(graph.ExitCode == 0, graph.Stderr);
        Assert.Contains("# step: graph 1 of 2\ndef forward(self, x: \"f32[4]\"):", graph.Stdout);
        Assert.Contains("torch.mul(relu, 2.0)", graph.Stdout); // the script's argument 2 read as SCALE
        var all = CommandRunner.Capture("graph", script, "--format", "json");
        Assert.True(all.ExitCode == 0, all.Stderr);
        Assert.Equal(3, System.Text.Json.Nodes.JsonNode.Parse(all.Stdout)!.AsArray().Count); // step's two graphs and Net's one
        var compare = CommandRunner.Capture("compare", script + "::Net", "--json");
        Assert.True(compare.ExitCode == 0, compare.Stderr);
        var net = System.Text.Json.Nodes.JsonNode.Parse(compare.Stdout)!.AsArray().Single()!;
        Assert.Equal("Net", net["function"]!.GetValue<string>());
        Assert.Contains("step ran", compare.Stderr);
        var explain = CommandRunner.Capture("explain", script + "::Net");
        Assert.True(explain.ExitCode == 0, explain.Stderr);
        Assert.Contains("== forward (ordinary_script.py:25) — bytecode path, roslyn backend, explain ==", explain.Stdout);
        var missing = CommandRunner.Capture("compare", script + "::nope");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("called no compiled function named 'nope' (it called: step, Net)", missing.Stderr);
    }

    // CAPTURE_TRACE=DIR, like TORCH_TRACE: any run leaves the HTML report of every frame it compiled,
    // under `capture run` and under plain python3.11
    [Theory]
    [InlineData("capture run")]
    [InlineData("python3.11")]
    public void CaptureTraceRecordsEveryCompiledFrameOfARun(string host)
    {
        var script = Path.Combine(CommandRunner.Root, "tests", "Capture.EndToEnd.Tests", "scripts", "ordinary_script.py");
        var folder = Directory.CreateTempSubdirectory("capture-trace-").FullName;
        try
        {
            var environment = new Dictionary<string, string> { ["CAPTURE_TRACE"] = folder };
            var run = host == "python3.11"
                ? CommandRunner.Run("/usr/bin/python3.11", [script], workingDirectory: Path.GetTempPath(), environment: environment)
                : CommandRunner.Run(CommandRunner.CliPath, ["run", script], environment: environment);
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Contains("capture: trace written to ", run.Stderr);
            var trace = WebUtility.HtmlDecode(File.ReadAllText(Assert.Single(Directory.GetFiles(folder, "capture_trace_*.html"))));
            Assert.Contains("ordinary_script.py:13", trace);
            Assert.Contains("ordinary_script.py:25", trace);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void ExplainMarksEachSourceLineAndGivesBreaksWithTheirLines(string backend)
    {
        var run = CommandRunner.CaptureOn(backend, "explain", Example("breaks.py"), "--verbose");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var text = run.Stdout;
        var escape = text.IndexOf('\u001b');
        Assert.True(escape < 0, $"piped output has a terminal escape: {(escape < 0 ? "" : text.Substring(Math.Max(0, escape - 100), 200))}");
        Assert.Contains($"== print_in_the_middle (breaks.py:11) — bytecode path, {backend} backend, explain ==", text);
        Assert.Contains("  12 captured     y = torch.tanh(x) * 2\n              · graph 1: 2 ops (torch.tanh, torch.mul)\n", text);
        Assert.Contains("  13 break        print(\"  (print inside the compiled function)\")\n"
            + "              · graph break: call to print() has effects outside the graph at line 13; this line ran in Python\n", text);
        Assert.Contains("  14 captured     return y + 1\n              · graph 2: 1 op (torch.add)\n", text);
        Assert.Contains("  23 break        if x.sum() > 0:", text);
        Assert.Contains("Graph 2 (from line 13 (after a break), 1 ops;", text);
        Assert.Contains("guarded because line 12 reads L['x'] as a graph input (dtype, sizes and strides are specialized)", text);
        Assert.Contains("guarded because line 13 uses the object G['print'] (calls it or reads it)", text);
        // the break inside an inlined helper: its user stack through the call
        Assert.Contains("  53 break        return _normalize(x) * 3\n", text);
        Assert.Contains("  1. Tensor.item() needs the tensor's values (data-dependent) at line 48\n", text);
        Assert.Matches(@"in break_in_a_helper \(\S*breaks.py:53\)\n\s+in _normalize \(\S*breaks.py:48\)", text);
        // guards of one kind on the items of one list are one line: sorted(dir(x)) after the break reads
        // every name of dir(x) (hundreds of guards), shown as one line with the count
        var names = System.Text.RegularExpressions.Regex.Match(text, @"resumed_stack\[2\]\[0\.\.(\d+)\] == \['H', 'T', '__abs__', \.\.\., '\w+'\]  \[(\d+) guards: constant match\]\n\s+guarded because line 35 uses the value of resumed_stack\[2\]\[0\.\.\1\]\n");
        Assert.True(names.Success, text);
        Assert.Equal(int.Parse(names.Groups[1].Value) + 1, int.Parse(names.Groups[2].Value));
        Assert.True(text.Split('\n').Length < 600, $"explain --verbose of breaks.py prints {text.Split('\n').Length} lines");
    }

    [Theory]
    [MemberData(nameof(CommandRunner.Backends), MemberType = typeof(CommandRunner))]
    public void GuardsReportExplainsEachGuardByItsLineAndGivesEveryRecompileReason(string backend)
    {
        var (_, text) = Report(backend, Example("guards.py"));
        // recompiles, each with the failed guard, under the frame that recompiled
        Assert.Contains("graph 2: tensor 'L['x']' size mismatch at index 0: expected 3, actual 5", text);
        Assert.Contains("graph 3: tensor 'L['x']' dtype mismatch: expected float32, actual float64", text);
        Assert.Contains("graph 4: G['SCALE'] changed: expected 2.0, actual 3.0", text);
        Assert.Contains("graph 2: tensor 'L['x']' size mismatch at index 0: expected 3, actual 2", text);
        Assert.Contains("graph 2: L['self'].training changed: expected True, actual False", text);
        Assert.Contains("<p class=\"recompiled\">Recompiled because G['SCALE'] changed: expected 2.0, actual 3.0</p>", text);
        // guard texts with kinds, and the source line behind each
        Assert.Contains("<code>G['SCALE'] == 2.0</code></td><td>constant match</td><td>guarded because line 12 uses the value of G['SCALE']</td>", text);
        Assert.Contains("<code>L['x']: tensor f32[3, 2], strides (2, 1), requires_grad=False</code></td><td>tensor match</td><td>guarded because line 16 branches on `x.shape[0] > 2`</td>", text);
        Assert.Contains("guarded because line 29 branches on `return y * 0.5 if self.training else y`", text);
        Assert.Contains("guarded because line 28 uses the module L['self'], captured in its current training mode", text);
        Assert.Contains("for the whole graph: the graph records autograd (grad mode on at capture)", text);
        // the listing: the shape branch decided at capture, on the line of the if
        Assert.Contains("graph 1: decided at capture, guarded by L['x'] (tensor match)", text);
        Assert.Contains("<tr data-frame=\"frame-1\"><td><a href=\"#frame-1\">scaled</a>", text);
        // compile ids as Dynamo prints them: [frame/compile], each recompile one more
        Assert.Contains("<h3>[0/0] Graph 1 <span", text);
        Assert.Contains("<h3>[0/3] Graph 4 <span", text);
        Assert.Contains("<a href=\"#frame-1-graph-4\">[0/3] graph 4</a>", text); // in the sidebar
    }

    [Fact]
    public void ControlFlowReportComparesThePathsAndMarksWhatEachKeptOrRefused()
    {
        var (_, text) = Report("eager", Example("control_flow.py"), "--compare");
        // AST frames: the tensor if kept as a cond, the refusals at their lines
        Assert.Contains("clip_by_norm</a> <span class=\"dim\">control_flow.py:11</span></td><td>ast</td>", text);
        Assert.Contains("graph 1: kept as cond (the tensor decides at run time)", text);
        Assert.Contains("graph 1: kept as while_loop (the tensor decides at run time)", text);
        Assert.Contains("refused: print() would run once, when the function is captured, not on every call", text);
        Assert.Contains("refused: Tensor.item() needs the tensor's value while the graph runs (data-dependent)", text);
        // bytecode frames: the same lines break
        Assert.Contains("data-dependent branch on a tensor's value at line 14", text);
        Assert.Contains("call to print() has effects outside the graph at line 43", text);
        // shape branch: both paths decide it at capture and say so for the guard
        Assert.Contains("guarded because line 28 branches on `x.shape[-1] > 4`", text);
        // the comparison section, with the per-line decisions
        Assert.Contains("<section id=\"compare\" class=\"compare\"><h2>AST path versus bytecode path</h2>", text);
        Assert.Contains("<tr><th>decided at capture</th><td>line 28 branches on `x.shape[-1] > 4`</td><td>line 28 branches on `x.shape[-1] > 4`</td><td>- (types only)</td></tr>", text);
        Assert.Contains("<th>torch.jit.script</th>", text);
    }

    [Fact]
    public void CaptureLogsPrintEachKindToStderrAsItHappens()
    {
        var run = CommandRunner.Run(CommandRunner.CliPath, ["run", Example("guards.py")],
            environment: new Dictionary<string, string> { ["CAPTURE_LOGS"] = "all", ["CAPTURE_BACKEND"] = "roslyn" });
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("all calls match eager: True", run.Stdout);
        Assert.DoesNotContain("[capture:", run.Stdout);
        var log = run.Stderr;
        Assert.Contains("[capture:graph] scaled (guards.py:11): graph from the start (1 ops, bytecode path, roslyn backend)\n  def forward(self, x: \"f32[3]\"):", log);
        Assert.Contains("[capture:guards] scaled (guards.py:11): 6 guards\n", log); // grad mode, default dtype, x, SCALE, and the namespaces x * SCALE looked up (Tensor.__mul__...)
        Assert.Contains("  torch._C._TensorBase: '__mul__' unchanged", log);
        Assert.Contains("  G['SCALE'] == 2.0  [constant match]\n      because line 12 uses the value of G['SCALE']\n", log);
        Assert.Contains("[capture:recompiles] scaled (guards.py:11): recompiling because G['SCALE'] changed: expected 2.0, actual 3.0", log);
        Assert.Contains("[capture:recompiles] forward (guards.py:27): recompiling because L['self'].training changed: expected True, actual False", log);
        Assert.Contains("[capture:code] scaled (guards.py:11): generated roslyn source", log);
        Assert.Matches(@"\[capture:perf\] scaled \(guards.py:11\): capture \d+\.\d ms, optimize", log);
        // the order is the order of events: the recompile comes after the first graph
        Assert.True(log.IndexOf("[capture:graph] scaled", StringComparison.Ordinal) < log.IndexOf("[capture:recompiles] scaled", StringComparison.Ordinal));

        var breaks = CommandRunner.Run(CommandRunner.CliPath, ["run", Example("breaks.py")],
            environment: new Dictionary<string, string> { ["CAPTURE_LOGS"] = "breaks,nonsense", ["CAPTURE_BACKEND"] = "eager" });
        Assert.True(breaks.ExitCode == 0, breaks.Stderr);
        Assert.Contains("[capture] CAPTURE_LOGS: unknown kind 'nonsense' (one of graph, guards, breaks, recompiles, code, perf, or all)", breaks.Stderr);
        Assert.Contains("[capture:breaks] print_in_the_middle (breaks.py:11): graph break: call to print() has effects outside the graph at line 13 at breaks.py:13", breaks.Stderr);
        Assert.DoesNotContain("[capture:graph]", breaks.Stderr);
    }

    [Fact]
    public void PythonApiWritesTheReportOfARunAndExplainsGuards()
    {
        var dir = Directory.CreateTempSubdirectory("capture-report-api-").FullName;
        var script = Path.Combine(dir, "api.py");
        var html = Path.Combine(dir, "out.html");
        File.WriteAllText(script, $$"""
            import torch, capture

            def pick(x, n):
                if n > 1:
                    return x * n
                return x - 1

            f = capture.compile(pick, backend="eager")
            f(torch.ones(3), 2)
            f(torch.ones(3), 0)
            e = capture.explain(pick, torch.ones(3), 3, backend="eager")
            for g in e.guard_explanations:
                print("GUARD", g["guard"], "|", g["kind"], "|", g["value"], "|", "; ".join(g["because"]), "|", g["lines"])
            print("WROTE", capture.report({{System.Text.Json.JsonSerializer.Serialize(html)}}))
            try:
                capture.report({{System.Text.Json.JsonSerializer.Serialize(html)}}, compare=[1])
            except TypeError as error:
                print("ERROR", error)
            """);
        var run = CommandRunner.Capture("run", script);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("GUARD L['n'] == 3 | constant match | L['n'] | line 4 branches on `n > 1` | [4]", run.Stdout);
        Assert.Contains("GUARD L['x']: tensor f32[3], strides (1), requires_grad=False | tensor match | L['x'] | line 5 reads L['x'] as a graph input", run.Stdout);
        Assert.Contains($"WROTE {html}", run.Stdout);
        Assert.Contains("ERROR capture.report: compare= takes CompareOutput objects (from capture.compare), got int", run.Stdout);
        var text = WebUtility.HtmlDecode(File.ReadAllText(html));
        Assert.Contains("graph 2: L['n'] changed: expected 2, actual 0", text);
        Assert.Contains("pick</a> <span class=\"dim\">api.py:3</span></td><td>bytecode</td><td>eager</td>", text);
    }

    // on a laptop screen: the sidebar beside the page, nothing wider than the window; the index's link to
    // a graph inside a collapsed frame opens the frame and shows the graph's picture; its link goes back;
    // search keeps the frames that mention the query; no console error (a script the CSP refused would be one)
    [Fact]
    public async Task HtmlReportNavigatesFromTheIndexToAGraphAndSearchesOnALaptopScreen()
    {
        var (output, _) = Report("roslyn", Example("guards.py"));
        await using var browser = await HeadlessChromium.StartAsync();
        var session = await browser.OpenAsync(new Uri(output).AbsoluteUri, 1366, 768);
        async Task<System.Text.Json.Nodes.JsonNode> Facts(string script) =>
            System.Text.Json.Nodes.JsonNode.Parse((await browser.EvaluateAsync(session, script))!.GetValue<string>())!;
        // CAPTURE_SCREENSHOTS=DIR keeps what the window showed (docs/ has them for the README)
        async Task Screenshot(string name)
        {
            if (Environment.GetEnvironmentVariable("CAPTURE_SCREENSHOTS") is { Length: > 0 } folder)
                await File.WriteAllBytesAsync(Path.Combine(folder, name), await browser.ScreenshotAsync(session));
        }
        await Screenshot("report-index.png");

        var layout = await Facts("""
            JSON.stringify({
              width: innerWidth, scrollWidth: document.documentElement.scrollWidth,
              sidebar: document.getElementById('sidebar').getBoundingClientRect().toJSON(),
              main: document.querySelector('main').getBoundingClientRect().toJSON(),
            })
            """);
        Assert.Equal(1366, layout["width"]!.GetValue<int>());
        Assert.True(layout["scrollWidth"]!.GetValue<int>() <= 1366, layout.ToJsonString());
        Assert.True(layout["sidebar"]!["width"]!.GetValue<double>() is > 150 and < 400, layout.ToJsonString());
        Assert.True(layout["main"]!["left"]!.GetValue<double>() >= layout["sidebar"]!["right"]!.GetValue<double>() - 1, layout.ToJsonString());

        // collapse every frame, then follow the index's last graph link
        var link = (await browser.EvaluateAsync(session, """
            (function () {
              document.querySelectorAll('details.frame-body').forEach(function (d) { d.open = false; });
              var links = document.querySelectorAll('#index a[href*="-graph-"]');
              var last = links[links.length - 1];
              last.click();
              return last.getAttribute('href');
            })()
            """))!.GetValue<string>();
        await Task.Delay(500);
        var reached = await Facts($$"""
            (function () {
              var graph = document.getElementById('{{link[1..]}}');
              var svg = graph.querySelector('figure.picture svg').getBoundingClientRect();
              return JSON.stringify({ hash: location.hash, open: graph.closest('details.frame-body').open, scrollY: scrollY,
                                      top: svg.top, bottom: svg.bottom, height: svg.height, innerHeight: innerHeight });
            })()
            """);
        Assert.Equal(link, reached["hash"]!.GetValue<string>());
        Assert.True(reached["open"]!.GetValue<bool>(), reached.ToJsonString());
        Assert.True(reached["scrollY"]!.GetValue<double>() > 0, reached.ToJsonString());
        Assert.True(reached["height"]!.GetValue<double>() > 20 && reached["top"]!.GetValue<double>() < reached["innerHeight"]!.GetValue<double>()
                    && reached["bottom"]!.GetValue<double>() > 0, $"the graph's picture is not on screen: {reached.ToJsonString()}");
        await Screenshot("report-graph.png");

        // and back to the index
        await browser.EvaluateAsync(session, $"document.getElementById('{link[1..]}').querySelector('a.up').click()");
        await Task.Delay(300);
        var back = await Facts("JSON.stringify({ hash: location.hash, top: document.getElementById('index').getBoundingClientRect().top })");
        Assert.Equal("#index", back["hash"]!.GetValue<string>());
        Assert.True(Math.Abs(back["top"]!.GetValue<double>()) < 50, back.ToJsonString());

        // search: the frames whose text has the query stay, with their sidebar and index rows
        var search = await Facts("""
            (function () {
              var box = document.getElementById('search');
              box.value = 'SCALE';
              box.dispatchEvent(new Event('input'));
              var visible = function (q) { return Array.prototype.filter.call(document.querySelectorAll(q), function (e) { return !e.closest('[hidden]'); }).length; };
              var result = { frames: document.querySelectorAll('section.frame').length, shown: visible('section.frame'),
                             sidebar: visible('#sidebar ol.toc > li'), index: visible('#index tbody tr'),
                             count: document.getElementById('search-count').textContent };
              box.value = '';
              box.dispatchEvent(new Event('input'));
              result.after = visible('section.frame');
              return JSON.stringify(result);
            })()
            """);
        var (frames, shown) = (search["frames"]!.GetValue<int>(), search["shown"]!.GetValue<int>());
        Assert.True(shown > 0 && shown < frames, search.ToJsonString());
        Assert.Equal(shown, search["sidebar"]!.GetValue<int>());
        Assert.Equal(shown, search["index"]!.GetValue<int>());
        Assert.Equal($"{shown} of {frames} frames match", search["count"]!.GetValue<string>());
        Assert.Equal(frames, search["after"]!.GetValue<int>());
        Assert.Empty(browser.Errors(session));
    }

    [Fact]
    public async Task HtmlReportOpensInHeadlessChromiumWithEverySectionAndNoNetworkRequest()
    {
        var (output, _) = Report("roslyn", Example("control_flow.py"), "--compare");
        await using var browser = await HeadlessChromium.StartAsync();
        var page = new Uri(output).AbsoluteUri;
        var session = await browser.OpenAsync(page);
        var facts = (await browser.EvaluateAsync(session, """
            JSON.stringify({
              title: document.title,
              index: document.querySelectorAll('#index tbody tr').length,
              sidebar: document.querySelectorAll('#sidebar ol.toc > li').length,
              frames: document.querySelectorAll('section.frame').length,
              sources: document.querySelectorAll('section.frame section.source table.listing').length,
              breaks: document.querySelectorAll('section.frame section.breaks').length,
              recompiles: document.querySelectorAll('section.frame section.recompiles').length,
              graphs: document.querySelectorAll('section.graph').length,
              svgs: document.querySelectorAll('section.graph figure.picture svg g.node').length > 0
                    ? document.querySelectorAll('section.graph figure.picture svg').length : 0,
              guards: document.querySelectorAll('table.guards tbody tr').length,
              generated: document.querySelectorAll('details.generated').length,
              autograd: document.querySelectorAll('p.autograd').length,
              compare: document.querySelectorAll('section#compare table').length,
              captured: document.querySelectorAll('tr.m-captured').length,
              broken: document.querySelectorAll('tr.m-break').length,
              refused: document.querySelectorAll('tr.m-refused').length,
              scripts: document.scripts.length,
            })
            """))!.GetValue<string>();
        var f = System.Text.Json.Nodes.JsonNode.Parse(facts)!;
        int N(string key) => f[key]!.GetValue<int>();
        Assert.Equal("Capture report: control_flow.py", f["title"]!.GetValue<string>());
        Assert.True(N("frames") >= 12, facts); // six examples on both paths
        Assert.Equal(N("frames"), N("index"));
        Assert.Equal(N("frames"), N("sidebar"));
        Assert.Equal(N("frames"), N("sources"));
        Assert.Equal(N("frames"), N("breaks"));
        Assert.Equal(N("frames"), N("recompiles"));
        Assert.True(N("graphs") > 0 && N("svgs") == N("graphs"), facts); // every graph drawn, as inline SVG with nodes
        Assert.True(N("guards") > N("graphs"), facts);
        Assert.True(N("generated") > 0, facts); // the generated C#, collapsible
        Assert.Equal(N("graphs"), N("autograd"));
        Assert.Equal(6, N("compare"));
        Assert.True(N("captured") > 0 && N("broken") > 0 && N("refused") > 0, facts);
        Assert.Equal(1, N("scripts")); // the page's own (navigation and search), allowed by its hash
        // the page asked for nothing but itself
        Assert.Equal([page], browser.Requests(session));
        Assert.Empty(browser.Errors(session));

        // the check can fail: a page with a remote image is seen asking for it
        var control = Path.Combine(Path.GetDirectoryName(output)!, "control.html");
        File.WriteAllText(control, "<!DOCTYPE html><html><body><img src=\"http://127.0.0.1:9/missing.png\"></body></html>");
        var other = await browser.OpenAsync(new Uri(control).AbsoluteUri);
        Assert.Contains("http://127.0.0.1:9/missing.png", browser.Requests(other));
        // and a script the page's policy refuses is seen as an error
        var refused = Path.Combine(Path.GetDirectoryName(output)!, "refused.html");
        File.WriteAllText(refused, "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'sha256-AAAA'\"></head><body><script>document.title = 'ran';</script></body></html>");
        var third = await browser.OpenAsync(new Uri(refused).AbsoluteUri);
        Assert.Contains(browser.Errors(third), e => e.Contains("Content Security Policy"));
    }
}
