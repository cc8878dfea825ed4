"""Per-op-kind times of PyTorch training steps, named as sublinear's op kinds, for
bench/op_profile_vs_torch.sh.

profile_steps(step, steps) runs `step` under torch.profiler and returns {kind: seconds per step} of
self CPU time, where kind is the sublinear op the aten op implements (conv2d, batch_norm, relu,
linear, ...), or "other: aten::name" when there is none. Forward and backward ops of a kind are summed
(e.g. aten::convolution_backward into conv2d), as in sublinear's profile, where a node's forward,
recompute and backward seconds are kept per node.
"""
import collections

import torch

# aten op name prefix -> sublinear op kind. Longest prefix wins.
KINDS = {
    "aten::mkldnn_convolution": "conv2d", "aten::convolution": "conv2d", "aten::_convolution": "conv2d",
    "aten::conv2d": "conv2d", "aten::convolution_backward": "conv2d", "aten::_slow_conv2d_forward": "conv2d",
    "aten::_slow_conv2d_backward": "conv2d", "aten::thnn_conv2d": "conv2d", "aten::_nnpack_available": "conv2d",
    "aten::native_batch_norm": "batch_norm", "aten::batch_norm": "batch_norm",
    "aten::_batch_norm_impl_index": "batch_norm", "aten::native_batch_norm_backward": "batch_norm",
    "aten::_native_batch_norm_legit": "batch_norm", "aten::_batch_norm_with_update": "batch_norm",
    "aten::batch_norm_backward": "batch_norm",
    "aten::relu": "relu", "aten::clamp_min": "relu", "aten::threshold_backward": "relu",
    "aten::sigmoid": "sigmoid", "aten::sigmoid_backward": "sigmoid",
    "aten::tanh": "tanh", "aten::tanh_backward": "tanh",
    "aten::add": "add", "aten::add_": "add", "aten::mul": "mul", "aten::sum": "add_n",
    "aten::addmm": "linear", "aten::mm": "linear", "aten::linear": "linear", "aten::matmul": "linear",
    "aten::t": "linear",
    "aten::mean": "global_avg_pool", "aten::mean_backward": "global_avg_pool",
    "aten::cross_entropy_loss": "softmax_cross_entropy", "aten::_log_softmax": "softmax_cross_entropy",
    "aten::_log_softmax_backward_data": "softmax_cross_entropy", "aten::nll_loss": "softmax_cross_entropy",
    "aten::nll_loss_forward": "softmax_cross_entropy", "aten::nll_loss_backward": "softmax_cross_entropy",
    "aten::log_softmax": "softmax_cross_entropy",
    "aten::chunk": "split", "aten::split": "split", "aten::cat": "concat", "aten::stack": "stack",
    "aten::select": "slice", "aten::slice": "slice", "aten::select_backward": "slice",
    "aten::zeros": "zeros", "aten::new_zeros": "zeros", "aten::nll_loss_nd": "softmax_cross_entropy",
}
# Tensor bookkeeping and the optimizer's in-place updates, which sublinear's profile does not time
# (its arena is planned; the optimizer runs after the step's nodes).
OTHER = ("aten::empty", "aten::as_strided", "aten::resize", "aten::view", "aten::detach", "aten::to",
         "aten::_to_copy", "aten::copy_", "aten::fill_", "aten::zero_", "aten::expand", "aten::transpose",
         "aten::resolve_conj", "aten::unsqueeze", "aten::contiguous", "aten::clone", "aten::ones_like",
         "aten::div", "aten::mul_", "aten::add_", "aten::reshape", "aten::_unsafe_view", "aten::lerp_",
         "aten::addcmul_", "aten::addcdiv_", "aten::sqrt", "aten::_foreach")


def kind_of(name):
    if name.startswith(OTHER) and name not in KINDS:
        return "not timed by sublinear: bookkeeping, optimizer"
    best = None
    for prefix, kind in KINDS.items():
        if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, kind)
    return best[1] if best else "other: " + name


def profile_steps(step, steps):
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    out = collections.defaultdict(float)
    for e in prof.key_averages():
        if not e.key.startswith("aten::"):
            continue  # autograd and optimizer wrappers; their aten ops are counted themselves
        out[kind_of(e.key)] += e.self_cpu_time_total / 1e6 / steps
    return dict(out)
