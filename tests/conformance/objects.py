"""User objects: classes made or passed in, their attributes, methods, dunder methods, properties,
classmethods, staticmethods, dataclasses, inheritance and super()."""

import dataclasses
import enum

import torch

from harness import case


class Scaler:
    factor = 2.0

    def __init__(self, k):
        self.k = k

    def apply(self, x):
        return x * self.k * self.factor

    @property
    def double(self):
        return self.k * 2

    @classmethod
    def make(cls, k):
        return cls(k)

    @staticmethod
    def shift(x):
        return x + 1


class Vector:
    def __init__(self, t):
        self.t = t

    def __add__(self, other):
        return Vector(self.t + other.t)

    def __mul__(self, s):
        return Vector(self.t * s)

    def __getitem__(self, i):
        return self.t[i]

    def __len__(self):
        return self.t.shape[0]

    def __call__(self, y):
        return self.t * y

    def __neg__(self):
        return Vector(-self.t)

    def __eq__(self, other):
        return isinstance(other, Vector) and self.t is other.t


class Base:
    def __init__(self, k):
        self.k = k

    def run(self, x):
        return x * self.k


class Child(Base):
    def __init__(self, k):
        super().__init__(k + 1)

    def run(self, x):
        return super().run(x) + 1


class GrandChild(Child):
    def run(self, x):
        return super().run(x) * 2


@dataclasses.dataclass
class Config:
    scale: float = 2.0
    bias: float = 0.5
    layers: int = 2


@dataclasses.dataclass(frozen=True)
class FrozenConfig:
    scale: float = 3.0


class Counter:
    def __init__(self):
        self.calls = 0

    def step(self, x):
        self.calls += 1
        return x * self.calls


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class WithSlots:
    __slots__ = ("a",)

    def __init__(self, a):
        self.a = a


@case()
def construct_and_call(x):
    return Scaler(3).apply(x)


@case()
def class_attribute(x):
    return x * Scaler.factor


@case()
def property_read(x):
    return x * Scaler(2).double


@case()
def classmethod_call(x):
    return Scaler.make(4).apply(x)


@case()
def staticmethod_call(x):
    return Scaler.shift(x) + Scaler(1).shift(x)


@case()
def dunder_add_mul(x):
    v = (Vector(x) + Vector(x * 2)) * 3
    return v.t


@case()
def dunder_getitem_len(x):
    v = Vector(x)
    return v[0] * len(v)


@case()
def dunder_call(x):
    return Vector(x)(2.0)


@case()
def dunder_neg(x):
    return (-Vector(x)).t


@case()
def inheritance_super(x):
    return Child(2).run(x)


@case()
def inheritance_two_levels(x):
    return GrandChild(1).run(x)


@case()
def isinstance_of_user_class(x):
    c = Child(1)
    return x * (2 if isinstance(c, Base) else 1) * (3 if type(c) is Child else 1)


@case()
def dataclass_defaults(x):
    c = Config()
    return x * c.scale + c.bias


@case()
def dataclass_fields(x):
    c = Config(scale=4.0, layers=3)
    for _ in range(c.layers):
        x = x * c.scale
    return x


@case()
def frozen_dataclass(x):
    return x * FrozenConfig().scale


@case(args=lambda: (torch.randn(4, 5), Config(scale=1.5)))
def dataclass_argument(x, cfg):
    return x * cfg.scale + cfg.bias


@case(args=lambda: (torch.randn(4, 5), Scaler(5)))
def object_argument(x, s):
    return s.apply(x)


@case(args=lambda: (torch.randn(4, 5), Counter()))
def object_argument_mutated(x, c):
    return c.step(x) + c.step(x)


@case(args=lambda: (torch.randn(4, 5), Scaler(2)))
def setattr_on_argument(x, s):
    s.k = 7
    return s.apply(x)


@case()
def setattr_getattr_builtin(x):
    s = Scaler(1)
    setattr(s, "k", 3)
    return x * getattr(s, "k") * (2 if hasattr(s, "k") else 1)


@case()
def object_made_and_attribute_added(x):
    s = Scaler(2)
    s.extra = x * 2
    return s.extra + s.k


@case()
def enum_members(x):
    return x * Color.BLUE.value * (2 if Color.RED != Color.BLUE else 1)


@case(args=lambda: (torch.randn(4, 5), Color.RED))
def enum_argument(x, c):
    return x * 2 if c is Color.RED else x


@case()
def slots_object(x):
    return x * WithSlots(3).a


@case()
def bound_method_stored(x):
    f = Scaler(2).apply
    return f(x)


@case()
def object_in_list(x):
    objs = [Scaler(1), Scaler(2)]
    return sum(o.apply(x) for o in objs)


@case()
def object_identity(x):
    a = Scaler(1)
    b = a
    return x * (2 if a is b else 1)


@case(args=lambda: (torch.randn(4, 5), Vector(torch.randn(4, 5))))
def vector_argument_eq(x, v):
    return x * (2 if v == v else 1) + v.t


@case()
def vars_of_object(x):
    s = Scaler(3)
    return x * vars(s)["k"]


@case()
def type_name(x):
    return x * len(type(Scaler(1)).__name__)


class Seq:
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


@case()
def user_iterable(x):
    out = x
    for v in Seq([1, 2, 3]):
        out = out + v
    return out


class Ctx:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        self.log.append("in")
        return self

    def __exit__(self, *exc):
        self.log.append("out")
        return False


@case()
def user_context_manager(x):
    log = []
    with Ctx(log):
        y = x * 2
    return y * len(log)


@case(breaks=1)
def slots_object_across_break(x):
    w = WithSlots(x * 2)
    print("between")
    w.a = w.a + 1
    return w.a, type(w).__name__


@case(breaks=1)
def user_context_manager_with_break(x):
    log = []
    with Ctx(log) as c:
        y = x * 2
        print("inside")
        y = y + len(log)
    return y * len(log), c.log


class Lazy:
    def __getattr__(self, name):
        return len(name)


@case()
def dunder_getattr_fallback(x):
    return x * Lazy().abc


@case()
def closure_object_method(x):
    s = Scaler(2)

    def f(t):
        return s.apply(t)
    return f(x)


class TensorHolder:
    def __init__(self, t):
        self.t = t

    def scaled(self, k):
        return self.t * k


@case()
def object_holding_tensor(x):
    return TensorHolder(x).scaled(3)


@case(grad=True)
def gradient_through_object(x):
    h = TensorHolder(x)
    return h.scaled(2).sum()
