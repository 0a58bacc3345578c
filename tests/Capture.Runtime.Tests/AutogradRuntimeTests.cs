using Capture.Python;

namespace Capture.Runtime.Tests;

// The autograd runtime as users meet it: compiled backward under grad mode, an inference graph under
// torch.no_grad(), recompiles when grad mode or an input's requires_grad changes, prod's gradient
// at zeros, and a clear fallback to torch's autograd where a graph cannot be differentiated.
[Collection("Python")]
public sealed class AutogradRuntimeTests
{
    private static PyObject Run(string backend, string source) =>
        Py.Exec($"import capture, torch\nBACKEND = {backend}\ncapture.reset()\n" + source);

    public static TheoryData<string> Backends => new() { "'eager'", "'roslyn'", "'llvm'" };

    [Theory]
    [MemberData(nameof(Backends))]
    public void GradModeAndRequiresGradSelectTheGraph(string backend)
    {
        using var gil = Interpreter.Gil();
        using var ns = Run(backend, """
            def f(x, w):
                return (x @ w).relu().sum()
            cf = capture.compile(f, backend=BACKEND)
            g = torch.Generator().manual_seed(0)
            x = torch.randn(4, 3, generator=g)
            w = torch.randn(3, 5, generator=g, requires_grad=True)
            y = cf(x, w)
            y.backward()
            compiled_grad = w.grad.clone()
            w.grad = None
            f(x, w).backward()
            grad_ok = torch.allclose(compiled_grad, w.grad, rtol=1e-4, atol=1e-6)
            backward_kind = type(y.grad_fn).__name__
            with torch.no_grad():
                y2 = cf(x, w)
            inference_ok = y2.grad_fn is None and not y2.requires_grad and torch.allclose(y2, y.detach())
            y3 = cf(x, w.detach())
            detached_ok = y3.grad_fn is None and torch.allclose(y3, y.detach())
            reasons = capture._native.recompile_reasons()
            """);
        Assert.True(ns.GetItem("grad_ok").ToBoolean());
        Assert.Equal("CompiledGraphFunctionBackward", ns.GetItem("backward_kind").AsString());
        Assert.True(ns.GetItem("inference_ok").ToBoolean());
        Assert.True(ns.GetItem("detached_ok").ToBoolean());
        var reasons = ns.GetItem("reasons").Repr();
        Assert.Contains("grad", reasons);
        Assert.Contains("requires_grad mismatch", reasons);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ProdGradientAtZerosMatchesTorch(string backend)
    {
        using var gil = Interpreter.Gil();
        using var ns = Run(backend, """
            def p(x):
                return (torch.prod(x, 1) * torch.tensor([1.0, 2.0, 3.0])).sum() + torch.prod(x) + torch.prod(x, 0, keepdim=True).sum()
            x = torch.tensor([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.5, 2.0, -3.0]], requires_grad=True)
            capture.compile(p, backend=BACKEND)(x).backward()
            ours = x.grad.clone()
            x.grad = None
            p(x).backward()
            same = torch.allclose(ours, x.grad)
            text = f"{ours.tolist()} vs {x.grad.tolist()}"
            """);
        Assert.True(ns.GetItem("same").ToBoolean(), ns.GetItem("text").AsString());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void OpsOutsideTheRegistryAreDifferentiatedByAPerNodeAutogradCall(string backend)
    {
        using var gil = Interpreter.Gil();
        using var ns = Run(backend, """
            def d(x, w):
                v, i = torch.cumsum(x * 2, 0).square().topk(2, dim=1)
                return (v @ w).sum() + x.movedim(0, 1).logcumsumexp(0).sum()
            g = torch.Generator().manual_seed(0)
            x = torch.randn(4, 5, generator=g, requires_grad=True)
            w = torch.randn(2, 3, generator=g, requires_grad=True)
            explained = capture.explain(d, x, w, backend=BACKEND)
            status = explained.autograd[0]["status"]
            y = capture.compile(d, backend=BACKEND)(x, w)
            y.backward()
            ours = (x.grad.clone(), w.grad.clone())
            x.grad = w.grad = None
            d(x, w).backward()
            same = all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(ours, (x.grad, w.grad)))
            kind = type(y.grad_fn).__name__
            """);
        Assert.Contains("forward/backward split", ns.GetItem("status").AsString());
        Assert.Equal("CompiledGraphFunctionBackward", ns.GetItem("kind").AsString());
        Assert.True(ns.GetItem("same").ToBoolean());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void AnOpThatWritesItsArgumentsIsNeverRunAgainForAGradient(string backend)
    {
        // F.batch_norm in training mode calls torch.batch_norm, which writes running_mean and
        // running_var without saying so (torch 1.13's schema does not mark them, its kernel does not
        // bump their versions): a per-node gradient call would update them a second time
        using var gil = Interpreter.Gil();
        using var ns = Run(backend, """
            import torch.nn.functional as F
            def bn(x, w, mean, var):
                return F.batch_norm(x * 2, mean, var, w, None, training=True).sum()
            torch.manual_seed(0)
            x = torch.randn(4, 3, requires_grad=True)
            w = torch.ones(3, requires_grad=True)
            ours, eager = (torch.zeros(3), torch.ones(3)), (torch.zeros(3), torch.ones(3))
            compiled = capture.compile(bn, backend=BACKEND)
            for _ in range(2):
                compiled(x, w, *ours).backward()
                bn(x, w, *eager).backward()
            same = all(torch.allclose(a, b) for a, b in zip(ours, eager))
            text = f"{ours} vs {eager}"
            """);
        Assert.True(ns.GetItem("same").ToBoolean(), ns.GetItem("text").AsString());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ARandomOpOutsideTheRegistrySaysWhyAndTorchDifferentiatesIt(string backend)
    {
        using var gil = Interpreter.Gil();
        using var ns = Run(backend, """
            def r(x):
                return (torch.normal(x, 0.5) * x).sum()
            x = torch.randn(6, requires_grad=True)
            explained = capture.explain(r, x, backend=BACKEND)
            status = explained.autograd[0]["status"]
            torch.manual_seed(3)
            y = capture.compile(r, backend=BACKEND)(x)
            y.backward()
            ours = (y.detach().clone(), x.grad.clone())
            x.grad = None
            torch.manual_seed(3)
            e = r(x)
            e.backward()
            same = torch.equal(ours[0], e.detach()) and torch.allclose(ours[1], x.grad)
            """);
        Assert.Contains("torch.normal", ns.GetItem("status").AsString());
        Assert.Contains("draws random numbers", ns.GetItem("status").AsString());
        Assert.True(ns.GetItem("same").ToBoolean());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void InPlaceOpsOnIntermediatesAreFunctionalizedAndWritesIntoInputsAreLeftToTorch(string backend)
    {
        using var gil = Interpreter.Gil();
        using var ns = Run(backend, """
            def inplace(x, w):
                y = x @ w
                y.mul_(3)
                y.add_(x.sum())
                y.relu_()
                return y.sum()
            g = torch.Generator().manual_seed(1)
            x = torch.randn(3, 4, generator=g, requires_grad=True)
            w = torch.randn(4, 2, generator=g, requires_grad=True)
            status = capture.explain(inplace, x, w, backend=BACKEND).autograd[0]["status"]
            y = capture.compile(inplace, backend=BACKEND)(x, w)
            y.backward()
            ours = (x.grad.clone(), w.grad.clone())
            x.grad = w.grad = None
            inplace(x, w).backward()
            same = all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(ours, (x.grad, w.grad)))
            kind = type(y.grad_fn).__name__

            def into_input(x, w):
                x.mul_(2)
                return (x @ w).sum()
            x2 = torch.randn(3, 4, generator=g)
            w2 = torch.randn(4, 2, generator=g, requires_grad=True)
            refused = capture.explain(into_input, x2.clone(), w2, backend=BACKEND).autograd[0]["status"]
            capture.compile(into_input, backend=BACKEND)(x2, w2).backward()
            mutated = x2.clone()
            """);
        Assert.StartsWith("forward/backward split", ns.GetItem("status").AsString());
        Assert.True(ns.GetItem("same").ToBoolean());
        Assert.Equal("CompiledGraphFunctionBackward", ns.GetItem("kind").AsString());
        Assert.Contains("writes into the input x in place", ns.GetItem("refused").AsString());
    }
}
