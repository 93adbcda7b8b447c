// The head: final LayerNorm, pooling (class token or mean of patch tokens), optional pre-logits
// (Linear + tanh) and the classifier.
// ref: timm vision_transformer.py VisionTransformer.forward_head; with fc_norm the norm moves
// after the pooling, as timm does for global_pool='avg'.
#include <cstring>

#include "kernels/kernels.h"
#include "layers/layers.h"

namespace vit::layers {

void head_forward(const HeadParams& p, const HeadActs& a, const float* x, int64_t B, int64_t N,
                  int64_t D) {
    const float* pooled = a.pooled;
    if (p.fc_norm) {
        cpu::pool_forward(a.pooled, x, B, N, D, p.mean_pool);
        norm_forward(p.norm, a.pooled_normed, a.pooled, B);
        pooled = a.pooled_normed.out;
    } else if (p.has_norm) {
        norm_forward(p.norm, a.tokens_normed, x, B * N);
        cpu::pool_forward(a.pooled, a.tokens_normed.out, B, N, D, p.mean_pool);
    } else {
        cpu::pool_forward(a.pooled, x, B, N, D, p.mean_pool);
    }
    const float* features = pooled;
    if (p.has_pre_logits) {
        linear_forward(p.pre_logits, a.pre_logits, pooled, nullptr, B);
        cpu::tanh_forward(a.pre_logits, a.pre_logits, B * p.pre_logits.out);
        features = a.pre_logits;
    }
    if (a.features != features) {
        std::memcpy(a.features, features,
                    static_cast<size_t>(B * (p.has_pre_logits ? p.pre_logits.out : D)) * sizeof(float));
    }
    if (p.has_classifier) {
        linear_forward(p.classifier, a.logits, a.features, nullptr, B);
    }
}

void head_backward(const HeadParams& p, const HeadActs& a, const HeadScratch& s, float* dx,
                   const float* doutput, const float* x, int64_t B, int64_t N, int64_t D) {
    const int64_t F = p.has_pre_logits ? p.pre_logits.out : D;
    // d features: from the classifier, or given directly when the model returns features.
    if (p.has_classifier) {
        linear_backward(p.classifier, s.dfeatures, doutput, a.features, nullptr, nullptr, B);
    } else {
        std::memcpy(s.dfeatures, doutput, static_cast<size_t>(B * F) * sizeof(float));
    }
    const float* pooled = p.fc_norm ? a.pooled_normed.out : a.pooled;
    const float* dpooled_out = s.dfeatures;
    if (p.has_pre_logits) {
        // forward: pre = tanh(Linear(pooled)); tanh backward in place, then the linear.
        float* dpre = s.dfeatures;
        for (int64_t i = 0; i < B * F; i++) {
            dpre[i] *= 1.0f - a.pre_logits[i] * a.pre_logits[i];
        }
        linear_backward(p.pre_logits, s.dpooled, dpre, pooled, nullptr, nullptr, B);
        dpooled_out = s.dpooled;
    }
    if (p.fc_norm) {
        // forward: pooled_normed = norm(pool(x))
        std::memset(s.dtokens, 0, static_cast<size_t>(B * D) * sizeof(float));
        norm_backward(p.norm, s.dtokens, dpooled_out, a.pooled_normed, a.pooled, B);
        cpu::pool_backward(dx, s.dtokens, B, N, D, p.mean_pool);
    } else if (!p.has_norm) {
        cpu::pool_backward(dx, dpooled_out, B, N, D, p.mean_pool);  // forward: pooled = pool(x)
    } else {
        // forward: pooled = pool(norm(x))
        std::memset(s.dtokens, 0, static_cast<size_t>(B * N * D) * sizeof(float));
        cpu::pool_backward(s.dtokens, dpooled_out, B, N, D, p.mean_pool);
        norm_backward(p.norm, dx, s.dtokens, a.tokens_normed, x, B * N);
    }
}

}  // namespace vit::layers
