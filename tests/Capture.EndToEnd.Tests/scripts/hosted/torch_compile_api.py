"""A script written for torch.compile, with `torch.compile` replaced by `capture.compile` and
`torch._dynamo` by `capture`: every mode name, options, a callable backend counting FX nodes,
disable, allow_in_graph, explain(fn)(*args) and config. Exits non-zero on any mismatch; prints `ok` at the end."""
import warnings

import torch

import capture

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 4)).eval()
x = torch.randn(8, 16)
with torch.no_grad():
    expected = model(x)
    for mode in (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"):
        assert torch.allclose(capture.compile(model, mode=mode)(x), expected, atol=1e-5), mode
    assert torch.allclose(capture.compile(model, backend="inductor")(x), expected, atol=1e-5)
    assert torch.allclose(capture.compile(model, backend="aot_eager", fullgraph=True, dynamic=False)(x), expected, atol=1e-5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = capture.compile(model, options={"freezing": False, "epilogue_fusion": True})(x)
    assert torch.allclose(out, expected, atol=1e-5)
    assert any("epilogue_fusion" in str(w.message) for w in caught), [str(w.message) for w in caught]

nodes = []


def counting_backend(gm, example_inputs):
    assert isinstance(gm, torch.fx.GraphModule), type(gm)
    assert all(isinstance(t, torch.Tensor) for t in example_inputs)
    nodes.append(len(gm.graph.nodes))
    gm.graph.lint()
    return gm.forward


def f(a, b):
    c = torch.sin(a) + b.relu()
    return c * c.sum(dim=1, keepdim=True), torch.cat([a, b], 0)


a, b = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
out, ref = capture.compile(f, backend=counting_backend)(a, b), f(a, b)
assert all(torch.allclose(o, r) for o, r in zip(out, ref))
# placeholders a, b; sin, relu, add, sum, mul, cat; output
assert nodes == [9], nodes
out[0].sum().backward()
grad, a.grad = a.grad.clone(), None
ref[0].sum().backward()
assert torch.allclose(grad, a.grad)


@capture.disable
def host_side(t):
    return t.tolist()


def g(t):
    t = t * 2
    return t + len(host_side(t))


assert torch.equal(capture.compile(g)(torch.ones(3)), g(torch.ones(3)))
explained = capture.explain(g)(torch.ones(3))
assert explained.graph_break_count == 1, [b.reason for b in explained.break_reasons]
assert "capture.disable" in explained.break_reasons[0].reason
assert capture.compile(g, disable=True) is g

def scaled_tanh(x, w):
    return torch.tanh(x @ w) * 2


capture.allow_in_graph(scaled_tanh)


def uses_allowed(x, w):
    return scaled_tanh(x.relu(), w).sum(1) + 1


nodes.clear()
x, w = torch.randn(4, 5, requires_grad=True), torch.randn(5, 3)
for backend in ("roslyn", "llvm", counting_backend):
    out, ref = capture.compile(uses_allowed, backend=backend)(x, w), uses_allowed(x, w)
    assert torch.allclose(out, ref)
    out.sum().backward()
    grad, x.grad = x.grad.clone(), None
    ref.sum().backward()
    assert torch.allclose(grad, x.grad)
    x.grad = None
# x, w; relu, scaled_tanh (one node, not inlined), sum, add; output
assert nodes == [7], nodes
explained = capture.explain(uses_allowed)(x, w)
assert explained.graph_break_count == 0 and "__main__.scaled_tanh" in explained.ops_per_graph[0], explained.ops_per_graph


def make_local():
    def local(t):
        return t
    return local


try:
    capture.allow_in_graph(make_local())
    raise AssertionError("a local function was allowed in graphs")
except capture.NotSupported as error:
    assert "module level" in str(error)

capture.config.cache_size_limit = 3
assert capture.config.cache_size_limit == 3
capture.config.cache_size_limit = 8
print("ok")
