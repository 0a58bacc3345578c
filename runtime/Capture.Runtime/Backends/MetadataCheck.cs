using Capture.Runtime.Torch;

namespace Capture.Runtime.Backends;

/// <summary>A value produced while running a graph disagrees with its node's metadata.</summary>
public sealed class MetadataMismatchException(string message) : Exception(message);

/// <summary>
/// Compares a real value with the metadata a node promised: sizes, dtype and strides (strides of
/// size-1 dims carry no meaning and are not compared).
/// </summary>
public static class MetadataCheck
{
    public static void Check(TorchRuntime torch, Node node, PyObject value) => Check(torch, node, node.Meta, value, node.Name);

    private static void Check(TorchRuntime torch, Node node, ValueMeta meta, PyObject value, string path)
    {
        switch (meta)
        {
            case TensorMeta t:
                if (!torch.IsTensor(value)) throw Mismatch(path, $"expected a tensor {MetaText.Format(t)}, got {value.TypeName}");
                var info = torch.Read(value);
                var actual = new TensorMeta(new Shape(info.Sizes), info.DType, info.Device, info.Strides.ToEquatableList(), t.RequiresGrad);
                if (!new Shape(info.Sizes).Equals(t.Shape) && t.Shape.IsConcrete || info.DType != t.DType)
                    throw Mismatch(path, $"metadata says {MetaText.Format(t)}, torch produced {MetaText.Format(actual)}");
                if (t.Strides is { } strides && info.NumElements > 1 && !SameStrides(strides, info))
                    throw Mismatch(path, $"strides {{{string.Join(", ", strides)}}} but torch's are {{{string.Join(", ", info.Strides)}}}");
                break;
            case TupleMeta tuple:
                if (!value.IsTuple && !value.IsList) throw Mismatch(path, $"expected a tuple, got {value.TypeName}");
                var items = value.ToItems();
                try
                {
                    if (items.Count != tuple.Items.Count) throw Mismatch(path, $"expected {tuple.Items.Count} items, got {items.Count}");
                    for (var i = 0; i < items.Count; i++) Check(torch, node, tuple.Items[i], items[i], $"{path}[{i}]");
                }
                finally { foreach (var item in items) item.Dispose(); }
                break;
            case ScalarMeta s:
                var ok = s.Kind switch { ScalarKind.Bool => value.IsBool, ScalarKind.Int => value.IsInt && !value.IsBool, _ => value.IsFloat };
                if (!ok) throw Mismatch(path, $"expected a Python {s}, got {value.TypeName}");
                break;
            case NoneMeta when !value.IsNone:
                throw Mismatch(path, $"expected None, got {value.TypeName}");
        }
    }

    // Strides of dimensions of size 1 carry no meaning; torch and Capture may pick differently.
    private static bool SameStrides(IReadOnlyList<long> strides, TensorInfo info) =>
        strides.Select((s, d) => info.Sizes[d] == 1 || s == info.Strides[d]).All(x => x);

    private static MetadataMismatchException Mismatch(string path, string message) => new($"'{path}': {message}");
}
