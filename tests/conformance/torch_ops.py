"""torch functions and Tensor methods, registry or not: each enters the graph (ops outside Capture's
registry through torch's fake tensors), with gradients where they have them; torch.device, dtype,
Size, finfo/iinfo values as arguments; indexing with lists and integer tensors."""

import torch
import torch.nn.functional as F

from harness import case


def idx():
    return torch.randn(4, 5), torch.tensor([0, 2, 3, 1])


def op_case(name, fn, args=None, grad=False, breaks=0, limit=None, atol=1e-5):
    fn.__name__ = name
    fn.__code__ = fn.__code__.replace(co_name=name)
    case(args=args, grad=grad, breaks=breaks, limit=limit, atol=atol)(fn)


# (name, function, differentiable): the list first, then a broad sample of torch's API
OPS = [
    ("square", lambda x: x.square(), True),
    ("clamp_min", lambda x: x.clamp_min(0.1), True),
    ("topk_values", lambda x: x.topk(2, dim=1).values, True),
    ("topk_indices", lambda x: x.topk(3).indices, False),
    ("cumsum", lambda x: x.cumsum(1), True),
    ("cumprod", lambda x: torch.cumprod(x, 0), True),
    ("clone", lambda x: x.clone() * 2, True),
    ("norm", lambda x: x.norm(), True),
    ("norm_dim", lambda x: torch.norm(x, dim=1, p=2), True),
    ("movedim", lambda x: x.movedim(0, 1) * 2, True),
    ("median", lambda x: x.median(1).values, True),
    ("new_zeros", lambda x: x.new_zeros(3, 2) + 1, False),
    ("new_ones_full", lambda x: x.new_ones(2) + x.new_full((2,), 3.0), False),
    ("new_tensor", lambda x: x.new_tensor([1.0, 2.0]) * 2, False),
    ("new_empty_shape", lambda x: x.new_empty(3, 4).shape[0] * x, False),
    ("triu", lambda x: x.triu(), True),
    ("tril_diagonal", lambda x: torch.tril(x, diagonal=-1), True),
    ("einsum", lambda x: torch.einsum("ij,kj->ik", x, x), True),
    ("one_hot_num_classes", lambda x: F.one_hot(x.argmax(1), 5).float(), False),
    ("count_nonzero", lambda x: torch.count_nonzero(x > 0, dim=1), False),
    ("logsumexp", lambda x: x.logsumexp(1), True),
    ("logcumsumexp", lambda x: x.logcumsumexp(0), True),
    ("cummax", lambda x: x.cummax(1).values, True),
    ("sort", lambda x: x.sort(1).values, True),
    ("argsort", lambda x: x.argsort(1, descending=True), False),
    ("kthvalue", lambda x: x.kthvalue(2, 1).values, True),
    ("mode", lambda x: x.round().mode(1).values, False),
    ("flip", lambda x: x.flip(0), True),
    ("roll", lambda x: x.roll(1, 1), True),
    ("rot90", lambda x: x.rot90(1, (0, 1)), True),
    ("diag", lambda x: x[:, :4].diag(), True),
    ("diagonal", lambda x: x.diagonal() * 2, True),
    ("trace", lambda x: x[:, :4].trace(), True),
    ("outer", lambda x: torch.outer(x[0], x[1]), True),
    ("cross", lambda x: torch.cross(x[:, :3], x[:, 1:4], dim=1), True),
    ("kron", lambda x: torch.kron(x[:2, :2], x[:2, :2]), True),
    ("cdist", lambda x: torch.cdist(x, x), True),
    ("dist", lambda x: torch.dist(x[0], x[1]), True),
    ("tensordot", lambda x: torch.tensordot(x, x, dims=([1], [1])), True),
    ("block_diag", lambda x: torch.block_diag(x[:2, :2], x[2:, :3]), True),
    ("meshgrid", lambda x: torch.meshgrid(x[0], x[1, :3], indexing="ij")[0], True),
    ("cartesian_prod", lambda x: torch.cartesian_prod(x[0, :2], x[1, :3]), True),
    ("split_sizes", lambda x: torch.split(x, [2, 3], dim=1)[1], True),
    ("tensor_split", lambda x: torch.tensor_split(x, 3, dim=1)[2], True),
    ("unbind", lambda x: x.unbind(0)[2], True),
    ("unflatten", lambda x: x.unflatten(1, (5, 1)), True),
    ("swapaxes", lambda x: x.swapaxes(0, 1), True),
    ("narrow", lambda x: x.narrow(1, 1, 3), True),
    ("take_along_dim", lambda x: torch.take_along_dim(x, x.argmax(1, keepdim=True), 1), True),
    ("gather", lambda x: x.gather(1, x.argsort(1)), True),
    ("scatter", lambda x: torch.zeros(4, 5).scatter(1, x.argsort(1), x), True),
    ("scatter_add", lambda x: torch.zeros(4, 5).scatter_add(1, x.argsort(1), x), True),
    ("index_add", lambda x: torch.zeros(4, 5).index_add(0, torch.tensor([1, 0, 3, 2]), x), True),
    ("index_select", lambda x: x.index_select(1, torch.tensor([4, 0])), True),
    ("masked_fill", lambda x: x.masked_fill(x > 0.5, 0.0), True),
    ("where_scalar", lambda x: torch.where(x > 0, x, 0.0), True),
    ("lerp", lambda x: torch.lerp(x, x.flip(0), 0.3), True),
    ("addcmul", lambda x: torch.addcmul(x, x, x, value=0.5), True),
    ("addcdiv", lambda x: torch.addcdiv(x, x, x.abs() + 1, value=0.5), True),
    ("hypot_atan2", lambda x: torch.hypot(x, x.flip(0)) + torch.atan2(x, x.flip(1)), True),
    ("trig", lambda x: x.sin() + x.cos() + x.tan().clamp(-5, 5) + x.asin().nan_to_num() + x.atan(), True),
    ("hyperbolic", lambda x: x.sinh() + x.cosh() + x.tanh() + x.asinh(), True),
    ("log_family", lambda x: x.abs().log1p() + x.abs().add(1).log2() + x.abs().add(1).log10() + x.expm1(), True),
    ("rounding", lambda x: x.floor() + x.ceil() + x.round() + x.trunc() + x.frac(), False),
    ("sign_family", lambda x: x.sign() + x.sgn() + x.signbit().float(), False),
    ("erf_family", lambda x: x.erf() + x.erfc() + torch.special.erfinv(x.clamp(-0.9, 0.9)), True),
    ("special_functions", lambda x: torch.special.i0(x) + torch.special.xlogy(x.abs(), x.abs() + 1) + torch.special.expit(x), True),
    ("digamma_lgamma", lambda x: x.abs().add(1).lgamma() + x.abs().add(1).digamma(), True),
    ("fmod_remainder", lambda x: torch.fmod(x, 0.3) + torch.remainder(x, 0.3), False),
    ("floor_divide", lambda x: torch.floor_divide(x, 0.3), False),
    ("bitwise", lambda x: (x > 0).logical_xor(x < 0.5).float() + torch.bitwise_and(x.long(), 3).float(), False),
    ("isnan_isinf", lambda x: x.isnan().float() + x.isinf().float() + x.isfinite().float(), False),
    ("clamp_tensor", lambda x: x.clamp(min=x.mean(), max=x.max()), True),
    ("std_var", lambda x: x.std(1) + x.var(0).sum() + torch.std_mean(x, 1)[0], True),
    ("var_mean", lambda x: torch.var_mean(x, 0, unbiased=False)[1], True),
    ("prod_dim", lambda x: x.prod(1), True),
    ("aminmax", lambda x: torch.aminmax(x, dim=1).max, False),
    ("nansum_nanmean", lambda x: x.nansum(1) + x.nanmean(0).sum(), True),
    ("renorm", lambda x: x.renorm(2, 0, 1.0), True),
    ("normalize", lambda x: F.normalize(x, dim=1), True),
    ("cosine_similarity", lambda x: F.cosine_similarity(x, x.flip(0)), True),
    ("pairwise_distance", lambda x: F.pairwise_distance(x, x.flip(0)), True),
    ("pad_constant", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), True),
    ("pad_reflect", lambda x: F.pad(x[None], (1, 1), mode="reflect")[0], True),
    ("interpolate", lambda x: F.interpolate(x[None], scale_factor=2, mode="linear", align_corners=False)[0], True),
    ("unfold", lambda x: x.unfold(1, 2, 1), True),
    ("fold_unfold", lambda x: F.unfold(x[None, None], 2)[0], True),
    ("softmin_softsign", lambda x: F.softmin(x, 1) + F.softsign(x), True),
    ("glu", lambda x: F.glu(x[:, :4], dim=1), True),
    ("logsigmoid_tanhshrink", lambda x: F.logsigmoid(x) + F.tanhshrink(x) + F.softshrink(x) + F.hardshrink(x), True),
    ("celu_selu_rrelu_eval", lambda x: F.celu(x) + F.selu(x) + F.rrelu(x, training=False), True),
    ("threshold", lambda x: F.threshold(x, 0.1, 20.0), True),
    ("prelu", lambda x: F.prelu(x, torch.tensor([0.25])), True),
    ("mse_l1_smooth", lambda x: F.mse_loss(x, x.flip(0)) + F.l1_loss(x, x.flip(1)) + F.smooth_l1_loss(x, x * 0.5), True),
    ("huber_kl", lambda x: F.huber_loss(x, x * 0.3) + F.kl_div(x.log_softmax(1), x.softmax(1), reduction="batchmean"), True),
    ("bce_with_logits", lambda x: F.binary_cross_entropy_with_logits(x, (x > 0).float()), True),
    ("bce", lambda x: F.binary_cross_entropy(x.sigmoid(), (x > 0).float()), True),
    ("nll_loss", lambda x: F.nll_loss(x.log_softmax(1), torch.tensor([0, 2, 4, 1])), True),
    ("cross_entropy_label_smoothing", lambda x: F.cross_entropy(x, torch.tensor([0, 2, 4, 1]), label_smoothing=0.1), True),
    ("cross_entropy_probs", lambda x: F.cross_entropy(x, x.flip(0).softmax(1)), True),
    ("margin_ranking", lambda x: F.margin_ranking_loss(x[0], x[1], torch.ones(5)), True),
    ("triplet_margin", lambda x: F.triplet_margin_loss(x, x.flip(0), x.roll(1, 0)), True),
    ("cosine_embedding", lambda x: F.cosine_embedding_loss(x, x.flip(0), torch.ones(4)), True),
    ("stack_hstack_vstack", lambda x: torch.hstack([x, x]).sum(1) + torch.vstack([x, x]).sum(0).sum(), True),
    ("dstack_column_stack", lambda x: torch.dstack([x, x]).sum(2) + torch.column_stack([x, x])[:, :5], True),
    ("atleast", lambda x: torch.atleast_3d(x).sum(2) + torch.atleast_2d(x[0]).sum(), True),
    ("broadcast_to_tensors", lambda x: torch.broadcast_to(x[0], (3, 5)).sum(0) + torch.broadcast_tensors(x, x[0])[1].sum(0), True),
    ("repeat_tile", lambda x: x.repeat(2, 1).sum(0) + x.tile((1, 2)).sum(1).sum(), True),
    ("repeat_interleave_int", lambda x: x.repeat_interleave(2, dim=0), True),
    ("expand_as_view_as", lambda x: x[0].expand_as(x) + x.flatten().view_as(x), True),
    ("type_as_to_dtype", lambda x: x.to(torch.float64).type_as(x) + x.double().float(), True),
    ("to_dtype_keyword", lambda x: x.to(dtype=torch.float16).to(torch.float32), True),
    ("half_bfloat16", lambda x: x.bfloat16().float() + x.half().float(), False),
    ("int_ops", lambda x: (x * 10).long() // 3 % 4 + (x * 10).int().abs(), False),
    ("arange_device", lambda x: x + torch.arange(0, 5, device=x.device), False),
    ("zeros_dtype_device", lambda x: x + torch.zeros(5, dtype=x.dtype, device=x.device), False),
    ("linspace_logspace", lambda x: x + torch.linspace(0, 1, 5) + torch.logspace(0, 1, 5), False),
    ("eye_full", lambda x: x[:, :4] @ torch.eye(4) + torch.full((4, 4), 2.0), False),
    ("zeros_like_ones_like_full_like", lambda x: torch.zeros_like(x) + torch.ones_like(x) + torch.full_like(x, 3.0), False),
    ("empty_like_shape", lambda x: torch.empty_like(x).shape[1] * x, False),
    ("tensor_from_list", lambda x: x * torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), False),
    ("as_tensor_scalar", lambda x: x * torch.as_tensor(2.0), False),
    ("finfo_iinfo", lambda x: x.clamp(min=torch.finfo(x.dtype).min) + torch.iinfo(torch.int32).bits, False),
    ("finfo_eps", lambda x: x / (x.abs() + torch.finfo(torch.float32).eps), True),
    ("dtype_attributes", lambda x: x * (2 if x.dtype.is_floating_point else 1) * x.element_size(), False),
    ("device_type", lambda x: x * (2 if x.device.type == "cpu" else 1), False),
    ("stride_and_contiguous", lambda x: x.t().contiguous() * x.stride(0) + x.t().is_contiguous(), False),
    ("as_strided", lambda x: x.as_strided((2, 2), (5, 1)) * 2, True),
    ("storage_offset_view", lambda x: x[1:].storage_offset() * x, False),
    ("ndim_shape_props", lambda x: x * x.ndim * x.numel() + x.T.shape[0] + x.mT.shape[0], False),
    ("detach_requires_grad", lambda x: x.detach() * (2 if x.requires_grad else 1), False),
    ("advanced_index_list", lambda x: x[[0, 2, 3]] + x[[1, 1, 0]], True),
    ("advanced_index_two_lists", lambda x: x[[0, 1], [2, 3]], True),
    ("boolean_mask_constant_rows_limit", lambda x: x[torch.tensor([True, False, True, False])], True),
    ("index_put_functional", lambda x: x.index_put((torch.tensor([0, 2]),), torch.ones(2, 5)), True),
    ("setitem_slice_clone", lambda x: _setitem(x), True),
    ("chunk_cat", lambda x: torch.cat(x.chunk(5, 1)[::-1], dim=1), True),
    ("cat_keywords", lambda x: torch.cat(tensors=[x, x], dim=0), True),
    ("stack_negative_dim", lambda x: torch.stack([x, x], dim=-1), True),
    ("matmul_family", lambda x: (x @ x.t()).mm(x).sum(1) + torch.bmm(x[None], x.t()[None])[0].sum(0).sum() + x[0].dot(x[1]), True),
    ("addmm_baddbmm", lambda x: torch.addmm(x[:, :4], x, x.t()) + torch.baddbmm(x[None, :, :4], x[None], x.t()[None])[0], True),
    ("linalg_norms", lambda x: torch.linalg.vector_norm(x, dim=1) + torch.linalg.matrix_norm(x), True),
    ("linalg_solve", lambda x: torch.linalg.solve(x[:, :4] + 4 * torch.eye(4), x[:, 4]), True),
    ("linalg_inv_det", lambda x: torch.linalg.inv(x[:, :4] + 4 * torch.eye(4)).sum() + torch.det(x[:, :4] + 4 * torch.eye(4)), True),
    ("svd_values", lambda x: torch.linalg.svdvals(x), True),
    ("qr", lambda x: torch.linalg.qr(x)[1].abs(), True),
    ("cholesky", lambda x: torch.linalg.cholesky(x @ x.t() + torch.eye(4)), True),
    ("fft", lambda x: torch.fft.rfft(x).abs(), True),
    ("histc", lambda x: torch.histc(x, bins=4, min=-2, max=2), False),
    ("bucketize", lambda x: torch.bucketize(x, torch.tensor([-1.0, 0.0, 1.0])), False),
    ("searchsorted", lambda x: torch.searchsorted(torch.tensor([-1.0, 0.0, 1.0]), x.contiguous()), False),
    ("maximum_fmax", lambda x: torch.maximum(x, x.flip(0)) + torch.fmax(x, x.flip(1)) + torch.fmin(x, x * 0.5), True),
    ("max_min_binary_dim", lambda x: torch.max(x, x.flip(0)) + torch.min(x, 1, keepdim=True).values, True),
    ("argmax_argmin_all", lambda x: x.argmax() + x.argmin(), False),
    ("all_any_dims", lambda x: (x > 0).all(1).float() + (x > 0).any(0).float().sum(), False),
    ("eq_allclose_like", lambda x: torch.eq(x, x).float() + torch.isclose(x, x * 1.0000001).float(), False),
    ("sum_dtype", lambda x: x.sum(1, dtype=torch.float64), True),
    ("mean_tuple_dims", lambda x: x[None].mean((0, 2)), True),
    ("softmax_dtype", lambda x: x.softmax(1, dtype=torch.float64), True),
    ("log_softmax_module_fn", lambda x: torch.log_softmax(x, -1), True),
    ("dropout_p0", lambda x: F.dropout(x, 0.0) + F.dropout(x, 0.5, training=False), True),
    ("sigmoid_tanh_relu_methods", lambda x: x.sigmoid() + x.tanh() + x.relu() + x.neg().abs().sqrt().rsqrt().clamp(max=10), True),
    ("pow_variants", lambda x: x.pow(2) + torch.pow(2.0, x) + x.abs().pow(x.abs()) + x ** 3, True),
    ("reciprocal_exp2", lambda x: (x.abs() + 1).reciprocal() + torch.exp2(x) + x.abs().add(1).log().exp(), True),
    ("polar_complex_abs", lambda x: torch.polar(x.abs(), x).abs(), True),
    ("conv2d_functional", lambda x: F.conv2d(x[None, None], torch.ones(2, 1, 2, 2), padding=1), True),
    ("max_pool_return_indices", lambda x: F.max_pool2d(x[None, None], 2, return_indices=True)[1], False),
    ("adaptive_pools", lambda x: F.adaptive_max_pool2d(x[None], (2, 2)) + F.adaptive_avg_pool1d(x[None], 2).sum(), True),
    ("avg_pool1d", lambda x: F.avg_pool1d(x[None], 2), True),
    ("embedding_functional", lambda x: F.embedding(torch.tensor([[0, 3], [2, 1]]), x), True),
    ("embedding_bag", lambda x: F.embedding_bag(torch.tensor([0, 3, 2, 1]), x, torch.tensor([0, 2])), True),
    ("grid_sample", lambda x: F.grid_sample(x[None, None], torch.zeros(1, 2, 2, 2), align_corners=False), True),
    ("affine_grid", lambda x: F.affine_grid(torch.eye(2, 3)[None], [1, 1, 3, 3], align_corners=False).sum() * x, False),
    ("batch_norm_functional_eval", lambda x: F.batch_norm(x, torch.zeros(5), torch.ones(5), training=False), True),
    ("layer_norm_group_norm_functional", lambda x: F.layer_norm(x, (5,)) + F.group_norm(x[None], 2).squeeze(0).sum(), True),
    ("local_response_norm", lambda x: F.local_response_norm(x[None], 2)[0], True),
    ("scaled_dot_product_manual", lambda x: (x @ x.t() / 5 ** 0.5).softmax(-1) @ x, True),
    ("complex_view", lambda x: torch.view_as_real(torch.view_as_complex(x[:, :4].reshape(4, 2, 2).contiguous())).sum() * x, True),
    ("bincount_like_via_one_hot", lambda x: F.one_hot(torch.tensor([0, 1, 1, 3]), 4).sum(0) * x[:, :4], True),
    ("nan_to_num", lambda x: torch.nan_to_num(x / (x - x[0])), False),
    ("sort_stable", lambda x: torch.sort(x.round(), stable=True, dim=1).indices, False),
    ("unique_consecutive_limit", lambda x: torch.unique_consecutive(x.round()), False),
    ("nonzero_limit", lambda x: x.nonzero(), False),
    ("max_pool_indices_values_grad", lambda x: F.max_pool2d(x[None, None], 2, return_indices=True)[0] * 2, True),
    ("adaptive_max_pool_indices", lambda x: F.adaptive_max_pool2d(x[None, None], 2, return_indices=True)[1], False),
    ("repeat_interleave_flat", lambda x: x.repeat_interleave(3) * 2, True),
    ("repeat_interleave_tensor_limit", lambda x: x.repeat_interleave(torch.tensor([1, 2, 1, 2]), dim=0), False),
    ("cdist_p1_grad", lambda x: torch.cdist(x, x * 2, p=1.0), True),
    ("masked_select_limit", lambda x: x.masked_select(x > 0), False),
]

# data-dependent result sizes: the value decides the shape, so the graph ends before them (Dynamo
# breaks there too, without capture_dynamic_output_shape_ops)
DATA_DEPENDENT = {"unique_consecutive_limit", "repeat_interleave_tensor_limit", "nonzero_limit", "masked_select_limit", "boolean_mask_constant_rows_limit"}


def _setitem(x):
    y = x.clone()
    y[1:3, ::2] = 0.5
    y[0] = y[3] * 2
    return y


for name, fn, differentiable in OPS:
    breaks = 1 if name in DATA_DEPENDENT else 0
    op_case(name, fn, grad=differentiable, breaks=breaks)


op_case("integer_tensor_index", lambda x, i: x[i], args=idx, grad=True)
op_case("integer_tensor_index_2d", lambda x, i: x[i, i.flip(0)], args=idx, grad=True)
op_case("integer_tensor_index_columns", lambda x, i: x[:, i], args=idx, grad=True)
op_case("index_with_tensor_setitem_clone", lambda x, i: x.clone().index_fill(0, i[:2], 0.0), args=idx, grad=True)
op_case("gather_by_argument", lambda x, i: x.gather(1, i[:, None]), args=idx, grad=True)
op_case("embedding_by_argument", lambda x, i: F.embedding(i, x), args=idx, grad=True)
op_case("cross_entropy_target", lambda x, i: F.cross_entropy(x, i), args=idx, grad=True)
op_case("one_hot_argument", lambda x, i: F.one_hot(i, 5).float() * x, args=idx, grad=True)
op_case("dtype_argument", lambda x, dt: x.to(dt) * 2, args=lambda: (torch.randn(4, 5), torch.float64))
op_case("device_argument", lambda x, d: torch.zeros(3, device=d) + x[0, :3], args=lambda: (torch.randn(4, 5), torch.device("cpu")))
op_case("size_argument", lambda x, s: x.reshape(s), args=lambda: (torch.randn(4, 5), torch.Size([5, 4])))
op_case("pair_of_size", lambda x: torch.zeros(torch.nn.modules.utils._pair(x.size(0))) + x[:, :4])
op_case("item_in_python", lambda x: x * x.sum().item(), breaks=1)
op_case("tolist_in_python", lambda x: x * sum(x[0].tolist()), breaks=1)
