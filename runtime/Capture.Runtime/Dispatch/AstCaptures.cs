using Capture.Bytecode;
using Capture.Frontend;
using Capture.Graphs;
using Capture.Python;

namespace Capture.Runtime.Dispatch;

/// <summary>
/// An AST capture in the frame runner's terms: a capture from instruction 0 to the return, its
/// inputs as sources, and its assumptions as guards (the same guard kinds the bytecode path
/// installs, so both paths are checked, reported and recompiled alike).
/// </summary>
internal static class AstCaptures
{
    public static CaptureResult ToCaptureResult(AstCaptureResult capture, Guard defaultDType)
    {
        var guards = new GuardSet();
        guards.Add(new GradModeGuard(capture.GradEnabled));
        guards.Add(defaultDType);
        foreach (var assumption in capture.Assumptions)
        {
            guards.Site = capture.AssumedAt.TryGetValue(assumption.Path.ToString(), out var at) ? Location(at) : null;
            if (assumption is InputAssumption.GlobalState g)
            {
                guards.Add(new GlobalStateGuard(g.Expression, g.Function, g.Value));
                continue;
            }
            var source = Source(assumption.Path);
            switch (assumption)
            {
                case InputAssumption.Tensor t:
                    guards.Add(new TensorMatchGuard(source, t.Meta));
                    break;
                case InputAssumption.Constant c:
                    guards.Add(new ConstantMatchGuard(source, c.Value));
                    break;
                case InputAssumption.Identity i:
                    guards.Add(new IdMatchGuard(source, i.Value, IdMatchGuard.Describe(i.Value)));
                    break;
                case InputAssumption.Module m:
                    guards.Add(new IdMatchGuard(source, m.Value, IdMatchGuard.Describe(m.Value)));
                    guards.Add(new ConstantMatchGuard(new AttrSource(source, "training"), Py.Bool(m.Training)),
                        $"uses the module {source}, captured in its current training mode");
                    break;
                case InputAssumption.Sequence s:
                    guards.Add(new TypeMatchGuard(source, s.Type, s.TypeName));
                    guards.Add(new LengthMatchGuard(source, s.Length));
                    break;
                case InputAssumption.SameAs d:
                    guards.Add(new DuplicateInputGuard(source, Source(d.Other)));
                    break;
            }
        }
        guards.Site = null;
        foreach (var decision in capture.Decisions) ExplainDecision(guards, decision);
        return new CaptureResult(0, capture.Graph, capture.Inputs.Select(Source).ToList(), guards, new ExitPlan.Return(Spec(capture.Result)))
        {
            Lines = capture.Lines,
        };
    }

    private static SourceLocation Location(Span at) => new(at.File, at.Line, at.Column);

    /// <summary>
    /// A test decided at capture explains the guards on the values its condition names: `if
    /// self.training` the guard on L['self'].training (not the one on self), `if x.shape[0] > 2` the
    /// tensor match of x.
    /// </summary>
    private static void ExplainDecision(GuardSet guards, CaptureDecision decision)
    {
        var condition = decision.LineText ?? "";
        var named = guards.Guards
            .Select(g => (Guard: g, Expression: g is TensorMatchGuard or ConstantMatchGuard or LengthMatchGuard or IdMatchGuard ? Expression(g.Subject!) : null))
            .Where(p => p.Expression is { } e && Mentions(condition, e))
            .ToList();
        var why = GuardUse.BranchOn(decision.LineText, decision.At.Line);
        foreach (var (guard, expression) in named)
        {
            // the most specific value named: self.training, not self
            if (named.Any(o => o.Expression!.Length > expression!.Length && o.Expression.StartsWith(expression, StringComparison.Ordinal))) continue;
            guards.Use(guard, Location(decision.At), why);
        }
    }

    /// <summary>A source as the Python expression it reads (L['self'].fc.weight is self.fc.weight), or null.</summary>
    private static string? Expression(Source source) => source switch
    {
        LocalSource l => l.Name,
        GlobalSource g => g.Name,
        AttrSource a when Expression(a.Base) is { } b => $"{b}.{a.Attr}",
        ItemSource i when Expression(i.Base) is { } b => $"{b}[{i.Index}]",
        _ => null,
    };

    private static bool Mentions(string text, string expression)
    {
        for (var i = text.IndexOf(expression, StringComparison.Ordinal); i >= 0; i = text.IndexOf(expression, i + 1, StringComparison.Ordinal))
        {
            var end = i + expression.Length;
            var before = i == 0 || !(char.IsLetterOrDigit(text[i - 1]) || text[i - 1] is '_' or '.');
            var after = end == text.Length || !(char.IsLetterOrDigit(text[end]) || text[end] == '_');
            if (before && after) return true;
        }
        return false;
    }

    private static Source Source(InputPath path) => path switch
    {
        InputPath.Local l => new LocalSource(l.Name),
        InputPath.Global g => new GlobalSource(g.Name),
        InputPath.Attr a => new AttrSource(Source(a.Base), a.Name),
        InputPath.Item i => new ItemSource(Source(i.Base), i.Index),
        InputPath.Key k => new KeySource(Source(k.Base), k.Name),
        _ => throw new ArgumentOutOfRangeException(nameof(path), path, null),
    };

    private static ValueSpec Spec(ResultSpec spec) => spec switch
    {
        ResultSpec.Output o => new ValueSpec.Output(o.Index),
        ResultSpec.Constant c => new ValueSpec.Constant(c.Value),
        ResultSpec.Tuple t => new ValueSpec.Tuple(t.Items.Select(Spec).ToList()) { NamedType = t.NamedType },
        ResultSpec.List l => new ValueSpec.List(l.Items.Select(Spec).ToList()),
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec, null),
    };
}
