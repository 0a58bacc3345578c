"""Containers: lists, tuples, dicts, sets, namedtuples, defaultdict and OrderedDict, made inside the
function or passed in (and mutated)."""

import collections

import torch

from harness import case

Point = collections.namedtuple("Point", ["x", "y"])


def tensor_list():
    return (torch.randn(4, 5), [torch.randn(4, 5), torch.randn(4, 5)])


@case()
def list_append_pop(x):
    items = [x]
    items.append(x * 2)
    last = items.pop()
    return last + items[0] + len(items)


@case()
def list_pop_index(x):
    items = [x, x * 2, x * 3]
    first = items.pop(0)
    return first + items[-1]


@case()
def list_insert(x):
    items = [x, x * 3]
    items.insert(1, x * 2)
    return items[1] - items[0]


@case()
def list_extend(x):
    items = [x]
    items.extend([x + 1, x + 2])
    items.extend((x + 3,))
    return sum(items)


@case()
def list_clear(x):
    items = [x, x]
    items.clear()
    return x * len(items) + 1


@case()
def list_concat(x):
    return sum([x] + [x * 2] + [x * 3])


@case()
def list_repeat(x):
    return torch.stack([x] * 3)


@case()
def list_slicing(x):
    items = [x, x * 2, x * 3, x * 4]
    return items[1:3], items[::2], items[-1]


@case()
def list_index_count(x):
    vals = [1, 2, 3, 2]
    return x * vals.index(3) + vals.count(2)


@case()
def list_reverse(x):
    items = [x, x * 2]
    items.reverse()
    return items[0]


@case()
def list_sort_constants(x):
    vals = [3, 1, 2]
    vals.sort()
    return x * vals[0]


@case()
def list_del_item(x):
    items = [x, x * 2, x * 3]
    del items[1]
    return items[1]


@case()
def list_setitem(x):
    items = [x, x]
    items[1] = x * 5
    return items[0] + items[1]


@case()
def list_slice_assign(x):
    items = [x, x, x]
    items[1:] = [x * 2, x * 3]
    return sum(items)


@case()
def list_in_check(x):
    vals = [1, 2]
    return x * (3 if 2 in vals else 1)


@case()
def list_len_loop(x):
    items = [x, x + 1, x + 2]
    out = 0
    for i in range(len(items)):
        out = out + items[i]
    return out


@case()
def list_copy(x):
    items = [x, x * 2]
    other = items.copy()
    other.append(x * 3)
    return len(items) * x + len(other)


@case(args=tensor_list)
def list_argument(x, items):
    return x + items[0] * items[1]


@case(args=tensor_list)
def list_argument_mutated(x, items):
    items.append(x * 2)
    return items[-1]


@case(args=tensor_list)
def list_argument_iterated(x, items):
    for t in items:
        x = x + t
    return x


@case()
def list_of_lists(x):
    grid = [[x, x * 2], [x * 3, x * 4]]
    return grid[1][0] - grid[0][1]


@case()
def list_constructor_from_tuple(x):
    return list((x, x * 2))[1]


@case()
def list_unpacking_star(x):
    a, b, *rest = [x, x + 1, x + 2, x + 3]
    return a + b + rest[-1]


@case()
def tuple_concat_repeat(x):
    t = (x,) + (x * 2,)
    t = t * 2
    return len(t) * t[3]


@case()
def tuple_index_slice(x):
    t = (x, x * 2, x * 3)
    return t[-1] + t[:2][1]


@case()
def tuple_count_index(x):
    t = (1, 2, 2, 3)
    return x * t.count(2) + t.index(3)


@case()
def tuple_constructor(x):
    t = tuple([x, x + 1])
    return t[1]


@case()
def tuple_compare(x):
    return x * (2 if (1, 2) < (1, 3) else 1)


@case()
def dict_setitem_getitem(x):
    d = {}
    d["a"] = x
    d["b"] = x * 2
    return d["a"] + d["b"]


@case()
def dict_get_default(x):
    d = {"a": x}
    return d.get("a") + d.get("missing", 3)


@case()
def dict_pop(x):
    d = {"a": x, "b": x * 2}
    v = d.pop("a")
    return v + len(d) + d.pop("zz", 7)


@case()
def dict_setdefault(x):
    d = {"a": x}
    v = d.setdefault("b", x * 3)
    w = d.setdefault("a", x * 100)
    return v + w


@case()
def dict_update(x):
    d = {"a": x}
    d.update({"b": x * 2})
    d.update(c=x * 3)
    return d["b"] + d["c"] + len(d)


@case()
def dict_items_loop(x):
    d = {"a": 1, "b": 2}
    for k, v in d.items():
        x = x * v
    return x


@case()
def dict_keys_values(x):
    d = {"a": x, "b": x * 2}
    return sum(d.values()) + len(list(d.keys()))


@case()
def dict_int_keys(x):
    d = {0: x, 1: x * 2}
    return d[0] + d[1]


@case()
def dict_tuple_keys(x):
    d = {(0, 1): x, (1, 0): x * 2}
    return d[(1, 0)]


@case()
def dict_contains(x):
    d = {"a": 1}
    return x * (2 if "a" in d else 1) * (3 if "b" not in d else 1)


@case()
def dict_del(x):
    d = {"a": x, "b": x * 2}
    del d["a"]
    return d["b"] * len(d)


@case()
def dict_constructor_kwargs(x):
    d = dict(a=x, b=2)
    return d["a"] * d["b"]


@case()
def dict_from_pairs(x):
    d = dict([("a", x), ("b", x * 2)])
    return d["b"]


@case()
def dict_copy(x):
    d = {"a": x}
    e = d.copy()
    e["b"] = x
    return len(d) * x


@case()
def dict_merge_operator(x):
    d = {"a": x} | {"b": x * 2}
    return d["b"]


@case()
def dict_comprehension_filter(x):
    d = {i: x * i for i in range(5) if i % 2 == 0}
    return d[4] + len(d)


@case(args=lambda: (torch.randn(4, 5), {"w": torch.randn(4, 5), "n": 3}))
def dict_argument(x, cfg):
    return x * cfg["w"] + cfg["n"]


@case(args=lambda: (torch.randn(4, 5), {"w": torch.randn(4, 5)}))
def dict_argument_mutated(x, state):
    state["out"] = x * 2
    return state["w"] + 1


@case()
def defaultdict_list(x):
    d = collections.defaultdict(list)
    d["a"].append(x)
    d["a"].append(x * 2)
    return sum(d["a"])


@case()
def defaultdict_int(x):
    d = collections.defaultdict(int)
    for k in ["a", "b", "a"]:
        d[k] += 1
    return x * d["a"]


@case()
def ordered_dict(x):
    d = collections.OrderedDict()
    d["b"] = x
    d["a"] = x * 2
    return list(d.values())[0] + list(d.keys()).index("a")


@case()
def ordered_dict_move(x):
    d = collections.OrderedDict(a=1, b=2)
    d.move_to_end("a")
    return x * list(d.values())[0]


@case()
def set_operations(x):
    s = {1, 2, 3}
    s.add(4)
    s.discard(1)
    return x * len(s) + (1 if 2 in s else 0)


@case()
def set_union_intersection(x):
    a, b = {1, 2}, {2, 3}
    return x * len(a | b) + len(a & b) + len(a - b)


@case()
def set_from_list(x):
    return x * len(set([1, 1, 2]))


@case()
def set_comprehension_and_pop(x):
    s = {i % 3 for i in range(7)}
    first = s.pop()
    return x * len(s) + first + (2 in s)


@case()
def set_returned(x):
    s = {1, 2}
    s |= {3}
    s.update([4, 5])
    return x * 2, s, frozenset(s) - {1}


@case(breaks=1)
def dict_int_keys_across_break(x):
    d = {0: x, 1: x * 2}
    print("break")
    d[2] = d[0] + d[1]
    return d


@case()
def ordered_dict_returned(x):
    d = collections.OrderedDict()
    d["z"] = x
    d["a"] = x + 1
    d.move_to_end("z", last=False)
    return d, type(d) is collections.OrderedDict


@case()
def defaultdict_returned(x):
    d = collections.defaultdict(list)
    d[1].append(x)
    d[(2, "b")].append(x * 2)
    return d


@case(args=lambda: (torch.randn(4, 5), {"w": torch.randn(4, 5)}), breaks=1)
def dict_argument_mutated_across_break(x, state):
    state["a"] = x + 1
    print("between")
    state["b"] = state["a"] * 2
    del state["w"]
    return x


@case()
def namedtuple_make_asdict(x):
    p = Point._make([x, x * 2])
    return p._asdict()["y"] + p.x


@case()
def frozenset_membership(x):
    allowed = frozenset(["relu", "gelu"])
    return x * (2 if "relu" in allowed else 1)


@case()
def namedtuple_construct(x):
    p = Point(x, x * 2)
    return p.x + p.y


@case()
def namedtuple_index_and_unpack(x):
    p = Point(x=x, y=x + 1)
    a, b = p
    return p[0] * b


@case()
def namedtuple_replace(x):
    p = Point(x, x)
    q = p._replace(y=x * 3)
    return q.y


@case(args=lambda: (Point(torch.randn(3), torch.randn(3)),))
def namedtuple_argument(p):
    return p.x * p.y


@case()
def return_types_fields(x):
    r = torch.max(x, dim=1)
    return r.values + r.indices


@case()
def return_types_sort(x):
    s = x.sort(dim=1, descending=True)
    return s.values[:, 0], s.indices


@case()
def return_types_unpack(x):
    values, indices = x.min(0)
    return values * 2, indices


@case()
def nested_containers(x):
    d = {"layers": [{"w": x, "b": 1}, {"w": x * 2, "b": 2}]}
    out = 0
    for layer in d["layers"]:
        out = out + layer["w"] * layer["b"]
    return out


@case()
def zip_dict(x):
    names = ["a", "b"]
    d = dict(zip(names, [x, x * 2]))
    return d["b"]


@case()
def enumerate_dict(x):
    d = {"a": x, "b": x * 2}
    out = 0
    for i, k in enumerate(d):
        out = out + d[k] * i
    return out


@case()
def sorted_dict_keys(x):
    d = {"b": 2, "a": 1}
    return x * sorted(d)[0].__len__() + d[sorted(d)[1]]


@case()
def list_max_min_of_constants(x):
    sizes = [3, 7, 5]
    return x * max(sizes) - min(sizes)


@case()
def sum_of_tensor_list(x):
    return sum([x, x, x])


@case()
def any_all_of_bools(x):
    flags = [x.dim() == 2, x.shape[0] == 4]
    return x * (2 if all(flags) else 1) * (3 if any(flags) else 1)


@case()
def tensor_list_stack_cat(x):
    parts = [x[i] for i in range(2)]
    return torch.stack(parts), torch.cat(parts)


@case()
def torch_size_tuple_ops(x):
    s = x.shape
    return x.reshape(s[0] * s[1]), x.new_zeros(s + (2,)), x * (s == (4, 5))


@case()
def torch_size_arith(x):
    n = x.size()
    return x.view(*n[::-1]), x.sum() * (n[0] + n[1]) * n.numel()


@case()
def torch_size_compare_tuple(x):
    if x.size() == (4, 5):
        return x * 2
    return x


@case()
def len_of_tensor(x):
    return x * len(x)


@case()
def list_of_shapes(x):
    shapes = [t.shape for t in x.chunk(2, 1)]
    return x * shapes[0][1]
