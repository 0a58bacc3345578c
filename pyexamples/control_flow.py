"""Control flow, captured both ways. The AST path keeps `if`/`while` on tensors in one graph (cond and
while_loop nodes); the bytecode path breaks the graph there, but runs anything Python can, where the
AST path refuses with a diagnostic. `./capture compare pyexamples/control_flow.py` shows them side by
side; `./capture run pyexamples/control_flow.py` prints one line per example."""

import torch

import capture


def clip_by_norm(x, max_norm: float = 1.0):
    # data-dependent branch: AST keeps one graph with a cond; bytecode breaks at the `if`
    norm = (x * x).sum().sqrt()
    if norm > max_norm:
        x = x * (max_norm / norm)
    return x.tanh()


def grow_until(x, limit):
    # data-dependent while loop: AST keeps a while_loop; bytecode breaks in every iteration
    while x.abs().sum() < limit:
        x = x * 2 + 0.1
    return x


def by_shape(x):
    # shape-dependent branch: both paths decide it at capture time (and guard the shape)
    if x.shape[-1] > 4:
        return x[..., :4] * 2
    return x.relu()


def unrolled(x, weights):
    # loops over Python values: both paths unroll them
    for i, w in enumerate(weights):
        x = x * w + i
    return x


def progress(x):
    # print runs every call under the bytecode path (a graph break); the AST path refuses it
    y = torch.sigmoid(x) * 2
    print("  (progress: halfway)")
    return y - 1


def first_positive_row(x):
    # .item() makes a Python number: the bytecode path breaks on it; the AST path refuses it
    index = int((x.sum(dim=1) > 0).long().argmax().item())
    return x[index] * 2


EXAMPLES = {
    "clip_by_norm": lambda: (torch.randn(8) * 3,),
    "grow_until": lambda: (torch.rand(4) + 0.1, 50.0),
    "by_shape": lambda: (torch.randn(2, 6),),
    "unrolled": lambda: (torch.randn(3), (0.5, 2.0, 1.5)),
    "progress": lambda: (torch.randn(4),),
    "first_positive_row": lambda: (torch.randn(5, 3),),
}


def _summary(side):
    if side["diagnostics"]:
        d = side["diagnostics"][0]
        return f"refused: {d['construct']} at line {d['lineno']}"
    flow = ", ".join(f"{c['kind']} (line {c['lineno']})" for c in side["control_flow"]) or "none"
    breaks = ", ".join(f"line {b['lineno']}" for b in side["graph_breaks"]) or "none"
    return (f"{side['graph_count']} graph(s), control flow kept: {flow}, breaks: {breaks}, "
            f"matches eager: {side['matches_eager']}")


if __name__ == "__main__":
    torch.manual_seed(0)
    for name, make in EXAMPLES.items():
        result = capture.compare(globals()[name], *make()).to_dict()
        print(f"{name}:")
        print(f"  ast:      {_summary(result['ast'])}")
        print(f"  bytecode: {_summary(result['bytecode'])}")
