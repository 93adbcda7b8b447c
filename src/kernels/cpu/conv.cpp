// The hybrid's convolutions through oneDNN: forward, backward data and backward weights of a
// bias-free 2-D convolution with NHWC activations (the stem may read NCHW images) and PyTorch's
// [O, C, k, k] weights, primitives built once per shape and kept. oneDNN picks the weight layout
// of each primitive (with plain [O, C, k, k] weights it falls back to its slow reference loops);
// weights are reordered into it, and weight gradients out of it, at every call. Weight standardisation
// (timm's StdConv2d) is ours: per output channel, w_hat = (w - mean) / sqrt(var + eps).

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

#include "kernels/kernels.h"

namespace vit::cpu {

ConvShape same_conv_shape(int64_t B, int64_t C, int64_t H, int64_t W, int64_t O, int64_t kernel,
                          int64_t stride, bool nchw_input) {
    ConvShape s{.B = B, .C = C, .H = H, .W = W, .O = O, .kernel = kernel, .stride = stride};
    s.OH = (H + stride - 1) / stride;
    s.OW = (W + stride - 1) / stride;
    s.pad_top = std::max<int64_t>((s.OH - 1) * stride + kernel - H, 0) / 2;
    s.pad_left = std::max<int64_t>((s.OW - 1) * stride + kernel - W, 0) / 2;
    s.nchw_input = nchw_input;
    return s;
}

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct ConvPrimitives {
    dnnl::memory::desc src, weights, dst;
    // the weight layouts the three primitives chose, and a buffer for weights in those layouts
    dnnl::memory::desc forward_weights, backward_data_weights, backward_weights_diff;
    std::vector<float> weights_buffer;
    // the NHWC layout the primitives read (the stem's NCHW images are reordered into src_buffer)
    dnnl::memory::desc nhwc_src;
    std::vector<float> src_buffer;
    dnnl::convolution_forward forward;
    dnnl::convolution_backward_data backward_data;
    dnnl::convolution_backward_weights backward_weights;
};

dnnl::engine& engine() {
    static dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

ConvPrimitives& primitives(const ConvShape& s) {
    static std::mutex mutex;
    static std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>,
                    ConvPrimitives>
        cache;
    std::lock_guard<std::mutex> lock(mutex);
    auto key = std::make_tuple(s.B, s.C, s.H, s.W, s.O, s.kernel, s.stride, s.nchw_input);
    auto it = cache.find(key);
    if (it != cache.end()) {
        return it->second;
    }
    ConvPrimitives p;
    p.src = dnnl::memory::desc({s.B, s.C, s.H, s.W}, dt::f32, s.nchw_input ? tag::nchw : tag::nhwc);
    p.weights = dnnl::memory::desc({s.O, s.C, s.kernel, s.kernel}, dt::f32, tag::oihw);
    const dnnl::memory::desc any_weights({s.O, s.C, s.kernel, s.kernel}, dt::f32, tag::any);
    // With NCHW images oneDNN also falls back to its reference loops (and, left to choose, picks
    // a layout no fast kernel takes with NHWC outputs): they are reordered to NHWC first.
    const dnnl::memory::desc src({s.B, s.C, s.H, s.W}, dt::f32, tag::nhwc);
    p.dst = dnnl::memory::desc({s.B, s.O, s.OH, s.OW}, dt::f32, tag::nhwc);
    const dnnl::memory::dims strides = {s.stride, s.stride};
    const dnnl::memory::dims pad_l = {s.pad_top, s.pad_left};
    // oneDNN's output size is floor((H + pad_l + pad_r - k) / stride) + 1; the right padding that
    // gives ceil(H / stride) may be 0 where the window overhangs nothing.
    const dnnl::memory::dims pad_r = {std::max<int64_t>((s.OH - 1) * s.stride + s.kernel - s.H - s.pad_top, 0),
                                      std::max<int64_t>((s.OW - 1) * s.stride + s.kernel - s.W - s.pad_left, 0)};
    auto fwd_desc = dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                                    dnnl::algorithm::convolution_direct, src, any_weights,
                                                    p.dst, strides, pad_l, pad_r);
    auto fwd_pd = dnnl::convolution_forward::primitive_desc(fwd_desc, engine());
    p.forward = dnnl::convolution_forward(fwd_pd);
    auto bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, fwd_pd.src_desc(), any_weights, p.dst,
                                              strides, pad_l, pad_r),
        engine(), fwd_pd);
    p.backward_data = dnnl::convolution_backward_data(bwd_data_pd);
    auto bwd_weights_pd = dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, fwd_pd.src_desc(), any_weights,
                                                 p.dst, strides, pad_l, pad_r),
        engine(), fwd_pd);
    p.backward_weights = dnnl::convolution_backward_weights(bwd_weights_pd);
    p.forward_weights = fwd_pd.weights_desc();
    p.backward_data_weights = bwd_data_pd.weights_desc();
    p.backward_weights_diff = bwd_weights_pd.diff_weights_desc();
    const size_t largest = std::max({p.forward_weights.get_size(), p.backward_data_weights.get_size(),
                                     p.backward_weights_diff.get_size()});
    p.weights_buffer.resize((largest + sizeof(float) - 1) / sizeof(float));
    p.nhwc_src = fwd_pd.src_desc();
    if (p.nhwc_src != p.src) {
        p.src_buffer.resize((p.nhwc_src.get_size() + sizeof(float) - 1) / sizeof(float));
    }
    return cache.emplace(key, std::move(p)).first->second;
}

dnnl::memory wrap(const dnnl::memory::desc& desc, const float* data) {
    return dnnl::memory(desc, engine(), const_cast<float*>(data));
}

// The input in the layout the primitives read: itself, or reordered into p.src_buffer.
dnnl::memory src_in(ConvPrimitives& p, const float* inp, dnnl::stream& stream) {
    if (p.nhwc_src == p.src) {
        return wrap(p.src, inp);
    }
    dnnl::memory plain = wrap(p.src, inp), chosen = wrap(p.nhwc_src, p.src_buffer.data());
    dnnl::reorder(plain, chosen).execute(stream, plain, chosen);
    return chosen;
}

// The plain weights in `layout`: themselves, or reordered into p.weights_buffer.
dnnl::memory weights_in(ConvPrimitives& p, const dnnl::memory::desc& layout, const float* weight,
                        dnnl::stream& stream) {
    if (layout == p.weights) {
        return wrap(p.weights, weight);
    }
    dnnl::memory plain = wrap(p.weights, weight), blocked = wrap(layout, p.weights_buffer.data());
    dnnl::reorder(plain, blocked).execute(stream, plain, blocked);
    return blocked;
}

}  // namespace

void conv2d_forward(float* out, const float* inp, const float* weight, const ConvShape& s) {
    ConvPrimitives& p = primitives(s);
    dnnl::stream stream(engine());
    p.forward.execute(stream, {{DNNL_ARG_SRC, src_in(p, inp, stream)},
                               {DNNL_ARG_WEIGHTS, weights_in(p, p.forward_weights, weight, stream)},
                               {DNNL_ARG_DST, wrap(p.dst, out)}});
    stream.wait();
}

void conv2d_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                     const ConvShape& s) {
    ConvPrimitives& p = primitives(s);
    dnnl::stream stream(engine());
    if (dinp != nullptr) {
        const bool plain = p.nhwc_src == p.src;
        dnnl::memory diff = wrap(p.nhwc_src, plain ? dinp : p.src_buffer.data());
        p.backward_data.execute(stream, {{DNNL_ARG_DIFF_DST, wrap(p.dst, dout)},
                                         {DNNL_ARG_WEIGHTS, weights_in(p, p.backward_data_weights, weight, stream)},
                                         {DNNL_ARG_DIFF_SRC, diff}});
        if (!plain) {
            dnnl::memory out = wrap(p.src, dinp);
            dnnl::reorder(diff, out).execute(stream, diff, out);
        }
    }
    if (dweight != nullptr) {
        const bool plain = p.backward_weights_diff == p.weights;
        dnnl::memory diff = wrap(p.backward_weights_diff, plain ? dweight : p.weights_buffer.data());
        p.backward_weights.execute(stream, {{DNNL_ARG_DIFF_DST, wrap(p.dst, dout)},
                                            {DNNL_ARG_SRC, src_in(p, inp, stream)},
                                            {DNNL_ARG_DIFF_WEIGHTS, diff}});
        if (!plain) {
            dnnl::memory out = wrap(p.weights, dweight);
            dnnl::reorder(diff, out).execute(stream, diff, out);
        }
    }
    stream.wait();
}

void standardize_weight_forward(float* out, float* rstd, const float* weight, int64_t O, int64_t K, float eps) {
#pragma omp parallel for
    for (int64_t o = 0; o < O; o++) {
        const float* w = weight + o * K;
        double sum = 0.0;
        for (int64_t k = 0; k < K; k++) sum += w[k];
        const double mean = sum / static_cast<double>(K);
        double var = 0.0;
        for (int64_t k = 0; k < K; k++) var += (w[k] - mean) * (w[k] - mean);
        const float r = static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(K) + eps));
        for (int64_t k = 0; k < K; k++) out[o * K + k] = static_cast<float>(w[k] - mean) * r;
        rstd[o] = r;
    }
}

void standardize_weight_backward(float* dweight, const float* dout, const float* out, const float* rstd,
                                 int64_t O, int64_t K) {
#pragma omp parallel for
    for (int64_t o = 0; o < O; o++) {
        const float* dy = dout + o * K;
        const float* y = out + o * K;
        double sum_dy = 0.0, sum_dy_y = 0.0;
        for (int64_t k = 0; k < K; k++) {
            sum_dy += dy[k];
            sum_dy_y += static_cast<double>(dy[k]) * y[k];
        }
        const float mean_dy = static_cast<float>(sum_dy / static_cast<double>(K));
        const float mean_dy_y = static_cast<float>(sum_dy_y / static_cast<double>(K));
        for (int64_t k = 0; k < K; k++) {
            dweight[o * K + k] += rstd[o] * (dy[k] - mean_dy - y[k] * mean_dy_y);
        }
    }
}

}  // namespace vit::cpu
