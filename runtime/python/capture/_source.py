"""A function's source as the AST path reads it: `inspect.getsourcelines`, CPython's `ast`, and the
tree as JSON in one call, positions moved back to the user's file (C#: frontend/.../SourceReader.cs)."""

import ast
import inspect
import json
import sys
import textwrap

_OPS = (ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_DEPTH = 20000  # recursion while the tree becomes JSON; C# reads as deep (SourceReader.MaxDepth)


def _const(v):
    if v is None: return "None", "None"
    if v is Ellipsis: return "Ellipsis", "..."
    if isinstance(v, bool): return "Bool", repr(v)
    if isinstance(v, int): return "Int", repr(v)
    if isinstance(v, float): return "Float", repr(v)
    if isinstance(v, str): return "Str", v
    return "Other", repr(v)


def read(fn):
    # the function's own code, never what it wraps: inspect.getsourcelines(fn) follows __wrapped__, and a
    # functools.wraps decorator's body (`return fn(*a, **k) * 2`) would be read as the wrapped function's
    target = getattr(fn, "__code__", fn)
    try:
        lines, first = inspect.getsourcelines(target)
        file = inspect.getsourcefile(target) or fn.__code__.co_filename
    except (OSError, TypeError) as e:
        return json.dumps({"error": str(e), "file": getattr(getattr(fn, "__code__", None), "co_filename", "<unknown>"),
                           "line": getattr(getattr(fn, "__code__", None), "co_firstlineno", 0)})
    first = max(first, 1)
    source = "".join(lines)
    dedented = textwrap.dedent(source)
    indent = len(lines[0]) - len(lines[0].lstrip()) if dedented != source else 0
    try:
        tree = ast.parse(dedented)
    except SyntaxError as e:
        return json.dumps({"error": f"syntax error: {e.msg}", "file": file, "line": first - 1 + (e.lineno or 1),
                           "col": (e.offset or 1) + indent})

    def conv(node):
        if isinstance(node, list):
            return [conv(n) for n in node]
        if not isinstance(node, ast.AST):
            return node
        out = {"_t": type(node).__name__}
        if hasattr(node, "lineno"):
            out["_l"] = node.lineno + first - 1
            out["_c"] = node.col_offset + indent + 1
        for name, value in ast.iter_fields(node):
            if isinstance(node, ast.Constant) and name == "value":
                out["ckind"], out["ctext"] = _const(value)
            elif name == "ctx":
                continue
            elif isinstance(value, _OPS):
                out[name] = type(value).__name__  # operators: Add, Lt, And, USub...
            elif isinstance(value, list) and value and isinstance(value[0], _OPS):
                out[name] = [type(v).__name__ for v in value]
            else:
                out[name] = conv(value)
        return out

    body = tree.body[0] if len(tree.body) == 1 else None
    # a long chain (x.relu().relu()... or x + x + ... five hundred times) nests the tree as deep: the
    # walk and the JSON encoder recurse once per level
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _DEPTH))
    try:
        return json.dumps({"file": file, "first": first, "lines": lines, "tree": conv(body) if body is not None else None,
                           "kind": type(body).__name__ if body is not None else "Module"})
    except RecursionError:
        return json.dumps({"error": f"the function's expressions nest more than {_DEPTH} levels deep", "deep": True, "file": file, "line": first})
    finally:
        sys.setrecursionlimit(limit)
