namespace Capture.Python.Tests;

[Collection("Python")]
public sealed class CallbackTests
{
    private static PyObject Namespace(params (string Name, PyCallback Callback)[] functions)
    {
        var ns = Py.Exec("");
        foreach (var (name, callback) in functions)
        {
            using var f = PyFunction.Create(name, callback, doc: $"{name}(...) from C#");
            ns.SetItem(name, f);
        }
        return ns;
    }

    [Fact]
    public void CallbackReceivesPositionalAndKeywordArguments()
    {
        using var gil = Interpreter.Gil();
        using var ns = Namespace(("describe", (args, kwargs) =>
        {
            var keys = kwargs is null ? "" : string.Join(",", kwargs.ToDictItems().Select(p => { using (p.Key) using (p.Value) return $"{p.Key}={p.Value}"; }));
            return Py.Str($"{args.Length} positional; {keys}");
        }));
        using var r1 = Py.Eval("describe(1, 'two', 3.0, scale=2, name='x')", ns);
        Assert.Equal("3 positional; scale=2,name=x", r1.AsString());
        using var r2 = Py.Eval("describe()", ns);
        Assert.Equal("0 positional; ", r2.AsString());
        using var name = Py.Eval("describe.__name__ + '|' + describe.__doc__", ns);
        Assert.Equal("describe|describe(...) from C#", name.AsString());
    }

    [Fact]
    public void CSharpExceptionBecomesPythonExceptionAndTheProcessGoesOn()
    {
        using var gil = Interpreter.Gil();
        var calls = 0;
        using var ns = Namespace(("explode", (args, _) =>
        {
            calls++;
            using var kind = args.GetItem(0);
            return kind.AsString() switch
            {
                "state" => throw new InvalidOperationException("kernel cache is corrupt"),
                "arg" => throw new ArgumentException("rank must be 2"),
                "cast" => throw new InvalidCastException("expected a tensor"),
                _ => Py.Str("fine"),
            };
        }));
        using var result = Py.Exec("""
            caught = []
            for kind in ("state", "arg", "cast"):
                try:
                    explode(kind)
                except Exception as e:
                    caught.append(f"{type(e).__name__}: {e}")
            after = explode("ok")
            """, ns);
        using var caught = result.GetItem("caught");
        var messages = caught.ToItems().Select(i => { using (i) return i.AsString(); }).ToArray();
        Assert.Equal("RuntimeError: kernel cache is corrupt [C# InvalidOperationException]", messages[0]);
        Assert.Equal("ValueError: rank must be 2 [C# ArgumentException]", messages[1]);
        Assert.Equal("TypeError: expected a tensor [C# InvalidCastException]", messages[2]);
        using var after = result.GetItem("after");
        Assert.Equal("fine", after.AsString());
        Assert.Equal(4, calls);
    }

    [Fact]
    public void PythonExceptionInsideCallbackKeepsItsPythonType()
    {
        using var gil = Interpreter.Gil();
        using var ns = Namespace(("lookup", (args, _) =>
        {
            using var table = Py.Dict([]);
            using var key = args.GetItem(0);
            return table.GetItem(key); // raises KeyError through C#
        }));
        using var result = Py.Exec("""
            try:
                lookup("weight")
            except KeyError as e:
                message = repr(e)
            """, ns);
        using var message = result.GetItem("message");
        Assert.Equal("KeyError('weight')", message.AsString());
    }

    [Fact]
    public void ExceptionRoundTripsPythonToCSharpToPython()
    {
        using var gil = Interpreter.Gil();
        using var ns = Namespace(("fail", (_, _) => throw new NotSupportedException("cond on a list")));
        using var _ = Py.Exec("def model():\n    return fail()\n", ns, "user_model.py");
        using var model = ns.GetItem("model");
        var e = Assert.Throws<PythonException>(() => model.Call().Dispose());
        Assert.Equal("NotImplementedError", e.PythonType);
        Assert.Contains("cond on a list", e.PythonMessage);
        Assert.Contains("File \"user_model.py\", line 2, in model", e.PythonTraceback);
    }

    [Fact]
    public void FunctionIsFreedWhenPythonDropsIt()
    {
        using var gil = Interpreter.Gil();
        var weak = MakeAndDrop();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.False(weak.IsAlive);
    }

    private static WeakReference MakeAndDrop()
    {
        var target = new object();
        PyCallback callback = (_, _) => Py.Str(target.ToString()!);
        var weak = new WeakReference(callback);
        using (var f = PyFunction.Create("temporary", callback))
        using (var r = f.Call()) Assert.Equal("System.Object", r.AsString());
        return weak;
    }
}
