namespace Capture.Frontend;

/// <summary>Python values known at capture time as graph op arguments, for both capture paths.</summary>
public static class ConstantArgs
{
    /// <summary>Whether a Python int fits in an int64 (what a graph argument, and torch, can hold).</summary>
    public static bool FitsInt64(PyObject value)
    {
        using var bits = value.CallMethod("bit_length");
        return bits.ToInt64() <= 63;
    }

    /// <summary>
    /// The argument a Python value is (None, bool, int, float, str, dtype, device, ellipsis, slice,
    /// and tuples, lists and torch.Size of those), or null for a value no graph op takes.
    /// </summary>
    public static Arg? Of(PyObject value, ITorchBridge torch)
    {
        if (value.IsNone) return NoneArg.Instance;
        if (value.IsBool) return new BoolArg(value.ToBoolean());
        if (value.IsInt) return FitsInt64(value) ? new IntArg(value.ToInt64()) : null; // torch raises on it: the real call shows how
        if (value.IsFloat) return new FloatArg(value.ToDouble());
        if (value.IsStr) return new StrArg(value.AsString());
        if (torch.AsDType(value) is { } d) return new DTypeArg(d);
        if (value.IsTuple || value.IsList || value.TypeName == "torch.Size")
        {
            var items = new List<Arg>();
            foreach (var item in value.ToItems())
                using (item)
                    if (Of(item, torch) is { } arg) items.Add(arg);
                    else return null;
            return new ListArg(items.ToEquatableList(), IsTuple: !value.IsList);
        }
        switch (value.TypeName)
        {
            case "ellipsis": return EllipsisArg.Instance;
            case "slice":
                using (var start = value.GetAttr("start"))
                using (var stop = value.GetAttr("stop"))
                using (var step = value.GetAttr("step"))
                    return Of(start, torch) is { } a && Of(stop, torch) is { } b && Of(step, torch) is { } c ? new SliceArg(a, b, c) : null;
            case "torch.device":
                return new StrArg(value.ToString());
        }
        return null;
    }
}
