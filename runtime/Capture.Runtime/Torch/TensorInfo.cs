namespace Capture.Runtime.Torch;

/// <summary>
/// What Capture reads off a torch tensor without touching its data. <see cref="DataPtr"/> is torch's
/// data_ptr(): the address of the first element, storage offset already applied; element (i, j, ...)
/// lies at DataPtr + (i*Strides[0] + j*Strides[1] + ...) * ItemSize.
/// </summary>
public sealed record TensorInfo(
    DType DType,
    Device Device,
    IReadOnlyList<long> Sizes,
    IReadOnlyList<long> Strides,
    long StorageOffset,
    nint DataPtr,
    bool RequiresGrad)
{
    public int Rank => Sizes.Count;

    public long NumElements => Sizes.Aggregate(1L, (n, s) => n * s);

    /// <summary>Row-major contiguous, with torch's rule that dimensions of size 1 may have any stride.</summary>
    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (var d = Rank - 1; d >= 0; d--)
            {
                if (Sizes[d] == 0) return true;
                if (Sizes[d] != 1 && Strides[d] != expected) return false;
                expected *= Sizes[d];
            }
            return true;
        }
    }
}
