// Mean softmax cross-entropy over a batch, with label smoothing.
#include <vector>

#include "kernels/kernels.h"
#include "vit/error.h"
#include "vit/model.h"

namespace vit {

Loss cross_entropy(const float* logits, const int32_t* targets, int64_t B, int64_t K,
                   float smoothing) {
    if (B < 1 || K < 1) {
        fail("cross_entropy: batch ({}) and class count ({}) must be positive", B, K);
    }
    if (!(smoothing >= 0.0f && smoothing < 1.0f)) {
        fail("label smoothing must be in [0, 1), got {}", smoothing);
    }
    for (int64_t b = 0; b < B; b++) {
        if (targets[b] < 0 || targets[b] >= K) {
            fail("target {} of sample {} is outside the {} classes [0, {})", targets[b], b, K, K);
        }
    }
    std::vector<float> losses(static_cast<size_t>(B));
    std::vector<float> probs(static_cast<size_t>(B * K));
    cpu::crossentropy_forward(losses.data(), probs.data(), logits, targets, B, K, smoothing);
    Loss loss;
    double sum = 0.0;
    for (float l : losses) {
        sum += l;
    }
    loss.mean = static_cast<float>(sum / static_cast<double>(B));
    loss.dlogits.assign(static_cast<size_t>(B * K), 0.0f);
    cpu::crossentropy_backward(loss.dlogits.data(), probs.data(), targets, B, K, smoothing,
                               1.0f / static_cast<float>(B));
    return loss;
}

}  // namespace vit
