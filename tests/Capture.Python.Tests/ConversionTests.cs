namespace Capture.Python.Tests;

[Collection("Python")]
public sealed class ConversionTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(-7L)]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    public void IntRoundTrips(long value)
    {
        using var gil = Interpreter.Gil();
        using var o = Py.Int(value);
        Assert.True(o.IsInt);
        Assert.Equal(value, o.ToInt64());
        Assert.Equal(value.ToString(), o.Repr());
    }

    [Fact]
    public void IntBeyond64BitsIsOverflowError()
    {
        using var gil = Interpreter.Gil();
        using var big = Py.Eval("2 ** 70");
        Assert.Equal("OverflowError", Assert.Throws<PythonException>(() => big.ToInt64()).PythonType);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)] // -1.0 is also the C API's error value: must not be mistaken for an error
    [InlineData(3.25)]
    [InlineData(double.PositiveInfinity)]
    public void FloatRoundTrips(double value)
    {
        using var gil = Interpreter.Gil();
        using var o = Py.Float(value);
        Assert.True(o.IsFloat);
        Assert.Equal(value, o.ToDouble());
    }

    [Fact]
    public void BoolIsDistinctFromIntButIsAnInt()
    {
        using var gil = Interpreter.Gil();
        using var t = Py.Bool(true);
        using var one = Py.Int(1);
        Assert.True(t.IsBool && t.IsInt && t.ToBoolean());
        Assert.False(one.IsBool);
        Assert.Equal(1, t.ToInt64());
        Assert.Throws<InvalidCastException>(() => one.ToBoolean());
    }

    [Theory]
    [InlineData("")]
    [InlineData("héllo ✓ 𝔘 日本")]
    [InlineData("with\0nul")]
    public void StrRoundTripsUnicode(string value)
    {
        using var gil = Interpreter.Gil();
        using var o = Py.Str(value);
        Assert.True(o.IsStr);
        Assert.Equal(value, o.AsString());
        Assert.Equal(value.EnumerateRunes().Count(), o.Length); // Python counts code points
    }

    [Fact]
    public void BytesRoundTripWithZeros()
    {
        using var gil = Interpreter.Gil();
        byte[] data = [0, 1, 255, 0, 7];
        using var o = Py.Bytes(data);
        Assert.True(o.IsBytes);
        Assert.Equal(data, o.ToBytes());
    }

    [Fact]
    public void NoneIsASingleton()
    {
        using var gil = Interpreter.Gil();
        using var a = Py.None;
        using var b = Py.Eval("None");
        Assert.True(a.IsNone && b.IsNone && a.Is(b));
    }

    [Fact]
    public void ContainersRoundTrip()
    {
        using var gil = Interpreter.Gil();
        using var one = Py.Int(1);
        using var two = Py.Str("two");
        using var tuple = Py.Tuple(one, two);
        using var list = Py.List(one, two);
        Assert.Equal("(1, 'two')", tuple.Repr());
        Assert.Equal("[1, 'two']", list.Repr());
        Assert.True(tuple.IsTuple && !tuple.IsList && list.IsList);
        var items = list.ToItems();
        Assert.True(items[0].Is(one) && items[1].Is(two));
        foreach (var i in items) i.Dispose();

        using var dict = Py.Dict([new("a", one), new("b", two)]);
        Assert.Equal("{'a': 1, 'b': 'two'}", dict.Repr());
        var pairs = dict.ToDictItems();
        Assert.Equal(["a", "b"], pairs.Select(p => p.Key.AsString()));
        Assert.True(pairs[1].Value.Is(two));
        foreach (var (k, v) in pairs) { k.Dispose(); v.Dispose(); }
        Assert.Equal([3L, 4L, 5L], Py.Eval("(3, 4, 5)").ToInt64List());
    }

    [Fact]
    public void WrongKindConversionSaysWhatItGot()
    {
        using var gil = Interpreter.Gil();
        using var s = Py.Str("3");
        var e = Assert.Throws<InvalidCastException>(() => s.ToInt64());
        Assert.Equal("expected a Python int, got str", e.Message);
        using var f = Py.Float(1.5);
        Assert.Throws<InvalidCastException>(() => f.ToInt64());
    }

    [Fact]
    public void AttributesAndCallsWithKeywords()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("class Box:\n    def __init__(self):\n        self.size = 3\n    def scaled(self, k, offset=0):\n        return self.size * k + offset\nbox = Box()\n");
        using var box = ns.GetItem("box");
        using var size = box.GetAttr("size");
        Assert.Equal(3, size.ToInt64());
        using (var five = Py.Int(5)) box.SetAttr("size", five);
        Assert.True(box.HasAttr("scaled") && !box.HasAttr("missing"));
        using var scaled = box.GetAttr("scaled");
        using var two = Py.Int(2);
        using var one = Py.Int(1);
        using var r = scaled.Call([two], [new("offset", one)]);
        Assert.Equal(11, r.ToInt64());
        using var sorted = Py.Builtins.GetAttr("sorted");
        using var values = Py.Eval("[3, 1, 2]");
        using var rev = Py.Bool(true);
        using var s = sorted.Call([values], [new("reverse", rev)]);
        Assert.Equal([3L, 2L, 1L], s.ToInt64List());
        Assert.Equal("TypeError", Assert.Throws<PythonException>(() => scaled.Call().Dispose()).PythonType);
    }

    [Fact]
    public void DirectReadsConvertAsStrictlyAsTheOrdinaryOnes()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("""
            class Size(tuple):
                pass
            class T:
                flag = True
                number = 1
                kind = int
                def size(self):
                    return Size((2, 3))
                def offset(self):
                    return 7
                def name(self):
                    return "seven"
                def mixed(self):
                    return (1, "two")
            t = T()
            """);
        using var t = ns.GetItem("t");
        Assert.True(t.GetAttrBool("flag"));
        Assert.Equal("expected a Python bool, got int", Assert.Throws<InvalidCastException>(() => t.GetAttrBool("number")).Message);
        using var intType = Py.Builtins.GetAttr("int");
        using var strType = Py.Builtins.GetAttr("str");
        Assert.Equal(1, t.GetAttrIdentity("kind", [strType, intType]));
        Assert.Equal(-1, t.GetAttrIdentity("kind", [strType]));
        Assert.Equal([2L, 3L], t.CallMethodInt64s("size"));
        Assert.Equal(7, t.CallMethodInt64("offset"));
        Assert.Equal("expected a Python int, got str", Assert.Throws<InvalidCastException>(() => t.CallMethodInt64("name")).Message);
        Assert.Throws<InvalidCastException>(() => t.CallMethodInt64s("mixed"));
        Assert.Equal("AttributeError", Assert.Throws<PythonException>(() => t.GetAttrBool("missing")).PythonType);
        Assert.Equal("AttributeError", Assert.Throws<PythonException>(() => t.CallMethodInt64("missing")).PythonType);
    }

    [Fact]
    public void IdentityReadsAndTupleItems()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("""
            sentinel = object()
            class T:
                pass
            t = T()
            t.held = sentinel
            def give(): return sentinel
            def fresh(): return object()
            def yes(): return True
            def one(): return 1
            pair = (sentinel, 2)
            """);
        using var t = ns.GetItem("t");
        using var sentinel = ns.GetItem("sentinel");
        using var give = ns.GetItem("give");
        using var fresh = ns.GetItem("fresh");
        Assert.Equal(sentinel.Address, t.GetAttrAddress("held"));
        Assert.True(give.CallReturnsIdentical(sentinel));
        Assert.False(fresh.CallReturnsIdentical(sentinel));
        using var yes = ns.GetItem("yes");
        using var one = ns.GetItem("one");
        Assert.True(yes.CallBool());
        Assert.Equal("expected a Python bool, got int", Assert.Throws<InvalidCastException>(() => one.CallBool()).Message);
        using var pair = ns.GetItem("pair");
        using var first = pair.TupleItem(0);
        Assert.True(first.Is(sentinel));
        using var second = pair.TupleItem(1);
        Assert.Equal(2, second.ToInt64());
        Assert.Throws<ArgumentOutOfRangeException>(() => pair.TupleItem(2));
        using var type = ns.GetItem("T");
        Assert.True(t.TypeIs(type));
        Assert.False(sentinel.TypeIs(type));
        using var other = type.Call();
        Assert.True(t.HasSameType(other));
        Assert.False(t.HasSameType(sentinel));
    }

    [Fact]
    public void MethodCallsPassEveryArgumentInOrder()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("class C:\n    def join(self, *parts):\n        return '-'.join(parts)\nc = C()\n");
        using var c = ns.GetItem("c");
        var parts = Enumerable.Range(0, 12).Select(i => Py.Str($"p{i}")).ToArray();
        try
        {
            // past the stack-allocated argument array too
            using var few = c.CallMethod("join", parts[..2]);
            Assert.Equal("p0-p1", few.AsString());
            using var many = c.CallMethod("join", parts);
            Assert.Equal(string.Join("-", Enumerable.Range(0, 12).Select(i => $"p{i}")), many.AsString());
            using var join = c.GetAttr("join");
            using var direct = join.Call(parts);
            Assert.Equal(many.AsString(), direct.AsString());
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }
}
