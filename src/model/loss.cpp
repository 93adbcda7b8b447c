// Mean softmax cross-entropy over a batch, with label smoothing or soft targets.
#include <cmath>
#include <vector>

#include "kernels/kernels.h"
#include "vit/error.h"
#include "vit/model.h"

namespace vit {

namespace {

void check_shape(int64_t B, int64_t K) {
    if (B < 1 || K < 1) {
        fail("cross_entropy: batch ({}) and class count ({}) must be positive", B, K);
    }
}

// The mean of the per-sample losses that `forward` writes (with the softmax probabilities), and
// d mean / d logits from `backward` given those probabilities and d mean / d loss_b = 1/B.
template <typename Forward, typename Backward>
Loss batch_loss(int64_t B, int64_t K, Forward forward, Backward backward) {
    std::vector<float> losses(static_cast<size_t>(B));
    std::vector<float> probs(static_cast<size_t>(B * K));
    forward(losses.data(), probs.data());
    double sum = 0.0;
    for (float l : losses) {
        sum += l;
    }
    Loss loss;
    loss.mean = static_cast<float>(sum / static_cast<double>(B));
    loss.dlogits.assign(static_cast<size_t>(B * K), 0.0f);
    backward(loss.dlogits.data(), probs.data(), 1.0f / static_cast<float>(B));
    return loss;
}

}  // namespace

Loss cross_entropy(const float* logits, const int32_t* targets, int64_t B, int64_t K,
                   float smoothing) {
    check_shape(B, K);
    if (!(smoothing >= 0.0f && smoothing < 1.0f)) {
        fail("label smoothing must be in [0, 1), got {}", smoothing);
    }
    for (int64_t b = 0; b < B; b++) {
        if (targets[b] < 0 || targets[b] >= K) {
            fail("target {} of sample {} is outside the {} classes [0, {})", targets[b], b, K, K);
        }
    }
    return batch_loss(B, K, [&](float* losses, float* probs) {
        cpu::crossentropy_forward(losses, probs, logits, targets, B, K, smoothing);
    }, [&](float* dlogits, const float* probs, float dloss) {
        cpu::crossentropy_backward(dlogits, probs, targets, B, K, smoothing, dloss);
    });
}

Loss soft_cross_entropy(const float* logits, const float* targets, int64_t B, int64_t K) {
    check_shape(B, K);
    for (int64_t b = 0; b < B; b++) {
        double sum = 0.0;
        for (int64_t k = 0; k < K; k++) {
            const float t = targets[b * K + k];
            if (!(t >= 0.0f && t <= 1.0f)) {
                fail("soft target {} of sample {} (class {}) is outside [0, 1]", t, b, k);
            }
            sum += t;
        }
        if (std::fabs(sum - 1.0) > 1e-4) {
            fail("the soft targets of sample {} sum to {}, not 1", b, sum);
        }
    }
    return batch_loss(B, K, [&](float* losses, float* probs) {
        cpu::crossentropy_soft_forward(losses, probs, logits, targets, B, K);
    }, [&](float* dlogits, const float* probs, float dloss) {
        cpu::crossentropy_soft_backward(dlogits, probs, targets, B, K, dloss);
    });
}

}  // namespace vit
