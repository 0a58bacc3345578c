"""Functions: Python control flow, calls, closures, builtins and the opcodes ordinary code compiles to."""

import collections.abc as abc
import functools
import itertools
import math
import operator

import torch
import torch.nn.functional as F

from harness import case

SCALE = 3.0
OFFSETS = (1, 2, 3)


def two():
    return torch.randn(4, 5), torch.randn(4, 5)


@case()
def constant_if(x):
    if SCALE > 2:
        return x * SCALE
    return x


@case()
def shape_branch(x):
    if x.shape[0] > 2:
        return x.sum(0)
    return x.sum(1)


@case()
def for_over_range(x):
    for i in range(3):
        x = x * 2 + i
    return x


@case()
def while_loop_on_constants(x):
    n = 0
    while n < 4:
        x = x + n
        n += 1
    return x


@case()
def nested_function(x):
    def inner(y, k=2):
        return y * k
    return inner(x) + inner(x, k=3)


@case()
def closure_over_tensor(x):
    w = x.sum(0)

    def add(y):
        return y + w
    return add(x)


@case()
def closure_mutated_nonlocal(x):
    total = 0

    def bump(v):
        nonlocal total
        total += v
    bump(2)
    bump(3)
    return x * total


@case()
def lambda_call(x):
    f = lambda t, s=2: t * s + 1
    return f(x), f(x, 5)


@case(args=lambda: (torch.randn(3), torch.randn(3), torch.randn(3)))
def star_args(*xs):
    return sum(xs[1:], xs[0])


@case(args=lambda: (torch.randn(3),))
def keyword_only(x, *, scale=2.0, shift=1.0):
    return x * scale + shift


def _helper(a, b=1, *rest, c=3, **extra):
    return a * b + c + sum(rest) + sum(extra.values())


@case()
def call_with_star_star(x):
    kw = {"c": 2, "d": 4}
    return _helper(x, 2, 5, 6, **kw)


@case()
def call_with_star_tuple(x):
    args = (x, 3)
    return _helper(*args)


@case()
def defaults_applied(x):
    return _helper(x)


@case()
def recursion_bounded(x):
    def down(t, n):
        return t if n == 0 else down(t * 2, n - 1)
    return down(x, 3)


@case()
def fstring_on_constants(x):
    name = f"layer_{2}_{SCALE:.1f}"
    return x * len(name)


@case()
def string_methods(x):
    s = "a,b,c".split(",")
    return x * len(s) + len("-".join(s).upper())


@case()
def math_functions(x):
    return x * math.sqrt(16) + math.pi - math.log(math.e) + math.floor(2.7)


@case()
def global_constant_tuple(x):
    return x + OFFSETS[1] * len(OFFSETS)


@case()
def ternary(x):
    y = x * 2 if x.dim() == 2 else x
    return y


@case()
def walrus(x):
    if (n := x.shape[1]) > 3:
        return x * n
    return x


@case()
def chained_comparison(x):
    n = x.shape[0]
    return x * (1 if 0 < n < 10 else 2)


@case()
def boolean_ops(x):
    a, b = x.dim() == 2, x.shape[0] == 4
    return x * (a and b) + x * (a or not b)


@case()
def unpack_ex(x):
    first, *middle, last = [x, x * 2, x * 3, x * 4]
    return first + last + len(middle)


@case()
def unpack_nested(x):
    (a, b), c = (x, x + 1), x + 2
    return a * b * c


@case()
def import_inside(x):
    import math as m
    from operator import mul
    return mul(x, m.sqrt(4))


@case()
def try_except_no_raise(x):
    try:
        y = x + 1
    except ValueError:
        y = x - 1
    return y


@case()
def try_finally(x):
    try:
        y = x * 2
    finally:
        z = 1
    return y + z


@case()
def isinstance_checks(x):
    out = x
    if isinstance(x, torch.Tensor):
        out = out + 1
    if isinstance(SCALE, (int, float)):
        out = out * 2
    if not isinstance(OFFSETS, list):
        out = out - 1
    return out


@case()
def issubclass_check(x):
    return x * (2 if issubclass(torch.nn.Linear, torch.nn.Module) else 3)


@case()
def callable_check(x):
    return x * (2 if callable(_helper) else 3) + (1 if callable(SCALE) else 0)


@case()
def builtins_min_max(x):
    return x * max(2, 3, 1) - min([4, 5]) + abs(-2) + round(2.6)


@case()
def builtin_sum_any_all(x):
    vals = [1, 2, 3]
    return x * sum(vals) + any(v > 2 for v in vals) + all(v > 0 for v in vals)


@case()
def map_filter(x):
    vals = list(map(lambda v: v * 2, filter(lambda v: v % 2 == 1, range(6))))
    return x * sum(vals)


@case()
def sorted_reversed(x):
    vals = sorted([3, 1, 2], reverse=True)
    return x * vals[0] + list(reversed(vals))[0]


@case()
def enumerate_zip(x):
    out = x
    for i, (a, b) in enumerate(zip([1, 2], [3, 4])):
        out = out + i * a * b
    return out


@case()
def enumerate_tensors(x):
    parts = x.split(2, dim=1)
    out = 0
    for i, p in enumerate(parts):
        out = out + p.sum() * (i + 1)
    return out


@case()
def zip_tensors(x):
    a, b = x.chunk(2, 0)
    return [p * q for p, q in zip(a, b)]


@case()
def functools_partial(x):
    scale = functools.partial(torch.mul, other=3.0)
    return scale(x)


@case()
def functools_partial_user(x):
    f = functools.partial(_helper, b=2)
    return f(x)


@case()
def functools_reduce(x):
    return functools.reduce(operator.add, [x, x * 2, x * 3])


@case()
def functools_reduce_initial(x):
    return functools.reduce(lambda a, b: a * b, [1, 2, 3], x)


@case()
def itertools_chain(x):
    out = x
    for v in itertools.chain([1, 2], (3,)):
        out = out + v
    return out


@case()
def itertools_islice(x):
    return sum(itertools.islice(range(10), 2, 5)) * x


@case()
def itertools_product(x):
    out = x
    for a, b in itertools.product([1, 2], [3]):
        out = out + a * b
    return out


@case()
def iter_next(x):
    it = iter([x, x * 2, x * 3])
    first = next(it)
    second = next(it)
    return first + second


@case()
def next_with_default(x):
    it = iter([])
    return x + next(it, 5)


@case()
def list_comprehension(x):
    return torch.stack([x[i] * i for i in range(x.shape[0])])


@case()
def dict_comprehension(x):
    d = {f"k{i}": x * i for i in range(3)}
    return d["k2"] - d["k1"]


@case()
def generator_expression_sum(x):
    return sum(x[i] for i in range(3))


@case()
def nested_comprehension(x):
    return [[x[i, j] for j in range(2)] for i in range(2)]


@case()
def operator_module(x):
    return operator.mul(operator.add(x, 1), 2), operator.neg(x), operator.getitem(x, 0)


@case()
def getattr_hasattr(x):
    f = getattr(torch, "relu")
    return f(x) * (2 if hasattr(x, "shape") else 1) * (1 if hasattr(x, "missing_thing") else 3)


@case()
def getattr_default(x):
    return x * getattr(torch, "not_a_function_name", 4)


@case()
def with_no_grad(x):
    with torch.no_grad():
        y = x * 2
    return y + 1


@case()
def with_enable_grad(x):
    with torch.no_grad():
        with torch.enable_grad():
            y = x * 2
    return y


@case(grad=True)
def set_grad_enabled(x):
    with torch.set_grad_enabled(False):
        y = x * 2
    return y + x


@torch.no_grad()
def _no_grad_helper(x):
    return x * 2


@case(grad=True)
def no_grad_decorated_helper(x):
    return _no_grad_helper(x) + x


@case()
def assert_on_constant(x):
    assert x.dim() == 2, "expected a matrix"
    return x + 1


@case()
def torch_assert_on_shape(x):
    torch._assert(x.shape[1] == 5, "five columns")
    return x * 2


@case()
def is_scripting_branch(x):
    if torch.jit.is_scripting():
        return x
    return x * 2


@torch.jit.script_if_tracing
def _scripted_if_tracing(x):
    return x * 3


@case()
def script_if_tracing_call(x):
    return _scripted_if_tracing(x) + 1


@case()
def del_local(x):
    y = x * 2
    del y
    return x


@case()
def augmented_assign(x):
    y = x.clone()
    y += 1
    y *= 2
    y -= x
    y /= 3
    return y


@case()
def int_float_conversions(x):
    n = int(x.shape[0] / 2)
    f = float(x.shape[1])
    return x * n + f


@case()
def slice_objects(x):
    s = slice(1, 3)
    return x[s], x[:, slice(None, None, 2)]


@case()
def ellipsis_index(x):
    return x[..., 1], x[None, ..., None]


@case()
def divmod_pow(x):
    q, r = divmod(7, 3)
    return x * q + r + pow(2, 3)


@case()
def bool_len_tensor(x):
    return x * len(x)


@case()
def range_len_step(x):
    return x * len(range(0, 10, 3))


@case()
def str_format(x):
    s = "{}-{}".format(1, "a")
    return x * len(s)


@case()
def nested_closures(x):
    def outer(k):
        def inner(t):
            return t * k
        return inner
    return outer(2)(x) + outer(3)(x)


@case()
def functools_wraps_decorator(x):
    def deco(fn):
        @functools.wraps(fn)
        def wrapped(*a, **kw):
            return fn(*a, **kw) + 1
        return wrapped

    @deco
    def f(t):
        return t * 2
    return f(x)


@case()
def early_return_in_loop(x):
    for i in range(5):
        if i == 2:
            return x * i
    return x


@case()
def break_continue(x):
    out = x
    for i in range(6):
        if i % 2 == 0:
            continue
        if i > 4:
            break
        out = out + i
    return out


@case()
def for_else(x):
    for i in range(3):
        if i == 10:
            break
    else:
        x = x + 1
    return x


@case()
def in_operator(x):
    keys = ("a", "b")
    return x * (2 if "a" in keys else 1) * (3 if 4 not in [1, 2] else 1)


@case()
def is_none_checks(x, bias=None):
    if bias is None:
        bias = torch.zeros(())
    return x + bias


@case()
def identity_compare(x):
    y = x
    return x * (2 if y is x else 1)


@case(args=lambda: (torch.randn(4, 5), 3))
def int_argument(x, n):
    return x * n + n


@case(args=lambda: (torch.randn(4, 5), 2.5))
def float_argument(x, s):
    return x * s


@case(args=lambda: (torch.randn(4, 5), "relu"))
def string_argument(x, kind):
    return torch.relu(x) if kind == "relu" else torch.tanh(x)


@case(args=lambda: (torch.randn(4, 5), True))
def bool_argument(x, flag):
    return x * 2 if flag else x


@case(args=lambda: (torch.randn(4, 5), None))
def none_argument(x, mask):
    return x if mask is None else x * mask


@case(grad=True)
def gradient_through_python_loop(x):
    out = x
    for _ in range(3):
        out = torch.tanh(out) * 1.5
    return out.sum()


@case(grad=True, args=two)
def gradient_two_inputs(x, y):
    return (x * y + x.exp()).mean()


@case()
def hash_of_constants(x):
    return x * (hash(3) % 5)


@case()
def type_of_value(x):
    return x * (2 if type(SCALE) is float else 1)


@case()
def id_free_identity(x):
    a = [1]
    b = a
    return x * (2 if a is b else 1)


@case()
def chr_ord(x):
    return x * (ord("b") - ord("a"))


@case()
def lambda_sort_key(x):
    vals = sorted([(2, "b"), (1, "a")], key=lambda p: p[0])
    return x * vals[0][0]


@case()
def math_inf_nan_constants(x):
    return x.clamp(max=math.inf) * (1 if math.isinf(math.inf) else 0)


@case()
def global_function_value(x):
    return F.relu(x) + torch.nn.functional.gelu(x)


@case()
def method_of_constant(x):
    return x * "abc".count("b") * (1).bit_length()


@case()
def numeric_tower(x):
    return x * complex(1, 0).real + (3).__add__(1)


@case()
def multiple_returns_tuple(x):
    return x, x * 2, (x * 3, [x * 4])


@case()
def return_dict(x):
    return {"a": x, "b": x + 1}


@case()
def return_none(x):
    x.sum()
    return None


@case()
def return_python_scalar(x):
    return x.shape[0] * 2


@case()
def functools_wraps_metadata(x):
    def deco(fn):
        @functools.wraps(fn)
        def wrapped(t):
            return fn(t) * 2
        return wrapped

    @deco
    def scaled(t):
        """Scales."""
        return t + 1
    return scaled(x), scaled.__name__, scaled.__doc__, scaled.__wrapped__(x)


@case()
def yield_from_list_and_return(x):
    def inner(t):
        yield t
        return 5

    def outer(t):
        got = yield from inner(t)
        yield from [t * got, t - got]
    return list(outer(x))


@case()
def generator_function(x):
    def gen(t):
        for i in range(3):
            yield t * i
    return list(gen(x))


@case()
def yield_from_generator(x):
    def inner(t):
        yield t
        yield t * 2

    def outer(t):
        yield from inner(t)
        yield t * 3
    return sum(outer(x))


@case()
def isinstance_abstract_classes(x):
    # a list is a collections.abc.Iterable and Sequence (torch's _ntuple asks so): once answered False
    items = [x, x * 2]
    n = (isinstance(items, abc.Iterable) + isinstance(items, abc.Sequence) + isinstance((1, 2), abc.Sequence)
         + isinstance({"a": 1}, abc.Mapping) + isinstance(items, (tuple, list)))
    return x * n
