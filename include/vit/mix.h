// Mixup and CutMix on a training batch, as timm's Mixup in its default "batch" mode: the batch is
// mixed with itself in reverse order (image b with image B-1-b) by one lambda drawn per batch.
//   Mixup:  x_b = lam x_b + (1 - lam) x_{B-1-b},                 lam ~ Beta(mixup_alpha, mixup_alpha)
//   CutMix: a box of x_b is replaced by the same box of x_{B-1-b}; lam ~ Beta(cutmix_alpha, ...)
//           sets the box's area fraction to about 1 - lam, and lam is then recomputed from the
//           box after clipping at the image border.
//   targets_b = lam smooth(onehot(y_b)) + (1 - lam) smooth(onehot(y_{B-1-b})), where smooth puts
//           1 - eps + eps/K on the class and eps/K elsewhere (label smoothing eps).
// With both alphas positive, each batch takes CutMix with probability switch_prob, else Mixup; a
// batch is mixed at all with probability `prob`. Every draw comes from one seed per batch, so a
// resumed run mixes its batches as the run that never stopped.
//
// Example:
//   MixOptions o{.mixup_alpha = 0.8f, .cutmix_alpha = 1.0f};
//   MixedTargets m = mix_batch(images, labels, B, C, H, W, K, 0.1f, o, seed);
//   Loss loss = soft_cross_entropy(logits, m.targets.data(), B, K);
#pragma once

#include <cstdint>
#include <vector>

namespace vit {

struct MixOptions {
    float mixup_alpha = 0.0f;   // 0: no Mixup
    float cutmix_alpha = 0.0f;  // 0: no CutMix
    float prob = 1.0f;          // probability that a batch is mixed
    float switch_prob = 0.5f;   // with both on: probability of CutMix for a mixed batch

    bool enabled() const { return mixup_alpha > 0.0f || cutmix_alpha > 0.0f; }
    // Throws vit::Error naming the first field out of range (by its recipe key).
    void validate() const;
};

// One batch's draw: lam = 1 leaves the batch as it is.
struct MixDraw {
    double lam = 1.0;               // the weight of each image's own label
    bool cutmix = false;
    int64_t box[4] = {0, 0, 0, 0};  // CutMix's box: rows [box[0], box[1]), columns [box[2], box[3])
};

// The draw for a batch of H x W images under `seed`; throws vit::Error for options out of range.
MixDraw draw_mix(const MixOptions& options, int64_t H, int64_t W, uint64_t seed);

// Mixes images [B, C, H, W] in place as `draw` says and returns the soft targets [B, K] (each row a
// distribution). Throws vit::Error for a label outside [0, K) or smoothing outside [0, 1).
std::vector<float> apply_mix(float* images, const int32_t* labels, int64_t B, int64_t C, int64_t H, int64_t W,
                             int64_t K, float smoothing, const MixDraw& draw);

// The same for part of a batch: image b is mixed with partners[b] (the unmixed image it is paired
// with, labelled partner_labels[b]). A process that holds samples [lo, hi) of a batch of B passes
// the images of samples B-1-lo down to B-hi, so that its part is mixed as in the whole batch.
std::vector<float> mix_with_partners(float* images, const float* partners, const int32_t* labels,
                                     const int32_t* partner_labels, int64_t B, int64_t C, int64_t H, int64_t W,
                                     int64_t K, float smoothing, const MixDraw& draw);

struct MixedTargets {
    std::vector<float> targets;  // [B, K]
    MixDraw draw;
};

// draw_mix, then apply_mix.
MixedTargets mix_batch(float* images, const int32_t* labels, int64_t B, int64_t C, int64_t H, int64_t W, int64_t K,
                       float smoothing, const MixOptions& options, uint64_t seed);

}  // namespace vit
