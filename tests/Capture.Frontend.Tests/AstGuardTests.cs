using Capture.Python;

namespace Capture.Frontend.Tests;

// An AST capture is reused only while what it assumed still holds: shapes, Python values it
// decided on (arguments and globals), the modules it read, aliasing of inputs.
[Collection("Python")]
public sealed class AstGuardTests
{
    private const string Suite = """
        import torch

        THRESHOLD = 2

        def decided(x, n):
            if x.shape[0] > THRESHOLD:
                return x * n
            return x - n

        def aliased(a, b):
            a.add_(1)
            return a + b

        def check():
            # every call is compared with eager on fresh copies
            compiled = capture.compile(decided, mode="ast", backend=BACKEND)
            global THRESHOLD
            results = []
            for x, n, threshold in [(torch.ones(3), 2, 2), (torch.ones(3), 2, 2), (torch.ones(3), 5, 2), (torch.ones(4), 5, 2),
                                    (torch.ones(3), 2, 5)]:
                THRESHOLD = threshold
                results.append(same(compiled(x, n), decided(x, n)))
            aliased_c = capture.compile(aliased, mode="ast", backend=BACKEND)
            t = torch.zeros(2)
            u, v = torch.zeros(2), torch.zeros(2)
            results.append(same(aliased_c(t, t), torch.full((2,), 2.0)))
            results.append(same(aliased_c(u, v), torch.ones(2)))
            return results, __import__("_capture_native").recompile_reasons()
        """;

    public static IEnumerable<object[]> Backends => FrontendFixture.PerBackend();

    [Theory]
    [MemberData(nameof(Backends))]
    public void ChangedInputsRecaptureWithTheFailedGuardAsReason(string backend)
    {
        var (ns, _) = FrontendFixture.Load(Suite, backend);
        using (ns)
        using (Interpreter.Gil())
        {
            using (var reset = Py.Eval("capture.reset()", ns)) { }
            using var outcome = Py.Eval("check()", ns);
            using var results = outcome.GetItem(0);
            using var reasons = outcome.GetItem(1);
            Assert.All(results.ToItems(), r => Assert.True(r.ToBoolean()));
            var texts = reasons.ToItems().Select(r => { using (r) return r.AsString(); }).ToList();
            Assert.Equal(["decided: L['n'] changed: expected 2, actual 5", "decided: tensor 'L['x']' size mismatch at index 0: expected 3, actual 4",
                "decided: G['THRESHOLD'] changed: expected 2, actual 5", "aliased: L['b'] is no longer the same object as L['a']"], texts);
        }
    }
}
