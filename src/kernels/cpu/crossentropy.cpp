// Softmax cross-entropy with label smoothing, as torch.nn.functional.cross_entropy:
//   log p = logits - max - log(sum exp(logits - max))
//   loss  = -(1 - eps) log p[target] - (eps / K) sum_k log p[k]
// Backward: d loss / d logits = p - q with q = (1 - eps) onehot(target) + eps / K.
// With soft targets (Mixup, CutMix) q is given per sample and loss = -sum_k q_k log p_k; the
// gradient is again p - q because each row of q sums to 1.
#include <cmath>

#include "kernels/kernels.h"

namespace vit::cpu {

namespace {

// p = softmax(z) over one row of K logits; returns max(z) and log sum exp(z - max(z)).
struct LogSoftmax {
    float z_max;
    double log_sum;
    double logp(const float* z, int64_t k) const { return static_cast<double>(z[k] - z_max) - log_sum; }
};

LogSoftmax softmax_row(float* p, const float* z, int64_t K) {
    float z_max = z[0];
    for (int64_t k = 1; k < K; k++) {
        z_max = z[k] > z_max ? z[k] : z_max;
    }
    double sum = 0.0;
    for (int64_t k = 0; k < K; k++) {
        sum += std::exp(static_cast<double>(z[k] - z_max));
    }
    const LogSoftmax s{z_max, std::log(sum)};
    for (int64_t k = 0; k < K; k++) {
        p[k] = static_cast<float>(std::exp(s.logp(z, k)));
    }
    return s;
}

}  // namespace

void crossentropy_forward(float* losses, float* probs, const float* logits, const int32_t* targets,
                          int64_t B, int64_t K, float smoothing) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const float* z = logits + b * K;
        const LogSoftmax s = softmax_row(probs + b * K, z, K);
        double logp_sum = 0.0;
        for (int64_t k = 0; k < K; k++) {
            logp_sum += s.logp(z, k);
        }
        losses[b] = static_cast<float>(-(1.0 - smoothing) * s.logp(z, targets[b]) -
                                       smoothing / static_cast<double>(K) * logp_sum);
    }
}

void crossentropy_soft_forward(float* losses, float* probs, const float* logits, const float* targets, int64_t B,
                               int64_t K) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const float* z = logits + b * K;
        const LogSoftmax s = softmax_row(probs + b * K, z, K);
        double loss = 0.0;
        for (int64_t k = 0; k < K; k++) {
            loss -= static_cast<double>(targets[b * K + k]) * s.logp(z, k);
        }
        losses[b] = static_cast<float>(loss);
    }
}

void crossentropy_soft_backward(float* dlogits, const float* probs, const float* targets, int64_t B, int64_t K,
                                float dloss) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < B * K; i++) {
        dlogits[i] += dloss * (probs[i] - targets[i]);
    }
}

void crossentropy_backward(float* dlogits, const float* probs, const int32_t* targets, int64_t B,
                           int64_t K, float smoothing, float dloss) {
    const float uniform = smoothing / static_cast<float>(K);
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t k = 0; k < K; k++) {
            float q = uniform + (k == targets[b] ? 1.0f - smoothing : 0.0f);
            dlogits[b * K + k] += dloss * (probs[b * K + k] - q);
        }
    }
}

}  // namespace vit::cpu
