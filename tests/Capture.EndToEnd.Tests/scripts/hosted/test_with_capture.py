"""A pytest file that imports capture, run by plain `python3.11 -m pytest` (and `capture run -m pytest`)."""
import torch

import capture


def block(x, w):
    return torch.softmax(x @ w, dim=-1) * 2


def test_compiled_function_matches_eager():
    x, w = torch.randn(4, 8), torch.randn(8, 5)
    assert torch.allclose(capture.compile(block)(x, w), block(x, w), atol=1e-6)


def test_explain_counts_one_graph():
    report = capture.explain(block)(torch.randn(2, 3), torch.randn(3, 3))
    assert report.graph_count == 1 and report.graph_break_count == 0


def test_a_user_error_is_a_python_exception():
    with __import__("pytest").raises(RuntimeError):
        capture.compile(block)(torch.randn(2, 3), torch.randn(4, 3))


def test_logs_go_to_pythons_stderr(capsys):
    # capture.config.logs writes through sys.stderr: pytest's capture (and Jupyter) sees it
    capture.config.logs = "graph"
    try:
        capture.compile(lambda x: x.cos() * 3)(torch.randn(5))
    finally:
        capture.config.logs = ""
    assert "[capture:graph]" in capsys.readouterr().err
