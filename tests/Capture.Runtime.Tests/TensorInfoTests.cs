using Capture.Graphs;
using Capture.Python;
using Capture.Runtime.Torch;

namespace Capture.Runtime.Tests;

// Metadata and data pointers read by the C# side, checked against torch's own answers: sizes,
// strides, offsets, and every element read through DataPtr + strides compared with tolist().
[Collection("Python")]
public sealed unsafe class TensorInfoTests : IDisposable
{
    // One namespace per test, so every view is of the same `base`; the tensors made from it are kept
    // alive until the test ends, so their memory stays valid while the test reads it.
    private readonly PyObject _ns;
    private readonly List<PyObject> _alive = [];

    public TensorInfoTests()
    {
        using var gil = Interpreter.Gil();
        _ns = Py.Exec("import torch\ng = torch.Generator().manual_seed(0)\nbase = torch.randn(4, 6, generator=g)\n");
    }

    public void Dispose()
    {
        using var gil = Interpreter.Gil();
        foreach (var o in _alive) o.Dispose();
        _ns.Dispose();
    }

    private PyObject Eval(string expression)
    {
        var value = Py.Eval(expression, _ns);
        _alive.Add(value);
        return value.NewReference();
    }

    private static double[] Flatten(PyObject nested) =>
        nested.IsList ? nested.ToItems().SelectMany(i => { using (i) return Flatten(i); }).ToArray()
                      : [nested.IsBool ? (nested.ToBoolean() ? 1 : 0) : nested.ToDouble()];

    /// <summary>Every element through the data pointer and strides, in row-major order.</summary>
    private static double[] ReadThroughPointer(TensorInfo t)
    {
        var values = new List<double>();
        var index = new long[t.Rank];
        for (long n = 0; n < t.NumElements; n++)
        {
            long offset = 0;
            for (var d = 0; d < t.Rank; d++) offset += index[d] * t.Strides[d];
            var p = (byte*)t.DataPtr + offset * t.DType.ItemSize();
            values.Add(t.DType switch
            {
                DType.Float32 => *(float*)p,
                DType.Float64 => *(double*)p,
                DType.Float16 => (double)*(Half*)p,
                DType.BFloat16 => BitConverter.Int32BitsToSingle(*(ushort*)p << 16),
                DType.Int64 => *(long*)p,
                DType.Int32 => *(int*)p,
                DType.Bool => *p,
                _ => throw new ArgumentOutOfRangeException(),
            });
            for (var d = t.Rank - 1; d >= 0 && ++index[d] == t.Sizes[d]; d--) index[d] = 0;
        }
        return values.ToArray();
    }

    private (TensorInfo Info, double[] Expected) ReadWithExpected(string expression)
    {
        using var tensor = Eval(expression);
        var info = TestSession.Current.Torch.Read(tensor);
        using var list = tensor.CallMethod("tolist");
        return (info, Flatten(list));
    }

    [Fact]
    public void ContiguousTensor()
    {
        using var gil = Interpreter.Gil();
        var (t, expected) = ReadWithExpected("base");
        Assert.Equal(DType.Float32, t.DType);
        Assert.Equal(Device.Cpu, t.Device);
        Assert.Equal([4L, 6L], t.Sizes);
        Assert.Equal([6L, 1L], t.Strides);
        Assert.Equal(0, t.StorageOffset);
        Assert.True(t.IsContiguous);
        Assert.False(t.RequiresGrad);
        Assert.Equal(expected, ReadThroughPointer(t));
    }

    [Fact]
    public void TransposedTensorSharesStorageWithSwappedStrides()
    {
        using var gil = Interpreter.Gil();
        using var baseTensor = Eval("base");
        var b = TestSession.Current.Torch.Read(baseTensor);
        var (t, expected) = ReadWithExpected("base.t()");
        Assert.Equal([6L, 4L], t.Sizes);
        Assert.Equal([1L, 6L], t.Strides);
        Assert.Equal(b.DataPtr, t.DataPtr);
        Assert.False(t.IsContiguous);
        Assert.Equal(expected, ReadThroughPointer(t));
    }

    [Theory]
    [InlineData("base[1:, 2:]", new long[] { 3, 4 }, new long[] { 6, 1 }, 8)]
    [InlineData("base[:, ::2]", new long[] { 4, 3 }, new long[] { 6, 2 }, 0)]
    [InlineData("base[2]", new long[] { 6 }, new long[] { 1 }, 12)]
    [InlineData("base[1:3, 5]", new long[] { 2 }, new long[] { 6 }, 11)]
    [InlineData("base.t()[3:]", new long[] { 3, 4 }, new long[] { 1, 6 }, 3)]
    [InlineData("base[0, 0:1].expand(5, 3)", new long[] { 5, 3 }, new long[] { 0, 0 }, 0)]
    public void SlicedAndStridedViews(string expression, long[] sizes, long[] strides, long offset)
    {
        using var gil = Interpreter.Gil();
        using var baseTensor = Eval("base");
        var b = TestSession.Current.Torch.Read(baseTensor);
        var (t, expected) = ReadWithExpected(expression);
        Assert.Equal(sizes, t.Sizes);
        Assert.Equal(strides, t.Strides);
        Assert.Equal(offset, t.StorageOffset);
        Assert.Equal(b.DataPtr + (nint)(offset * sizeof(float)), t.DataPtr);
        Assert.Equal(expected, ReadThroughPointer(t));
    }

    [Theory]
    [InlineData("float32", DType.Float32, 4)]
    [InlineData("float64", DType.Float64, 8)]
    [InlineData("float16", DType.Float16, 2)]
    [InlineData("bfloat16", DType.BFloat16, 2)]
    [InlineData("int64", DType.Int64, 8)]
    [InlineData("int32", DType.Int32, 4)]
    [InlineData("bool", DType.Bool, 1)]
    public void EveryDTypeMapsAndReads(string torchName, DType dtype, int itemSize)
    {
        using var gil = Interpreter.Gil();
        var expression = $"(base * 8).round().to(torch.{torchName}).t()[1:]";
        var (t, expected) = ReadWithExpected(expression);
        Assert.Equal(dtype, t.DType);
        Assert.Equal(torchName, dtype.TorchName());
        Assert.Equal(itemSize, dtype.ItemSize());
        using var tensor = Eval(expression);
        using var elementSize = tensor.CallMethod("element_size");
        Assert.Equal(itemSize, elementSize.ToInt64());
        Assert.Equal(expected, ReadThroughPointer(t));
    }

    [Fact]
    public void ZeroDimAndEmptyTensors()
    {
        using var gil = Interpreter.Gil();
        var (scalar, value) = ReadWithExpected("torch.tensor(2.5, dtype=torch.float64)");
        Assert.Empty(scalar.Sizes);
        Assert.Equal(1, scalar.NumElements);
        Assert.Equal(value, ReadThroughPointer(scalar));
        using var empty = Eval("torch.zeros(3, 0, 2)");
        var e = TestSession.Current.Torch.Read(empty);
        Assert.Equal([3L, 0L, 2L], e.Sizes);
        Assert.Equal(0, e.NumElements);
        Assert.True(e.IsContiguous);
    }

    [Fact]
    public void RequiresGradIsRead()
    {
        using var gil = Interpreter.Gil();
        using var leaf = Eval("base.clone().requires_grad_()");
        Assert.True(TestSession.Current.Torch.Read(leaf).RequiresGrad);
    }

    [Fact]
    public void UnsupportedDTypeAndNonTensorAreClearErrors()
    {
        using var gil = Interpreter.Gil();
        using var complex = Eval("torch.zeros(2, dtype=torch.complex64)");
        var e = Assert.Throws<NotSupportedException>(() => TestSession.Current.Torch.Read(complex));
        Assert.Contains("torch.complex64", e.Message);
        using var list = Eval("[1.0, 2.0]");
        Assert.Equal("expected a torch.Tensor, got list", Assert.Throws<InvalidCastException>(() => TestSession.Current.Torch.Read(list)).Message);
    }
}
