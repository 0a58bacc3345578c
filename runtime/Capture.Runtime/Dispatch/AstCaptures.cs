using Capture.Bytecode;
using Capture.Frontend;
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
                    guards.Add(new ConstantMatchGuard(new AttrSource(source, "training"), Py.Bool(m.Training)));
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
        return new CaptureResult(0, capture.Graph, capture.Inputs.Select(Source).ToList(), guards, new ExitPlan.Return(Spec(capture.Result)));
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
