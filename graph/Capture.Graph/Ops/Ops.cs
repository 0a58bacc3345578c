namespace Capture.Graphs;

/// <summary>
/// The registry's ops by C# name, for code that builds or recognizes one op: passes, derivative
/// rules, decompositions, lowering. A misspelt op is a compile error here, where a misspelt string was a
/// KeyNotFoundException (or a rule that never matched) at run time. Strings name ops only at the
/// Python boundary: <see cref="OpRegistry.NameForPython"/>, method names, and the IR's text format.
/// Fields that clash with torch's own functions carry a Functional prefix
/// (torch.relu is <see cref="Relu"/>, torch.nn.functional.relu <see cref="FunctionalRelu"/>); in-place
/// methods an InPlace suffix (Tensor.add_ is <see cref="AddInPlace"/>).
/// </summary>
/// <remarks>Nothing in <see cref="OpRegistry"/>'s own initialization may read these fields: they are
/// read from the registry, which must exist first.</remarks>
public static class Ops
{
    // torch functions
    public static readonly OpDef Abs        = OpRegistry.Get("torch.abs");
    public static readonly OpDef Add        = OpRegistry.Get("torch.add");
    public static readonly OpDef Addmm      = OpRegistry.Get("torch.addmm");
    public static readonly OpDef All        = OpRegistry.Get("torch.all");
    public static readonly OpDef Amax       = OpRegistry.Get("torch.amax");
    public static readonly OpDef Amin       = OpRegistry.Get("torch.amin");
    public static readonly OpDef Any        = OpRegistry.Get("torch.any");
    public static readonly OpDef Arange     = OpRegistry.Get("torch.arange");
    public static readonly OpDef Argmax     = OpRegistry.Get("torch.argmax");
    public static readonly OpDef Argmin     = OpRegistry.Get("torch.argmin");
    public static readonly OpDef Baddbmm    = OpRegistry.Get("torch.baddbmm");
    public static readonly OpDef Bmm        = OpRegistry.Get("torch.bmm");
    public static readonly OpDef Cat        = OpRegistry.Get("torch.cat");
    public static readonly OpDef Ceil       = OpRegistry.Get("torch.ceil");
    public static readonly OpDef Chunk      = OpRegistry.Get("torch.chunk");
    public static readonly OpDef Clamp      = OpRegistry.Get("torch.clamp");
    public static readonly OpDef Cos        = OpRegistry.Get("torch.cos");
    public static readonly OpDef Div        = OpRegistry.Get("torch.div");
    public static readonly OpDef Empty      = OpRegistry.Get("torch.empty");
    public static readonly OpDef EmptyLike  = OpRegistry.Get("torch.empty_like");
    public static readonly OpDef Eq         = OpRegistry.Get("torch.eq");
    public static readonly OpDef Erf        = OpRegistry.Get("torch.erf");
    public static readonly OpDef Exp        = OpRegistry.Get("torch.exp");
    public static readonly OpDef Flatten    = OpRegistry.Get("torch.flatten");
    public static readonly OpDef Flip       = OpRegistry.Get("torch.flip");
    public static readonly OpDef Floor      = OpRegistry.Get("torch.floor");
    public static readonly OpDef Full       = OpRegistry.Get("torch.full");
    public static readonly OpDef FullLike   = OpRegistry.Get("torch.full_like");
    public static readonly OpDef Ge         = OpRegistry.Get("torch.ge");
    public static readonly OpDef Gt         = OpRegistry.Get("torch.gt");
    public static readonly OpDef Le         = OpRegistry.Get("torch.le");
    public static readonly OpDef Log        = OpRegistry.Get("torch.log");
    public static readonly OpDef LogSoftmax = OpRegistry.Get("torch.log_softmax");
    public static readonly OpDef LogicalAnd = OpRegistry.Get("torch.logical_and");
    public static readonly OpDef LogicalNot = OpRegistry.Get("torch.logical_not");
    public static readonly OpDef LogicalOr  = OpRegistry.Get("torch.logical_or");
    public static readonly OpDef Logsumexp  = OpRegistry.Get("torch.logsumexp");
    public static readonly OpDef Lt         = OpRegistry.Get("torch.lt");
    public static readonly OpDef MaskedFill = OpRegistry.Get("torch.masked_fill");
    public static readonly OpDef Matmul     = OpRegistry.Get("torch.matmul");
    public static readonly OpDef Max        = OpRegistry.Get("torch.max");
    public static readonly OpDef Maximum    = OpRegistry.Get("torch.maximum");
    public static readonly OpDef Mean       = OpRegistry.Get("torch.mean");
    public static readonly OpDef Min        = OpRegistry.Get("torch.min");
    public static readonly OpDef Minimum    = OpRegistry.Get("torch.minimum");
    public static readonly OpDef Mm         = OpRegistry.Get("torch.mm");
    public static readonly OpDef Mul        = OpRegistry.Get("torch.mul");
    public static readonly OpDef Narrow     = OpRegistry.Get("torch.narrow");
    public static readonly OpDef Multinomial = OpRegistry.Get("torch.multinomial");
    public static readonly OpDef NativeMultiHeadAttention = OpRegistry.Get("torch._native_multi_head_attention");
    public static readonly OpDef Ne         = OpRegistry.Get("torch.ne");
    public static readonly OpDef Neg        = OpRegistry.Get("torch.neg");
    public static readonly OpDef Ones       = OpRegistry.Get("torch.ones");
    public static readonly OpDef OnesLike   = OpRegistry.Get("torch.ones_like");
    public static readonly OpDef Permute    = OpRegistry.Get("torch.permute");
    public static readonly OpDef Pow        = OpRegistry.Get("torch.pow");
    public static readonly OpDef Prod       = OpRegistry.Get("torch.prod");
    public static readonly OpDef Rand       = OpRegistry.Get("torch.rand");
    public static readonly OpDef RandLike   = OpRegistry.Get("torch.rand_like");
    public static readonly OpDef Randn      = OpRegistry.Get("torch.randn");
    public static readonly OpDef RandnLike  = OpRegistry.Get("torch.randn_like");
    public static readonly OpDef Reciprocal = OpRegistry.Get("torch.reciprocal");
    public static readonly OpDef Relu       = OpRegistry.Get("torch.relu");
    public static readonly OpDef Reshape    = OpRegistry.Get("torch.reshape");
    public static readonly OpDef Roll       = OpRegistry.Get("torch.roll");
    public static readonly OpDef Round      = OpRegistry.Get("torch.round");
    public static readonly OpDef Rsqrt      = OpRegistry.Get("torch.rsqrt");
    public static readonly OpDef Sigmoid    = OpRegistry.Get("torch.sigmoid");
    public static readonly OpDef Sign       = OpRegistry.Get("torch.sign");
    public static readonly OpDef Sin        = OpRegistry.Get("torch.sin");
    public static readonly OpDef Softmax    = OpRegistry.Get("torch.softmax");
    public static readonly OpDef Split      = OpRegistry.Get("torch.split");
    public static readonly OpDef Sqrt       = OpRegistry.Get("torch.sqrt");
    public static readonly OpDef Squeeze    = OpRegistry.Get("torch.squeeze");
    public static readonly OpDef Stack      = OpRegistry.Get("torch.stack");
    public static readonly OpDef Std        = OpRegistry.Get("torch.std");
    public static readonly OpDef Sub        = OpRegistry.Get("torch.sub");
    public static readonly OpDef Sum        = OpRegistry.Get("torch.sum");
    public static readonly OpDef T          = OpRegistry.Get("torch.t");
    public static readonly OpDef Tanh       = OpRegistry.Get("torch.tanh");
    public static readonly OpDef Transpose  = OpRegistry.Get("torch.transpose");
    public static readonly OpDef Unbind     = OpRegistry.Get("torch.unbind");
    public static readonly OpDef Unsqueeze  = OpRegistry.Get("torch.unsqueeze");
    public static readonly OpDef Var        = OpRegistry.Get("torch.var");
    public static readonly OpDef Where      = OpRegistry.Get("torch.where");
    public static readonly OpDef Zeros      = OpRegistry.Get("torch.zeros");
    public static readonly OpDef ZerosLike  = OpRegistry.Get("torch.zeros_like");

    // torch.nn.functional
    public static readonly OpDef AdaptiveAvgPool2d    = OpRegistry.Get("torch.nn.functional.adaptive_avg_pool2d");
    public static readonly OpDef AvgPool2d            = OpRegistry.Get("torch.nn.functional.avg_pool2d");
    public static readonly OpDef BatchNorm            = OpRegistry.Get("torch.nn.functional.batch_norm");
    public static readonly OpDef Conv1d               = OpRegistry.Get("torch.nn.functional.conv1d");
    public static readonly OpDef Conv2d               = OpRegistry.Get("torch.nn.functional.conv2d");
    public static readonly OpDef MkldnnConvolution    = OpRegistry.Get("torch.mkldnn_convolution");
    public static readonly OpDef Dropout              = OpRegistry.Get("torch.nn.functional.dropout");
    public static readonly OpDef Bernoulli            = OpRegistry.Get("torch.bernoulli");
    public static readonly OpDef Embedding            = OpRegistry.Get("torch.nn.functional.embedding");
    public static readonly OpDef Gelu                 = OpRegistry.Get("torch.nn.functional.gelu");
    public static readonly OpDef GroupNorm            = OpRegistry.Get("torch.nn.functional.group_norm");
    public static readonly OpDef LayerNorm            = OpRegistry.Get("torch.nn.functional.layer_norm");
    public static readonly OpDef Linear               = OpRegistry.Get("torch.nn.functional.linear");
    public static readonly OpDef FunctionalLogSoftmax = OpRegistry.Get("torch.nn.functional.log_softmax");
    public static readonly OpDef MaxPool2d            = OpRegistry.Get("torch.nn.functional.max_pool2d");
    public static readonly OpDef FunctionalRelu       = OpRegistry.Get("torch.nn.functional.relu");
    public static readonly OpDef Silu                 = OpRegistry.Get("torch.nn.functional.silu");
    public static readonly OpDef FunctionalSoftmax    = OpRegistry.Get("torch.nn.functional.softmax");

    // torch._C._nn: the piecewise-linear activations (F.hardtanh, F.relu6, F.hardsigmoid, F.hardswish call them)
    public static readonly OpDef Hardsigmoid = OpRegistry.Get("torch._C._nn.hardsigmoid");
    public static readonly OpDef Hardswish   = OpRegistry.Get("torch._C._nn.hardswish");
    public static readonly OpDef Hardtanh    = OpRegistry.Get("torch._C._nn.hardtanh");
    public static readonly OpDef Relu6       = OpRegistry.Get("torch._C._nn.relu6");
    public static readonly OpDef SiluC       = OpRegistry.Get("torch._C._nn.silu");
    public static readonly OpDef HardsigmoidInPlace = OpRegistry.Get("torch._C._nn.hardsigmoid_");
    public static readonly OpDef HardswishInPlace   = OpRegistry.Get("torch._C._nn.hardswish_");
    public static readonly OpDef HardtanhInPlace    = OpRegistry.Get("torch._C._nn.hardtanh_");
    public static readonly OpDef Relu6InPlace       = OpRegistry.Get("torch._C._nn.relu6_");
    public static readonly OpDef SiluInPlace        = OpRegistry.Get("torch._C._nn.silu_");

    // Tensor methods
    public static readonly OpDef Bfloat16   = OpRegistry.Get("Tensor.bfloat16");
    public static readonly OpDef Bool       = OpRegistry.Get("Tensor.bool");
    public static readonly OpDef Contiguous = OpRegistry.Get("Tensor.contiguous");
    public static readonly OpDef Double     = OpRegistry.Get("Tensor.double");
    public static readonly OpDef Expand     = OpRegistry.Get("Tensor.expand");
    public static readonly OpDef Float      = OpRegistry.Get("Tensor.float");
    public static readonly OpDef Half       = OpRegistry.Get("Tensor.half");
    public static readonly OpDef Int        = OpRegistry.Get("Tensor.int");
    public static readonly OpDef Long       = OpRegistry.Get("Tensor.long");
    public static readonly OpDef Repeat     = OpRegistry.Get("Tensor.repeat");
    public static readonly OpDef To         = OpRegistry.Get("Tensor.to");
    public static readonly OpDef TypeAs     = OpRegistry.Get("Tensor.type_as");
    public static readonly OpDef Unflatten  = OpRegistry.Get("Tensor.unflatten");
    public static readonly OpDef View       = OpRegistry.Get("Tensor.view");

    // in-place Tensor methods (Functionalize rewrites them to their functional op)
    public static readonly OpDef AbsInPlace        = OpRegistry.Get("Tensor.abs_");
    public static readonly OpDef AddInPlace        = OpRegistry.Get("Tensor.add_");
    public static readonly OpDef ClampInPlace      = OpRegistry.Get("Tensor.clamp_");
    public static readonly OpDef CopyInPlace       = OpRegistry.Get("Tensor.copy_");
    public static readonly OpDef DivInPlace        = OpRegistry.Get("Tensor.div_");
    public static readonly OpDef ExpInPlace        = OpRegistry.Get("Tensor.exp_");
    public static readonly OpDef FillInPlace       = OpRegistry.Get("Tensor.fill_");
    public static readonly OpDef MaskedFillInPlace = OpRegistry.Get("Tensor.masked_fill_");
    public static readonly OpDef MulInPlace        = OpRegistry.Get("Tensor.mul_");
    public static readonly OpDef NegInPlace        = OpRegistry.Get("Tensor.neg_");
    public static readonly OpDef PowInPlace        = OpRegistry.Get("Tensor.pow_");
    public static readonly OpDef ReluInPlace       = OpRegistry.Get("Tensor.relu_");
    public static readonly OpDef SigmoidInPlace    = OpRegistry.Get("Tensor.sigmoid_");
    public static readonly OpDef SqrtInPlace       = OpRegistry.Get("Tensor.sqrt_");
    public static readonly OpDef SubInPlace        = OpRegistry.Get("Tensor.sub_");
    public static readonly OpDef TanhInPlace       = OpRegistry.Get("Tensor.tanh_");
    public static readonly OpDef ZeroInPlace       = OpRegistry.Get("Tensor.zero_");

    // aten ops: pooling with indices and the backward kernels of compiled backward graphs
    public static readonly OpDef AdaptiveAvgPool2dBackward    = OpRegistry.Get("torch.ops.aten._adaptive_avg_pool2d_backward");
    public static readonly OpDef AvgPool2dBackward            = OpRegistry.Get("torch.ops.aten.avg_pool2d_backward");
    public static readonly OpDef ConvolutionBackward          = OpRegistry.Get("torch.ops.aten.convolution_backward");
    public static readonly OpDef EmbeddingDenseBackward       = OpRegistry.Get("torch.ops.aten.embedding_dense_backward");
    public static readonly OpDef MaxPool2dWithIndices         = OpRegistry.Get("torch.ops.aten.max_pool2d_with_indices");
    public static readonly OpDef MaxPool2dWithIndicesBackward = OpRegistry.Get("torch.ops.aten.max_pool2d_with_indices_backward");
    public static readonly OpDef SelectBackward               = OpRegistry.Get("torch.ops.aten.select_backward");
    public static readonly OpDef SliceBackward                = OpRegistry.Get("torch.ops.aten.slice_backward");

    // Python's operators and torch's global state
    public static readonly OpDef GetItem                    = OpRegistry.Get("operator.getitem");
    public static readonly OpDef SetItem                    = OpRegistry.Get("operator.setitem");
    public static readonly OpDef SetGradEnabled             = OpRegistry.Get("torch._C._set_grad_enabled");
    public static readonly OpDef TransformerEncoderLayerFwd = OpRegistry.Get("torch._transformer_encoder_layer_fwd");

    // oneDNN's blocked layout (OneDnnLayoutPass)
    public static readonly OpDef OneDnnToBlocked         = OpRegistry.Get("capture._onednn.to_blocked");
    public static readonly OpDef OneDnnToDense           = OpRegistry.Get("capture._onednn.to_dense");
    public static readonly OpDef OneDnnConv2d            = OpRegistry.Get("capture._onednn.conv2d");
    public static readonly OpDef OneDnnRelu              = OpRegistry.Get("capture._onednn.relu");
    public static readonly OpDef OneDnnSigmoid           = OpRegistry.Get("capture._onednn.sigmoid");
    public static readonly OpDef OneDnnHardtanh          = OpRegistry.Get("capture._onednn.hardtanh");
    public static readonly OpDef OneDnnHardtanhInPlace   = OpRegistry.Get("capture._onednn.hardtanh_");
    public static readonly OpDef OneDnnAdd               = OpRegistry.Get("capture._onednn.add");
    public static readonly OpDef OneDnnReluInPlace       = OpRegistry.Get("capture._onednn.relu_");
    public static readonly OpDef OneDnnAddInPlace        = OpRegistry.Get("capture._onednn.add_");
    public static readonly OpDef OneDnnMul               = OpRegistry.Get("capture._onednn.mul");
    public static readonly OpDef OneDnnMaxPool2d         = OpRegistry.Get("capture._onednn.max_pool2d");
    public static readonly OpDef OneDnnAvgPool2d         = OpRegistry.Get("capture._onednn.avg_pool2d");
    public static readonly OpDef OneDnnAdaptiveAvgPool2d = OpRegistry.Get("capture._onednn.adaptive_avg_pool2d");
}
