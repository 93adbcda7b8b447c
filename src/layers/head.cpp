// The head: final LayerNorm, pooling (class token or mean of patch tokens), optional pre-logits
// (Linear + tanh) and the classifier, in fp32.
// ref: timm vision_transformer.py VisionTransformer.forward_head; with fc_norm the norm moves
// after the pooling, as timm does for global_pool='avg'.
#include <cstring>

#include "layers/layers.h"

namespace vit::layers {

void head_forward(Ops& ops, const HeadParams& p, const HeadActs& a, const float* x, int64_t B, int64_t N,
                  int64_t D) {
    const float* pooled = a.pooled;
    if (p.fc_norm) {
        cpu::pool_forward(a.pooled, x, B, N, D, p.mean_pool);
        ops.norm_f32(a.pooled_normed, a.pooled_stats, a.pooled, p.norm, B);
        pooled = a.pooled_normed;
    } else if (p.has_norm) {
        ops.norm_f32(a.tokens_normed, a.tokens_stats, x, p.norm, B * N);
        cpu::pool_forward(a.pooled, a.tokens_normed, B, N, D, p.mean_pool);
    } else {
        cpu::pool_forward(a.pooled, x, B, N, D, p.mean_pool);
    }
    const float* features = pooled;
    if (p.has_pre_logits) {
        ops.linear(a.pre_logits, {const_cast<float*>(pooled)}, p.pre_logits, B);
        cpu::tanh_forward(a.pre_logits, a.pre_logits, B * p.pre_logits.out);
        features = a.pre_logits;
    }
    if (a.features != features) {
        std::memcpy(a.features, features,
                    static_cast<size_t>(B * (p.has_pre_logits ? p.pre_logits.out : D)) * sizeof(float));
    }
    if (p.has_classifier) {
        ops.linear(a.logits, {a.features}, p.classifier, B);
    }
}

void head_backward(Ops& ops, const HeadParams& p, const HeadActs& a, const HeadGrads& g, float* dx,
                   const float* doutput, const float* x, int64_t B, int64_t N, int64_t D) {
    const int64_t F = p.has_pre_logits ? p.pre_logits.out : D;
    // d features: from the classifier, or given directly when the model returns features.
    if (p.has_classifier) {
        ops.linear_backward(g.dfeatures, doutput, {a.features}, p.classifier, B);
    } else {
        std::memcpy(g.dfeatures, doutput, static_cast<size_t>(B * F) * sizeof(float));
    }
    float* pooled = p.fc_norm ? a.pooled_normed : a.pooled;
    const float* dpooled_out = g.dfeatures;
    if (p.has_pre_logits) {
        // forward: pre = tanh(Linear(pooled)); tanh backward in place, then the linear.
        cpu::tanh_backward(g.dfeatures, a.pre_logits, g.dfeatures, B * F);
        ops.linear_backward(g.dpooled, g.dfeatures, {pooled}, p.pre_logits, B);
        dpooled_out = g.dpooled;
    }
    if (p.fc_norm) {
        // forward: pooled_normed = norm(pool(x))
        ops.zero(g.dtokens, B * D);
        ops.norm_backward(g.dtokens, dpooled_out, a.pooled_stats, a.pooled, p.norm, B);
        cpu::pool_backward(dx, g.dtokens, B, N, D, p.mean_pool);
    } else if (!p.has_norm) {
        cpu::pool_backward(dx, dpooled_out, B, N, D, p.mean_pool);  // forward: pooled = pool(x)
    } else {
        // forward: pooled = pool(norm(x))
        ops.zero(g.dtokens, B * N * D);
        cpu::pool_backward(g.dtokens, dpooled_out, B, N, D, p.mean_pool);
        ops.norm_backward(dx, g.dtokens, a.tokens_stats, x, p.norm, B * N);
    }
}

}  // namespace vit::layers
