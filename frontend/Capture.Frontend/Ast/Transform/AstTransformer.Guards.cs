namespace Capture.Frontend;

// What the capture relied on becomes guards, the same kinds the bytecode path installs, each
// explained by the line that made the capture rely on it; the values read from outside the
// function are named by their sources, as the bytecode path names them (L['x'], G['W'], L['self'].fc.weight).
public sealed partial class AstTransformer
{
    /// <summary>A test on Python values decided at capture: the graph holds only the branch taken.</summary>
    private sealed record CaptureDecision(Span At, string Kind, string? LineText, bool Taken);

    /// <summary>Guards what the capture relies on about <paramref name="source"/> (the first reliance on a source is the one kept).</summary>
    private void Assume(Source source, params Guard[] guards)
    {
        if (!_assumed.Add(source.ToString())) return;
        _guards.Site = _current is { } at ? Location(at) : null;
        foreach (var guard in guards) _guards.Add(guard);
    }

    /// <summary>A module container (ModuleList, Sequential) iterated or measured: its length is guarded (an append recompiles).</summary>
    private long AssumeLength(ObjVal container)
    {
        var length = container.Object.Length;
        if (container.Path is { } path)
            _guards.Add(new LengthMatchGuard(path, length), _current is { } at ? Location(at) : null);
        return length;
    }

    /// <summary>This nn.Module, in its current training mode.</summary>
    private void AssumeModule(Source source, PyObject module)
    {
        if (!_assumed.Add(source.ToString())) return;
        _guards.Site = _current is { } at ? Location(at) : null;
        _guards.Add(new IdMatchGuard(source, module.NewReference(), IdMatchGuard.Describe(module)));
        using var training = module.GetAttr("training");
        _guards.Add(new ConstantMatchGuard(new AttrSource(source, "training"), Py.Bool(training.IsTrue())),
            $"uses the module {source}, captured in its current training mode");
    }

    private static SourceLocation Location(Span at) => new(at.File, at.Line, at.Column);

    /// <summary>
    /// A test decided at capture explains the guards on the values its condition names: `if
    /// self.training` the guard on L['self'].training (not the one on self), `if x.shape[0] > 2` the
    /// tensor match of x.
    /// </summary>
    private void ExplainDecision(CaptureDecision decision)
    {
        var condition = decision.LineText ?? "";
        var named = _guards.Guards
            .Select(g => (Guard: g, Expression: g is TensorMatchGuard or ConstantMatchGuard or LengthMatchGuard or IdMatchGuard ? Expression(g.Subject!) : null))
            .Where(p => p.Expression is { } e && Mentions(condition, e))
            .ToList();
        var why = GuardUse.BranchOn(decision.LineText, decision.At.Line);
        foreach (var (guard, expression) in named)
        {
            // the most specific value named: self.training, not self
            if (named.Any(o => o.Expression!.Length > expression!.Length && o.Expression.StartsWith(expression, StringComparison.Ordinal))) continue;
            _guards.Use(guard, Location(decision.At), why);
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
}
