"""Subgraphs and graph breaks: code that must leave the graph (printing, values read in Python,
calls into code Capture does not trace), and what happens around the break: the rest compiles, state
and printed text stay as eager's, loops and helpers that break resume correctly."""

import logging
import time
import warnings

import torch

from harness import case

LOG = []


def _opaque_c_call(x):
    # a C function of the standard library on a tensor's Python value
    return time.gmtime(0).tm_year + x


@case(breaks=1)
def print_in_middle(x):
    y = x * 2
    print("half way")
    return y + 1


@case(breaks=1)
def print_tensor_shape(x):
    y = x.relu()
    print(tuple(y.shape))
    return y.sum()


@case(breaks=1)
def item_then_python_branch(x):
    s = x.sum().item()
    if s > 0:
        return x * 2
    return x * 3


@case(breaks=1)
def data_dependent_if(x):
    if x.sum() > 0:
        return x * 2
    return x - 1


@case(breaks=1)
def data_dependent_while(x):
    n = 0
    while x.abs().max() > 1 and n < 5:
        x = x * 0.5
        n += 1
    return x


@case(breaks=1)
def list_of_python_values(x):
    vals = x[0].tolist()
    return x * len(vals) + vals[0]


@case(breaks=1)
def nonzero_then_compute(x):
    y = x * 2
    idx = y.nonzero()
    return idx.sum() + y.sum()


@case(breaks=1)
def break_inside_helper(x):
    def helper(t):
        t = t + 1
        print("inside")
        return t * 2
    return helper(x) - 1


@case(breaks=1)
def break_inside_loop(x):
    for i in range(3):
        x = x + i
        if i == 1:
            print("one")
    return x


@case(breaks=1)
def side_effect_list_append_with_print(x):
    LOG.clear()
    LOG.append(1)
    print(len(LOG))
    return x * len(LOG)


# logging is standard library Capture does not trace (as Dynamo's skip list): the call of getLogger and
# the call of .debug on what it returned each run between graphs
@case(breaks=2)
def logging_call(x):
    logging.getLogger("conformance").debug("value %s", 1)
    return x * 2


@case(breaks=1)
def warnings_call(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.warn("careful")
    return x * 2


@case(breaks=1)
def numpy_round_trip(x):
    return torch.from_numpy(x.numpy() * 2)


@case(breaks=1)
def backward_inside(x):
    w = x.detach().clone().requires_grad_(True)
    (w * 2).sum().backward()
    return w.grad + x


@case(breaks=0)
def after_break_values_used(x):
    y = x * 2
    return y, y.sum()


@case(breaks=1)
def local_modified_across_break(x):
    total = x * 0
    for i in range(2):
        total = total + x * i
    print("done")
    total = total * 3
    return total


@case(breaks=1)
def tensors_across_break_and_mutation(x):
    y = x.clone()
    y.add_(1)
    print("mutated")
    y.mul_(2)
    return y


@case(breaks=1, args=lambda: (torch.randn(4, 5), [1]))
def argument_list_mutated_across_break(x, acc):
    acc.append(2)
    print(len(acc))
    acc.append(3)
    return x * sum(acc)


@case(breaks=2)
def two_breaks(x):
    x = x + 1
    print("a")
    x = x * 2
    print("b")
    return x - 1


@case(breaks=1)
def break_in_nested_call_chain(x):
    def a(t):
        return b(t) + 1

    def b(t):
        print("deep")
        return t * 2
    return a(x)


@case(breaks=1)
def break_with_kwargs_in_flight(x):
    return torch.add(x, other=torch.tensor(float(x.sum().item() > 0)))


@case(breaks=1)
def str_of_tensor(x):
    s = str(x.shape[0]) + repr(int(x.sum() > 100))
    return x * len(s)


@case(breaks=1)
def python_float_of_tensor(x):
    return x * float(x.mean())


@case(breaks=1)
def int_of_tensor_for_range(x):
    n = int((x > 0).sum())
    out = x
    for _ in range(min(n, 3)):
        out = out * 2
    return out


@case(breaks=1)
def unsupported_c_function(x):
    return _opaque_c_call(x)


@case(breaks=1)
def break_then_return_dict(x):
    print("x")
    return {"a": x, "b": [x * 2]}


@case(breaks=1)
def break_then_grad_mode(x):
    with torch.no_grad():
        y = x * 2
        print("in no_grad")
        z = y + 1
    return z, torch.is_grad_enabled()


@case(breaks=1)
def break_keeps_rng_order(x):
    a = torch.rand(3)
    print("between draws")
    b = torch.rand(3)
    return a, b, x


@case(breaks=0)
def random_draws_in_graph(x):
    return torch.rand(3), torch.randn(2, 2), torch.randint(0, 5, (3,)), torch.rand_like(x)


@case(breaks=0)
def random_functional_dropout(x):
    return torch.nn.functional.dropout(x, 0.3, training=True)


@case(breaks=1)
def break_inside_module(x):
    class Printer(torch.nn.Module):
        def forward(self, t):
            print("module")
            return t * 2
    return Printer()(x) + 1


@case(breaks=1)
def generator_with_break(x):
    def gen(t):
        yield t
        print("between yields")
        yield t * 2
    return list(gen(x))
