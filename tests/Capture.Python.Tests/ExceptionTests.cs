namespace Capture.Python.Tests;

[Collection("Python")]
public sealed class ExceptionTests
{
    [Fact]
    public void PythonExceptionCarriesTypeMessageAndTraceback()
    {
        using var gil = Interpreter.Gil();
        const string source = """
            def inner(v):
                raise ValueError(f"bad value {v}")

            def outer():
                inner(42)

            outer()
            """;
        var e = Assert.Throws<PythonException>(() => Py.Exec(source, filename: "model_code.py").Dispose());
        Assert.Equal("ValueError", e.PythonType);
        Assert.Equal("bad value 42", e.PythonMessage);
        Assert.Equal("ValueError: bad value 42", e.Message);
        Assert.StartsWith("Traceback (most recent call last):", e.PythonTraceback);
        Assert.Contains("File \"model_code.py\", line 7, in <module>", e.PythonTraceback);
        Assert.Contains("File \"model_code.py\", line 5, in outer", e.PythonTraceback);
        Assert.Contains("File \"model_code.py\", line 2, in inner", e.PythonTraceback);
        Assert.EndsWith("ValueError: bad value 42\n", e.PythonTraceback);
    }

    [Fact]
    public void ExceptionTypeIsQualifiedOutsideBuiltins()
    {
        using var gil = Interpreter.Gil();
        using var json = Py.Import("json");
        using var loads = json.GetAttr("loads");
        using var bad = Py.Str("{not json");
        var e = Assert.Throws<PythonException>(() => loads.Call(bad).Dispose());
        Assert.Equal("json.decoder.JSONDecodeError", e.PythonType);
        using var value = e.Value;
        using var lineno = value.GetAttr("lineno");
        Assert.Equal(1, lineno.ToInt64());
    }

    [Fact]
    public void ErrorIndicatorIsClearedAfterAnException()
    {
        using var gil = Interpreter.Gil();
        Assert.Throws<PythonException>(() => Py.Import("no_such_module_anywhere").Dispose());
        using var result = Py.Eval("1 + 2");
        Assert.Equal(3, result.ToInt64());
    }

    [Fact]
    public void MissingAttributeIsAttributeError()
    {
        using var gil = Interpreter.Gil();
        using var none = Py.None;
        var e = Assert.Throws<PythonException>(() => none.GetAttr("shape").Dispose());
        Assert.Equal("AttributeError", e.PythonType);
        Assert.Contains("'NoneType' object has no attribute 'shape'", e.PythonMessage);
    }
}
