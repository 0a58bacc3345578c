using Capture.Graphs;
using Capture.Python;

namespace Capture.Runtime.Tests;

[Collection("Python")]
public sealed unsafe class TensorAllocationTests
{
    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int64)]
    [InlineData(DType.Int32)]
    public void AllocatedTensorIsTorchMemoryCSharpCanWrite(DType dtype)
    {
        using var gil = Interpreter.Gil();
        using var tensor = TestSession.Current.Torch.Empty([2, 3], dtype);
        var info = TestSession.Current.Torch.Read(tensor);
        Assert.Equal(dtype, info.DType);
        Assert.Equal([2L, 3L], info.Sizes);
        Assert.True(info.IsContiguous);
        for (var i = 0; i < 6; i++)
        {
            var p = (byte*)info.DataPtr + i * dtype.ItemSize();
            switch (dtype)
            {
                case DType.Float32: *(float*)p = i * 1.5f; break;
                case DType.Float64: *(double*)p = i * 1.5; break;
                case DType.Int64: *(long*)p = i * 3; break;
                case DType.Int32: *(int*)p = i * 3; break;
            }
        }
        using var list = tensor.CallMethod("tolist");
        var expected = dtype.IsFloatingPoint() ? "[[0.0, 1.5, 3.0], [4.5, 6.0, 7.5]]" : "[[0, 3, 6], [9, 12, 15]]";
        Assert.Equal(expected, list.Repr());
    }

    [Fact]
    public void EmptyStridedKeepsTheRequestedStrides()
    {
        using var gil = Interpreter.Gil();
        using var tensor = TestSession.Current.Torch.EmptyStrided([2, 3], [1, 2], DType.Float32);
        var info = TestSession.Current.Torch.Read(tensor);
        Assert.Equal([1L, 2L], info.Strides);
        Assert.False(info.IsContiguous);
    }
}
