namespace Capture.Graphs;

// oneDNN's own layout (what OneDnnLayoutPass makes of a convolutional network): values between
// to_blocked and to_dense are torch tensors in oneDNN's blocked format (layout torch._mkldnn), which only
// these ops read. Each has the schema and shape rule of the dense op it stands for; the metadata is the
// logical tensor's (the dense tensor to_dense gives back). capture/_onednn.py runs them.
public static partial class OpRegistry
{
    private static IEnumerable<OpDef> OneDnnOps()
    {
        const OpCategory library = OpCategory.Library;
        yield return Def("capture._onednn.to_blocked", "Tensor self", library, UnarySame,
            note: "a dense tensor in oneDNN's blocked layout (Tensor.to_mkldnn)");
        yield return Def("capture._onednn.to_dense", "Tensor self", library, UnarySame,
            note: "a blocked tensor back in torch's dense, contiguous layout (Tensor.to_dense)");
        yield return Def("capture._onednn.conv2d", "Tensor input, Tensor weight, Tensor? bias, int[] padding, int[] stride, int[] dilation, int groups",
            library, MkldnnConvolution, note: "oneDNN's convolution on a blocked input, its weight reordered for oneDNN once (at the first call) and kept");
        yield return Def("capture._onednn.relu", "Tensor self", library, UnarySame);
        // the same, computed into their (first) input, which nothing else reads (OneDnnLayoutPass.InPlace):
        // for the graph a new value, as relu and add; no new blocked tensor to allocate
        yield return Def("capture._onednn.relu_", "Tensor self", library, UnarySame,
            note: "relu into its input, which nothing else reads");
        yield return Def("capture._onednn.add_", "Tensor self, Tensor other, *, Number alpha=1", library, AddSub,
            note: "add into its first input, which nothing else reads");
        yield return Def("capture._onednn.sigmoid", "Tensor self", library, UnarySame);
        yield return Def("capture._onednn.hardtanh", "Tensor self, float min_val, float max_val", library, UnarySame,
            note: "hardtanh between finite bounds (ReLU6), as TorchScript's prim::MKLDNNHardTanh_ on a copy");
        yield return Def("capture._onednn.hardtanh_", "Tensor self, float min_val, float max_val", library, UnarySame,
            note: "hardtanh into its input, which nothing else reads");
        yield return Def("capture._onednn.add", "Tensor self, Tensor other, *, Number alpha=1", library, AddSub);
        yield return Def("capture._onednn.mul", "Tensor self, Tensor other", library, c => Promoted(c, "self", "other"));
        yield return Def("capture._onednn.max_pool2d",
            "Tensor input, Any kernel_size, Any? stride=None, Any padding=0, Any dilation=1, bool ceil_mode=False, bool return_indices=False",
            library, MaxPool2d);
        yield return Def("capture._onednn.avg_pool2d",
            "Tensor input, Any kernel_size, Any? stride=None, Any padding=0, bool ceil_mode=False, bool count_include_pad=True, int? divisor_override=None",
            library, AvgPool2d);
        yield return Def("capture._onednn.adaptive_avg_pool2d", "Tensor input, Any output_size", library, AdaptiveAvgPool2d);
    }
}
