// Softmax cross-entropy with label smoothing, as torch.nn.functional.cross_entropy:
//   log p = logits - max - log(sum exp(logits - max))
//   loss  = -(1 - eps) log p[target] - (eps / K) sum_k log p[k]
// Backward: d loss / d logits = p - q with q = (1 - eps) onehot(target) + eps / K.
#include <cmath>

#include "kernels/kernels.h"

namespace vit::cpu {

void crossentropy_forward(float* losses, float* probs, const float* logits, const int32_t* targets,
                          int64_t B, int64_t K, float smoothing) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const float* z = logits + b * K;
        float z_max = z[0];
        for (int64_t k = 1; k < K; k++) {
            z_max = z[k] > z_max ? z[k] : z_max;
        }
        double sum = 0.0;
        for (int64_t k = 0; k < K; k++) {
            sum += std::exp(static_cast<double>(z[k] - z_max));
        }
        const double log_sum = std::log(sum);
        double logp_sum = 0.0;
        for (int64_t k = 0; k < K; k++) {
            double logp = static_cast<double>(z[k] - z_max) - log_sum;
            probs[b * K + k] = static_cast<float>(std::exp(logp));
            logp_sum += logp;
        }
        double logp_target = static_cast<double>(z[targets[b]] - z_max) - log_sum;
        losses[b] = static_cast<float>(-(1.0 - smoothing) * logp_target -
                                       smoothing / static_cast<double>(K) * logp_sum);
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
